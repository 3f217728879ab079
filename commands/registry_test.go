package commands

import (
	"regexp"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"

	"github.com/countersign/countersign/approvals"
)

func TestRegistryMatchesActions(t *testing.T) {
	var actions []approvals.Action
	for _, d := range Registry() {
		if d.IsAction() {
			actions = append(actions, d.Action)
			if string(d.Name) != string(d.Action) {
				t.Errorf("command %s files action %s", d.Name, d.Action)
			}
		}
	}
	if diff := cmp.Diff(approvals.Actions(), actions); diff != "" {
		t.Errorf("action commands differ from approvals.Actions (-want +got):\n%s", diff)
	}
}

// Adapters register the registry with Discord and Slack as it is, so it must
// satisfy their rules: lower-case names of at most 32 characters and
// descriptions of at most 100.
func TestRegistryShape(t *testing.T) {
	name := regexp.MustCompile(`^[a-z0-9][-a-z0-9]{0,31}$`)
	seen := map[Name]bool{}
	for _, d := range Registry() {
		if seen[d.Name] {
			t.Errorf("command %s is registered twice", d.Name)
		}
		seen[d.Name] = true
		if !name.MatchString(string(d.Name)) {
			t.Errorf("command name %q is not a valid slash command name", d.Name)
		}
		if d.Summary == "" || utf8.RuneCountInString(d.Summary) > 100 || strings.HasSuffix(d.Summary, ".") {
			t.Errorf("%s: summary %q is empty, longer than 100 characters or ends with a full stop", d.Name, d.Summary)
		}
		if (d.Arg.Kind == ArgNone) != (d.Arg.Name == "") || (d.Arg.Kind == ArgNone && d.Arg.Required) {
			t.Errorf("%s: argument %+v", d.Name, d.Arg)
		}
		if d.Arg.Help == "" && d.Arg.Kind != ArgNone {
			t.Errorf("%s: argument %s has no help", d.Name, d.Arg.Name)
		}
		if d.IsAction() != (len(d.Providers) > 0) {
			t.Errorf("%s: providers %v", d.Name, d.Providers)
		}
		if d.IsAction() {
			p, ok := d.Flag("provider")
			if !ok || !slices.Equal(p.Choices, d.Providers) {
				t.Errorf("%s: --provider choices %v, want %v", d.Name, p.Choices, d.Providers)
			}
			for _, f := range []string{"reason", "dry-run"} {
				if _, ok := d.Flag(f); !ok {
					t.Errorf("%s lacks --%s", d.Name, f)
				}
			}
		} else if len(d.Flags) > 0 {
			t.Errorf("meta command %s has flags", d.Name)
		}
		if !strings.HasPrefix(Usage(d), display(d)) {
			t.Errorf("%s: usage %q", d.Name, Usage(d))
		}
		flags := map[string]bool{}
		for _, f := range d.Flags {
			checkFlag(t, d, f, name)
			if flags[f.Name] {
				t.Errorf("%s: --%s is defined twice", d.Name, f.Name)
			}
			flags[f.Name] = true
		}
		// Every example must parse, as the command it illustrates.
		c, err := ParseLine(d.Example)
		if err != nil {
			t.Errorf("%s: example %q does not parse: %v", d.Name, d.Example, err)
		} else if c.Name != d.Name {
			t.Errorf("%s: example %q parses as %s", d.Name, d.Example, c.Name)
		}
	}
}

func checkFlag(t *testing.T, d Def, f Flag, name *regexp.Regexp) {
	t.Helper()
	if !name.MatchString(f.Name) || f.Help == "" {
		t.Errorf("%s: flag %q has a bad name or no help", d.Name, f.Name)
	}
	if (f.Kind == FlagBool) != (f.Value == "") {
		t.Errorf("%s: --%s of kind %s has value placeholder %q", d.Name, f.Name, f.Kind, f.Value)
	}
	if (f.Kind == FlagEnum) != (len(f.Choices) > 0) {
		t.Errorf("%s: --%s of kind %s has choices %v", d.Name, f.Name, f.Kind, f.Choices)
	}
	if f.Default != "" && !slices.Contains(f.Choices, f.Default) {
		t.Errorf("%s: --%s default %q is not a choice", d.Name, f.Name, f.Default)
	}
	for _, p := range f.Providers {
		if !slices.Contains(d.Providers, p) {
			t.Errorf("%s: --%s works with %s, which cannot %s", d.Name, f.Name, p, d.Name)
		}
	}
	var all []string
	for _, v := range f.ByProvider {
		all = append(all, v.Choices...)
		if len(v.Choices) == 0 || v.Default != v.Choices[0] || !slices.Contains(d.Providers, v.Provider) {
			t.Errorf("%s: --%s variant %+v", d.Name, f.Name, v)
		}
		if got, ok := f.Variant(v.Provider); !ok || !cmp.Equal(got, v) {
			t.Errorf("%s: --%s Variant(%s) = %+v, %v", d.Name, f.Name, v.Provider, got, ok)
		}
	}
	if len(f.ByProvider) > 0 && !slices.Equal(all, f.Choices) {
		t.Errorf("%s: --%s choices %v are not those of its variants %v", d.Name, f.Name, f.Choices, all)
	}
	if _, ok := f.Variant("okta"); ok {
		t.Errorf("%s: --%s has a variant for an unknown provider", d.Name, f.Name)
	}
}

func TestLookup(t *testing.T) {
	for _, in := range []string{"disable", "/disable", "/Disable", " DISABLE "} {
		if d, ok := Lookup(in); !ok || d.Name != Disable {
			t.Errorf("Lookup(%q) = %s, %v; want disable", in, d.Name, ok)
		}
	}
	for _, in := range []string{"", "/", "countersign", "disabl", "--disable"} {
		if d, ok := Lookup(in); ok {
			t.Errorf("Lookup(%q) = %s, want nothing", in, d.Name)
		}
	}
}

func TestRegistryIsACopy(t *testing.T) {
	r := Registry()
	r[0].Name = "changed"
	r[7].Flags[0].Choices[0] = "changed"
	r[7].Providers[0] = "changed"
	if diff := cmp.Diff(Registry()[7], purgeMailDef()); diff != "" || Registry()[0].Name != Disable {
		t.Errorf("changing what Registry returned changed the registry (-want +got):\n%s", diff)
	}
}
