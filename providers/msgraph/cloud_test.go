package msgraph

import (
	"errors"
	"strings"
	"testing"

	"github.com/countersign/countersign/approvals"
	"github.com/countersign/countersign/providers"
	"github.com/countersign/countersign/providers/internal/providertest"
	"github.com/countersign/countersign/providers/msgraph/graphtest"
)

// TestCloudRules: in a national cloud the client supports none of the
// operations documented for the global service only, refuses them at
// Resolve, Submit and Cancel naming the operation and the cloud, and sends
// nothing.
func TestCloudRules(t *testing.T) {
	specs := []struct {
		spec approvals.Spec
		op   string
	}{
		{accountSpec(approvals.ActionDisable, "mallory@contoso.com"), "identityAccounts invokeAction (v1.0)"},
		{accountSpec(approvals.ActionResetPassword, "mallory@contoso.com"), "identityAccounts invokeAction (v1.0)"},
		{mailSpec("softDelete", "x@contoso.com"), "analyzedEmails remediate"},
		{approvals.Spec{Action: approvals.ActionBlockIP, Targets: []string{"192.0.2.1"}}, "securityActions (beta, deprecated)"},
	}
	for _, cloud := range []string{"", "global", "usgov", "usgovdod", "china"} {
		for _, s := range specs {
			t.Run(cloud+"/"+string(s.spec.Action), func(t *testing.T) {
				f := newFixture(t, graphtest.Options{}, func(c *Config) {
					c.Cloud = cloud
					c.EnableLegacySecurityActions = true
				})
				national := cloud != "" && cloud != "global"
				if got := f.c.Supports(s.spec.Action); got != !national {
					t.Errorf("Supports: got %v, want %v", got, !national)
				}
				err := CloudOffers(cloud, s.spec.Action)
				if !national {
					if err != nil {
						t.Errorf("CloudOffers: got %v, want nil", err)
					}
					return
				}
				want := "graph cannot " + string(s.spec.Action) + " in cloud " + cloud + ": " + s.op + " is not offered there"
				if err == nil || !strings.HasPrefix(err.Error(), want) {
					t.Errorf("CloudOffers: got %v, want %q…", err, want)
				}
				ctx := providertest.Context(t)
				_, rerr := f.c.Resolve(ctx, s.spec)
				_, serr := f.c.Submit(ctx, providers.Batch{RequestID: 1, Spec: s.spec,
					Items: []providers.Resolved{{Key: "k"}}, Label: "Countersign request 1"})
				for name, got := range map[string]error{"Resolve": rerr, "Submit": serr} {
					if !errors.Is(got, providers.ErrUnsupported) || !strings.Contains(got.Error(), want) {
						t.Errorf("%s: got %v, want ErrUnsupported with %q", name, got, want)
					}
				}
				if n := len(f.srv.Calls()); n != 0 {
					t.Errorf("got %d calls to Graph, want none", n)
				}
			})
		}
	}
	f := newFixture(t, graphtest.Options{}, func(c *Config) { c.Cloud = "china"; c.EnableLegacySecurityActions = true })
	if err := f.c.Cancel(providertest.Context(t), "1234"); !errors.Is(err, providers.ErrUnsupported) || !strings.Contains(err.Error(), "in cloud china") {
		t.Errorf("Cancel in china: got %v, want ErrUnsupported naming the cloud", err)
	}
	// An action Graph has no operation for is no business of the cloud.
	if err := CloudOffers("china", approvals.ActionEnableMFA); err != nil {
		t.Errorf("CloudOffers(enable-mfa): got %v, want nil", err)
	}
}
