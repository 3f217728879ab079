package countersign_test

import (
	"encoding/json"
	"io"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// The module's path, and the prefixes of its packages.
const (
	module    = "github.com/countersign/countersign"
	internal  = module + "/internal"
	storePkg  = module + "/internal/store"
	safetext  = module + "/internal/safetext"
	changes   = module + "/internal/changes"
	bot       = module + "/bot"
	chat      = module + "/bot/chat"
	workflow  = module + "/workflow"
	providers = module + "/providers"
)

// Third-party and standard packages that mean I/O a layer must not do.
var (
	sqlDrivers = []string{"database/sql", "modernc.org/sqlite", "github.com/jackc/pgx", "github.com/mattn/go-sqlite3",
		"github.com/lib/pq", "github.com/riverqueue"}
	platforms = []string{"github.com/slack-go/slack", "github.com/bwmarrin/discordgo"}
)

// pkg is one package of the module as go list sees it, without its tests:
// test files may import more (a scenario test opens a real store).
type pkg struct {
	ImportPath string
	Imports    []string // direct
	Deps       []string // transitive
}

// listModule lists every package of the module.
func listModule(t *testing.T) map[string]pkg {
	t.Helper()
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the go command is needed to list imports: %v", err)
	}
	cmd := exec.Command(goTool, "list", "-json=ImportPath,Imports,Deps", module+"/...")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list %s/...: %v\n%s", module, err, stderr.String())
	}
	pkgs := map[string]pkg{}
	dec := json.NewDecoder(strings.NewReader(string(out)))
	for {
		var p pkg
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatalf("decoding go list: %v", err)
		}
		pkgs[p.ImportPath] = p
	}
	// The listing must be real: the packages the rules name, with the
	// standard library they certainly use.
	for _, want := range []string{module + "/commands", module + "/approvals", workflow, bot, chat, storePkg} {
		if !slices.Contains(pkgs[want].Deps, "strings") {
			t.Fatalf("go list does not show %s with its dependencies: %+v", want, pkgs[want])
		}
	}
	return pkgs
}

// under reports whether path is prefix or a package below it.
func under(path, prefix string) bool {
	return path == prefix || strings.HasPrefix(path, prefix+"/")
}

// TestLayering keeps each layer to what DESIGN §2 and §11 allow, so the
// walk of one request goes one way: adapter → commands → workflow → store
// and engine → providers, and back only through interfaces (the engine's
// Notifier and Expirer).
func TestLayering(t *testing.T) {
	pkgs := listModule(t)
	rules := []struct {
		name      string
		applies   func(path string) bool
		forbidden []string
		allowed   []string // exceptions to forbidden
	}{
		{
			name:      "the core (commands, approvals) does no I/O and knows no chat, provider or workflow",
			applies:   func(p string) bool { return p == module+"/commands" || p == module+"/approvals" },
			forbidden: append(append([]string{"net/http", internal, providers, bot, workflow}, sqlDrivers...), platforms...),
		},
		{
			name:      "the workflow sees no chat platform, no SQL, no provider client and no infrastructure",
			applies:   func(p string) bool { return under(p, workflow) },
			forbidden: append(append([]string{"net/http", internal, bot, providers + "/tmcas", providers + "/msgraph"}, sqlDrivers...), platforms...),
		},
		{
			name:      "the chat front and the adapters reach requests only through the workflow",
			applies:   func(p string) bool { return under(p, bot) },
			forbidden: append([]string{internal, providers + "/tmcas", providers + "/msgraph"}, sqlDrivers...),
			allowed:   []string{safetext, changes}, // the fakes signal their changes to waiting tests
		},
		{
			name:      "the chat front itself knows no platform and no HTTP",
			applies:   func(p string) bool { return p == bot || p == chat },
			forbidden: append([]string{"net/http"}, platforms...),
		},
		{
			name:      "the message model depends on nothing of ours",
			applies:   func(p string) bool { return p == chat },
			forbidden: []string{module},
		},
		{
			name:      "providers never call back into the layers above them",
			applies:   func(p string) bool { return under(p, providers) },
			forbidden: []string{bot, workflow, module + "/commands", storePkg, module + "/internal/engine"},
		},
		{
			name:      "the engine tells the chat front and the workflow through interfaces",
			applies:   func(p string) bool { return under(p, module+"/internal/engine") },
			forbidden: []string{bot, workflow},
			allowed:   []string{chat}, // the store keeps chat.Location
		},
	}
	for _, r := range rules {
		matched := 0
		for path, p := range pkgs {
			if !r.applies(path) {
				continue
			}
			matched++
			for _, f := range r.forbidden {
				var bad []string
				for _, d := range p.Deps {
					if under(d, f) && !slices.ContainsFunc(r.allowed, func(a string) bool { return under(d, a) }) {
						bad = append(bad, d)
					}
				}
				if len(bad) > 0 {
					t.Errorf("%s: %s depends on %s (%s)", r.name, path, f, strings.Join(bad, ", "))
				}
			}
		}
		if matched == 0 {
			t.Errorf("%s: no package to check", r.name)
		}
	}
}

// TestStoreImporters: the store is built into the system only by the
// assembly (the binaries, the scenario rig and the one that builds the
// system for them) and by the test helper that opens one, and used directly only by the infrastructure that
// works in its database: the engine runs River on it, the metrics count
// its rows. Everything else reads and changes requests through the small
// interfaces it declares, which *store.Store satisfies.
func TestStoreImporters(t *testing.T) {
	allowed := []string{
		module + "/cmd", module + "/internal/app", module + "/internal/bottest",
		module + "/internal/engine", module + "/internal/metrics", module + "/internal/testdb", storePkg,
	}
	for path, p := range listModule(t) {
		if slices.Contains(p.Imports, storePkg) && !slices.ContainsFunc(allowed, func(a string) bool { return under(path, a) }) {
			t.Errorf("%s imports %s; declare the few methods it needs as an interface instead", path, storePkg)
		}
	}
}
