package config

import (
	"flag"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite reference.md from the Config struct")

// TestReferenceUpToDate regenerates reference.md from the struct (keys,
// types, defaults, environment variables) and the field doc comments
// (meanings), and fails when the committed file differs.
func TestReferenceUpToDate(t *testing.T) {
	got := reference(t)
	if *update {
		if err := os.WriteFile("reference.md", []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile("reference.md")
	if err != nil {
		t.Fatalf("reading reference.md: %v (run go test ./internal/config -run TestReferenceUpToDate -update)", err)
	}
	if diff := cmp.Diff(string(want), got); diff != "" {
		t.Errorf("reference.md is stale; run go test ./internal/config -run TestReferenceUpToDate -update (-file +generated):\n%s", diff)
	}
}

func reference(t *testing.T) string {
	docs := fieldDocs(t)
	var b strings.Builder
	b.WriteString(`# Configuration reference

<!-- Generated from internal/config/config.go by TestReferenceUpToDate; edit the
doc comments there and run: go test ./internal/config -run TestReferenceUpToDate -update -->

Countersign reads one YAML file (` + "`--config`" + `) and then the environment. Every key
below can be set in the file; the environment overrides it.

- **Environment.** A key's variable is ` + "`COUNTERSIGN_`" + ` followed by the key in upper
  case, with dots, and the hyphens and colons of action names, written as ` + "`_`" + `:
  ` + "`slack.bot_token`" + ` is ` + "`COUNTERSIGN_SLACK_BOT_TOKEN`" + `, ` + "`routes.reset-password`" + ` is
  ` + "`COUNTERSIGN_ROUTES_RESET_PASSWORD`" + `. Names are looked up in the table of keys, never guessed;
  an unknown ` + "`COUNTERSIGN_`" + ` variable is an error. Lists are comma-separated
  (` + "`COUNTERSIGN_SLACK_APPROVERS=S0LEADS,U02BOB`" + `). A variable set to the empty string
  is ignored. ` + "`people`" + ` can only be set in the file.
- **Secrets** (marked *secret*) may instead be read from a file: ` + "`<key>_file`" + ` in
  YAML or ` + "`COUNTERSIGN_<KEY>_FILE`" + ` in the environment; one trailing newline is
  removed. Setting a secret and its file in the same place is an error; the
  environment replaces what the file set, in either form. Secrets never appear in
  errors or in ` + "`countersign config check`" + `, which prints them as ` + "`REDACTED`" + `.
  A secret (for ` + "`store.url`" + `, its password) that contains ` + "`change-me`" + `, ` + "`replace-me`" + `,
  ` + "`placeholder`" + ` or ` + "`example`" + ` (any case, with or without ` + "`-`" + `, ` + "`_`" + ` or spaces) is
  refused as a placeholder left in. ` + "`audit.key`" + ` and ` + "`slack.signing_secret`" + ` must
  carry at least 128 bits, counted from their decoded length: a hex digit is 4 bits, a base64
  character 6, any other byte 8; and use at least 8 different characters.
- **Unknown keys** in the file are errors, and every problem is reported at once, one a line.
- **Durations** are Go durations: ` + "`90s`, `15m`, `1h30m`, `720h`" + `.
`)
	section := ""
	leaves(false, func(l leaf) {
		sec := sectionOf(l.Key)
		if sec != section {
			section = sec
			fmt.Fprintf(&b, "\n## `%s`\n\n", sec)
			if intro := sectionDoc(docs, sec); intro != "" {
				b.WriteString(intro + "\n\n")
			}
			b.WriteString("| key | type | default | environment | meaning |\n|---|---|---|---|---|\n")
		}
		key := "`" + l.Key + "`"
		env := "—"
		if l.EnvOK {
			env = "`" + EnvName(l.Key) + "`"
		}
		if l.Secret != notSecret {
			key += "<br>`" + l.Key + fileSuffix + "`"
			env += "<br>`" + EnvName(l.Key+fileSuffix) + "`"
		}
		meaning := docs[l.Owner.Name()+"."+l.Field.Name]
		if meaning == "" {
			t.Errorf("%s.%s (%s) has no doc comment", l.Owner.Name(), l.Field.Name, l.Key)
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s |\n", key, typeName(l), defaultOf(t, l), env, cell(meaning))
	})
	return b.String()
}

// sectionOf names the table a key belongs in.
func sectionOf(key string) string {
	parts := strings.SplitN(key, ".", 3)
	if parts[0] == "providers" && len(parts) > 1 {
		return parts[0] + "." + parts[1]
	}
	return strings.TrimSuffix(parts[0], "[]")
}

// sectionDoc is the doc comment of the type of a section, or of the field
// for sections that are not structs.
func sectionDoc(docs map[string]string, sec string) string {
	t := reflect.TypeFor[Config]()
	owner := "Config"
	var f reflect.StructField
	for name := range strings.SplitSeq(sec, ".") {
		for i := range t.NumField() {
			if t.Field(i).Tag.Get("koanf") == name {
				f = t.Field(i)
			}
		}
		owner = t.Name()
		t = f.Type
	}
	switch t.Kind() {
	case reflect.Struct:
		return strip(t.Name(), docs[t.Name()])
	case reflect.Slice:
		return docs[owner+"."+f.Name]
	}
	// A map is one row whose meaning says it all.
	return ""
}

func typeName(l leaf) string {
	var s string
	switch {
	case isDuration(l.Type):
		s = "duration"
	case l.Type.Kind() == reflect.String:
		s = "string"
	case l.Type.Kind() == reflect.Int:
		s = "integer"
	case l.Type.Kind() == reflect.Bool:
		s = "boolean"
	case l.Type.Kind() == reflect.Slice:
		s = "list of strings"
	default:
		s = l.Type.String()
	}
	switch l.Secret {
	case secretValue:
		s += ", *secret*"
	case secretURL:
		s += ", password *secret*"
	}
	return s
}

func defaultOf(t *testing.T, l leaf) string {
	if strings.ContainsAny(l.Key, "<[") {
		return "—"
	}
	v := valueAt(t, Default(), l.Key)
	var s string
	switch x := v.(type) {
	case time.Duration:
		s = formatDuration(x)
	case []string:
		if len(x) == 0 {
			return "—"
		}
		s = strings.Join(x, ",")
	case string:
		if x == "" {
			return "—"
		}
		s = x
	default:
		s = fmt.Sprint(x)
	}
	return "`" + s + "`"
}

// cell escapes text for a Markdown table cell.
func cell(s string) string {
	return strings.ReplaceAll(s, "|", `\|`)
}

// fieldDocs reads the doc comments of config.go: "Type" for types,
// "Type.Field" for fields, as table-ready text: one line, without the
// leading "Field is".
func fieldDocs(t *testing.T) map[string]string {
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, "config.go", nil, parser.ParseComments)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, decl := range f.Decls {
		gd, ok := decl.(*ast.GenDecl)
		if !ok || gd.Tok != token.TYPE {
			continue
		}
		for _, spec := range gd.Specs {
			ts := spec.(*ast.TypeSpec)
			st, ok := ts.Type.(*ast.StructType)
			if !ok {
				continue
			}
			out[ts.Name.Name] = oneLine(gd.Doc.Text())
			for _, field := range st.Fields.List {
				for _, name := range field.Names {
					out[ts.Name.Name+"."+name.Name] = strip(name.Name, oneLine(field.Doc.Text()))
				}
			}
		}
	}
	return out
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// strip turns "Listen is the address …" into "The address …", and "HTTP
// configures …" into "Configures …".
func strip(name, doc string) string {
	rest, ok := strings.CutPrefix(doc, name+" ")
	if !ok {
		return doc
	}
	for _, verb := range []string{"is ", "are "} {
		if r, ok := strings.CutPrefix(rest, verb); ok {
			rest = r
			break
		}
	}
	r, size := utf8.DecodeRuneInString(rest)
	return string(unicode.ToUpper(r)) + rest[size:]
}
