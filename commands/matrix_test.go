package commands_test

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/countersign/countersign/approvals"
	"github.com/countersign/countersign/commands"
	"github.com/countersign/countersign/providers"
)

// commands repeats what the providers package knows, since it may not
// import it (the test may); these tests keep the two in step.
func TestProvidersMatchCapabilityMatrix(t *testing.T) {
	want := map[approvals.Action][]string{}
	for _, c := range providers.Matrix() {
		want[c.Action] = append(want[c.Action], c.Provider)
	}
	for _, d := range commands.Registry() {
		if !d.IsAction() {
			continue
		}
		if diff := cmp.Diff(want[d.Action], d.Providers); diff != "" {
			t.Errorf("%s: providers differ from providers.Matrix (-matrix +registry):\n%s", d.Name, diff)
		}
	}
	if providers.TMCAS != commands.ProviderTMCAS || providers.Graph != commands.ProviderGraph {
		t.Errorf("provider names differ: %s/%s, %s/%s", providers.TMCAS, commands.ProviderTMCAS, providers.Graph, commands.ProviderGraph)
	}
}

func TestMailActionsMatchProviders(t *testing.T) {
	d, _ := commands.Lookup(string(commands.PurgeMail))
	f, _ := d.Flag("action")
	for _, p := range []string{providers.Graph, providers.TMCAS, "okta"} {
		v, ok := f.Variant(p)
		if ok != (approvals.MailActions(p) != nil) || (ok && !cmp.Equal(v.Choices, approvals.MailActions(p))) {
			t.Errorf("--action variant for %s = %+v, %v; want %v", p, v, ok, approvals.MailActions(p))
		}
	}
}
