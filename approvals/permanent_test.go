package approvals_test

import (
	"testing"

	"github.com/countersign/countersign/approvals"
)

// purge returns a purge-mail spec with the given provider and --action.
func purge(provider, action string) approvals.Spec {
	return approvals.Spec{Action: approvals.ActionPurgeMail, Provider: provider, Targets: []string{"m"},
		Reason: "phish", Mail: &approvals.MailOptions{Action: action}}
}

func TestDeletesPermanently(t *testing.T) {
	for _, tc := range []struct {
		spec approvals.Spec
		want bool
	}{
		{purge("graph", "hard-delete"), true},
		{purge("tmcas", "delete"), true},
		// Before routing the provider is unknown: fail closed.
		{purge("", "hard-delete"), true},
		{purge("", "delete"), true},
		{purge("graph", "soft-delete"), false},
		{purge("graph", "deleted-items"), false},
		{purge("tmcas", "quarantine"), false},
		{purge("graph", "delete"), false},
		{purge("tmcas", "hard-delete"), false},
		{approvals.Spec{Action: approvals.ActionPurgeMail, Provider: "graph"}, false},
		{disable("a@x.io"), false},
	} {
		if got := tc.spec.DeletesPermanently(); got != tc.want {
			t.Errorf("DeletesPermanently(%s %s): got %v, want %v", tc.spec.Provider, tc.spec.PolicyKey(), got, tc.want)
		}
	}
}

// TestPolicyRequiredPermanent: purge-mail:permanent is the quorum of
// permanent mail deletion with either provider.
func TestPolicyRequiredPermanent(t *testing.T) {
	for _, tc := range []struct {
		name      string
		overrides map[string]int
		spec      approvals.Spec
		want      int
	}{
		{"graph hard-delete", map[string]int{approvals.PermanentPurgeKey: 2}, purge("graph", "hard-delete"), 2},
		{"tmcas delete", map[string]int{approvals.PermanentPurgeKey: 2}, purge("tmcas", "delete"), 2},
		{"unrouted hard-delete", map[string]int{approvals.PermanentPurgeKey: 2}, purge("", "hard-delete"), 2},
		{"graph soft-delete is not permanent", map[string]int{approvals.PermanentPurgeKey: 2}, purge("graph", "soft-delete"), 1},
		{"tmcas quarantine is not permanent", map[string]int{approvals.PermanentPurgeKey: 2}, purge("tmcas", "quarantine"), 1},
		{"other actions untouched", map[string]int{approvals.PermanentPurgeKey: 2}, disable("a@x.io"), 1},
		{"permanent beats the action", map[string]int{approvals.PermanentPurgeKey: 3, "purge-mail": 2}, purge("tmcas", "delete"), 3},
		{"the action covers the rest", map[string]int{approvals.PermanentPurgeKey: 3, "purge-mail": 2}, purge("tmcas", "quarantine"), 2},
		{"permanent beats the variant", map[string]int{approvals.PermanentPurgeKey: 3, "purge-mail:hard-delete": 2}, purge("graph", "hard-delete"), 3},
		{"without permanent the variant applies", map[string]int{"purge-mail:delete": 2}, purge("tmcas", "delete"), 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := approvals.Policy{ApprovalsRequired: 1, Overrides: tc.overrides}
			if got := p.Required(tc.spec); got != tc.want {
				t.Errorf("Required(%s %s) = %d, want %d", tc.spec.Provider, tc.spec.PolicyKey(), got, tc.want)
			}
		})
	}
}
