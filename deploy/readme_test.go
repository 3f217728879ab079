package deploy

import (
	"go/ast"
	"go/parser"
	"go/token"
	"maps"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/countersign/countersign/providers"
	"github.com/countersign/countersign/providers/tmcas"
)

// readmeSection returns the README's section under heading, up to the
// next "## ".
func readmeSection(t *testing.T, heading string) string {
	t.Helper()
	data, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, after, ok := strings.Cut(string(data), "\n"+heading+"\n")
	if !ok {
		t.Fatalf("README has no section %q", heading)
	}
	body, _, _ := strings.Cut(after, "\n## ")
	return body
}

// tableRows returns the cells of the Markdown table whose header row
// starts with first, header and separator left out.
func tableRows(t *testing.T, section, first string) [][]string {
	t.Helper()
	var rows [][]string
	in := false
	for line := range strings.Lines(section) {
		line = strings.TrimSpace(line)
		if !strings.HasPrefix(line, "|") {
			if in {
				break
			}
			continue
		}
		cells := strings.Split(strings.Trim(line, "|"), "|")
		for i := range cells {
			cells[i] = strings.TrimSpace(cells[i])
		}
		switch {
		case !in && cells[0] == first:
			in = true
		case in && !strings.HasPrefix(cells[0], "---"):
			rows = append(rows, cells)
		}
	}
	if len(rows) == 0 {
		t.Fatalf("README: no table headed %q", first)
	}
	return rows
}

var backticked = regexp.MustCompile("`([^`]+)`")

// graphPermissions returns the values of the perm… constants of the Graph
// client: the permissions its requests need.
func graphPermissions(t *testing.T) []string {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), "../providers/msgraph/http.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	var perms []string
	ast.Inspect(f, func(n ast.Node) bool {
		vs, ok := n.(*ast.ValueSpec)
		if !ok {
			return true
		}
		for i, name := range vs.Names {
			if strings.HasPrefix(name.Name, "perm") && i < len(vs.Values) {
				if lit, ok := vs.Values[i].(*ast.BasicLit); ok {
					v, _ := strconv.Unquote(lit.Value)
					perms = append(perms, v)
				}
			}
		}
		return false
	})
	if len(perms) == 0 {
		t.Fatal("no perm… constants in providers/msgraph/http.go")
	}
	return perms
}

// TestReadmeGraphPermissions checks the README's table of Graph
// application permissions against the code: every permission the client
// names is in it, it names no other, and every command Graph performs has
// a row.
func TestReadmeGraphPermissions(t *testing.T) {
	rows := tableRows(t, readmeSection(t, "## Provider permissions and tokens"), "command (Graph)")
	perms := map[string]bool{}
	commands := map[string]bool{}
	for _, r := range rows {
		if len(r) < 2 {
			t.Fatalf("row %q: want command and permissions", r)
		}
		for _, m := range backticked.FindAllStringSubmatch(r[0], -1) {
			commands[strings.TrimPrefix(m[1], "/")] = true
		}
		for _, m := range backticked.FindAllStringSubmatch(r[1], -1) {
			perms[m[1]] = true
		}
	}
	want := slices.Sorted(slices.Values(graphPermissions(t)))
	want = slices.Compact(want)
	if diff := cmp.Diff(want, slices.Sorted(maps.Keys(perms))); diff != "" {
		t.Errorf("README Graph permissions vs providers/msgraph constants (-code +README):\n%s", diff)
	}
	for _, c := range providers.Matrix() {
		if c.Provider == providers.Graph && !commands[string(c.Action)] {
			t.Errorf("README permission table has no row for /%s, which Graph performs", c.Action)
		}
	}
}

// TestReadmePurgeMailNeedsAccountRead pins the permission that is easy to
// miss: purge-mail looks up the recipients' accounts for their aliases.
func TestReadmePurgeMailNeedsAccountRead(t *testing.T) {
	for _, r := range tableRows(t, readmeSection(t, "## Provider permissions and tokens"), "command (Graph)") {
		if strings.Contains(r[0], "`/purge-mail`") {
			if !strings.Contains(r[1], "`SecurityIdentitiesAccount.Read.All`") {
				t.Errorf("purge-mail row %q lacks SecurityIdentitiesAccount.Read.All", r[1])
			}
			return
		}
	}
	t.Error("README permission table has no /purge-mail row")
}

// TestReadmeTMCASRegions checks the README's region table against the
// TMCAS client's.
func TestReadmeTMCASRegions(t *testing.T) {
	got := map[string]string{}
	for _, r := range tableRows(t, readmeSection(t, "## Provider permissions and tokens"), "`region`") {
		if len(r) < 3 {
			t.Fatalf("row %q: want region, site and service URL", r)
		}
		got[strings.Trim(r[0], "`")] = strings.Trim(r[2], "`")
	}
	want := map[string]string{}
	for _, r := range tmcas.Regions() {
		want[r], _ = tmcas.RegionHost(r)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("README TMCAS regions vs providers/tmcas (-code +README):\n%s", diff)
	}
}
