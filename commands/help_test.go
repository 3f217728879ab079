package commands

import (
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// golden compares got with testdata/name, or writes it there with -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("reading golden file (run go test -update to create it): %v", err)
	}
	if diff := cmp.Diff(string(want), got); diff != "" {
		t.Errorf("%s differs (-golden +got); run go test -update if the change is right:\n%s", path, diff)
	}
}

func TestHelpGolden(t *testing.T) {
	overview, err := HelpText("")
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "help/overview.txt", overview)
	for _, d := range Registry() {
		got, err := HelpText(d.Name)
		if err != nil {
			t.Fatalf("HelpText(%s): %v", d.Name, err)
		}
		golden(t, "help/"+string(d.Name)+".txt", got)
	}
}

// Beyond the golden files: help must name everything the registry has, so
// a new flag or choice cannot be left out of it.
func TestHelpCoversRegistry(t *testing.T) {
	overview, _ := HelpText("")
	for _, want := range []string{"/countersign <command>", "--reason", "--provider", "--dry-run"} {
		if !strings.Contains(overview, want) {
			t.Errorf("overview lacks %q", want)
		}
	}
	for _, d := range Registry() {
		if !strings.Contains(overview, synopsis(d)+" ") || !strings.Contains(overview, d.Summary) {
			t.Errorf("overview lacks %s or its summary", synopsis(d))
		}
		one, _ := HelpText(d.Name)
		for _, want := range []string{Usage(d), d.Example, d.Summary, d.Arg.Help} {
			if !strings.Contains(one, want) {
				t.Errorf("help for %s lacks %q", d.Name, want)
			}
		}
		if d.IsAction() && !strings.Contains(one, "/countersign "+string(d.Name)) {
			t.Errorf("help for %s does not mention the /countersign form", d.Name)
		}
		for _, f := range d.Flags {
			for _, want := range append([]string{"--" + f.Name, f.Help}, f.Choices...) {
				if !strings.Contains(one, want) {
					t.Errorf("help for %s lacks %q", d.Name, want)
				}
			}
			for _, v := range f.ByProvider {
				if !strings.Contains(one, "default "+v.Default) {
					t.Errorf("help for %s lacks the default of --%s with %s", d.Name, f.Name, v.Provider)
				}
			}
		}
	}
}

func TestHelpTopics(t *testing.T) {
	overview, _ := HelpText("")
	for _, topic := range []Name{Root, "/countersign", " "} {
		if got, err := HelpText(topic); err != nil || got != overview {
			t.Errorf("HelpText(%q) is not the overview: %v", topic, err)
		}
	}
	disable, _ := HelpText(Disable)
	if got, err := HelpText("/Disable"); err != nil || got != disable {
		t.Errorf("HelpText(/Disable) is not the help for disable: %v", err)
	}
	for _, tt := range []struct {
		topic Name
		want  Error
	}{
		{"purg-mail", Error{Msg: `there is no command "purg-mail"`, Hint: "did you mean purge-mail?"}},
		{"frobnicate", Error{Msg: `there is no command "frobnicate"`, Hint: "type /countersign help for the list of commands"}},
	} {
		_, err := HelpText(tt.topic)
		var e *Error
		if !errors.As(err, &e) || *e != tt.want {
			t.Errorf("HelpText(%q) error = %#v, want %#v", tt.topic, err, tt.want)
		}
	}
}
