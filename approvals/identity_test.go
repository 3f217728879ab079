package approvals_test

import (
	"errors"
	"testing"

	"github.com/countersign/countersign/approvals"
)

func TestProtectsIdentity(t *testing.T) {
	ceo := approvals.Identity{
		ID:        "7f3a9c1e-0000-4000-8000-00000000c0e0",
		Accounts:  []string{"S-1-5-21-CEO"},
		Addresses: []string{"ceo@contoso.com", "c.eo@contoso.com"},
	}
	for _, tc := range []struct {
		name      string
		protected []string
		id        approvals.Identity
		want      string
	}{
		{"typed alias, UPN protected", []string{"ceo@contoso.com"}, ceo, "ceo@contoso.com"},
		{"typed UPN, alias protected", []string{"C.EO@contoso.com"}, ceo, "C.EO@contoso.com"},
		{"glob over any address", []string{"c.*@contoso.com"}, ceo, "c.*@contoso.com"},
		{"immutable identity id", []string{"id:7F3A9C1E-0000-4000-8000-00000000C0E0"}, ceo, "id:7F3A9C1E-0000-4000-8000-00000000C0E0"},
		{"account id", []string{"id:s-1-5-21-ceo"}, ceo, "id:s-1-5-21-ceo"},
		{"id entry is not a glob", []string{"id:*"}, ceo, ""},
		{"id entry never matches an address", []string{"id:ceo@contoso.com"}, ceo, ""},
		{"unrelated", []string{"cfo@contoso.com", "id:other"}, ceo, ""},
		{"mail copy by recipient alias", []string{"ceo@contoso.com"},
			approvals.Identity{ID: "m/c.eo@contoso.com", Addresses: []string{"c.eo@contoso.com", "ceo@contoso.com"}}, "ceo@contoso.com"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := approvals.Policy{Protected: tc.protected}
			got, ok := p.ProtectsIdentity(tc.id)
			if got != tc.want || ok != (tc.want != "") {
				t.Fatalf("ProtectsIdentity = %q, %v; want %q", got, ok, tc.want)
			}
		})
	}
}

func TestIdentitySame(t *testing.T) {
	a := approvals.Identity{ID: "id-1", Accounts: []string{"acct-1"}, Addresses: []string{"a@x.io"}}
	for _, tc := range []struct {
		name string
		b    approvals.Identity
		want bool
	}{
		{"equal", a, true},
		{"alias added", approvals.Identity{ID: "ID-1", Accounts: []string{"ACCT-1"}, Addresses: []string{"a@x.io", "b@x.io"}}, true},
		{"other identity", approvals.Identity{ID: "id-2", Accounts: []string{"acct-1"}, Addresses: []string{"a@x.io"}}, false},
		{"other account", approvals.Identity{ID: "id-1", Accounts: []string{"acct-2"}, Addresses: []string{"a@x.io"}}, false},
		{"none", approvals.Identity{}, false},
	} {
		if got := a.Same(tc.b); got != tc.want {
			t.Errorf("%s: Same = %v, want %v", tc.name, got, tc.want)
		}
	}
	if (approvals.Identity{}).Same(approvals.Identity{}) {
		t.Error("two unknown identities must not be the same")
	}
}

func TestContentHashBindsIdentities(t *testing.T) {
	spec := disable("ceo@contoso.com")
	item := func(id string) []approvals.Item {
		return []approvals.Item{{Key: "ceo@contoso.com", Display: "CEO", Identity: approvals.Identity{ID: id, Addresses: []string{"ceo@contoso.com"}}}}
	}
	if approvals.ContentHash(spec, item("id-1")) == approvals.ContentHash(spec, item("id-2")) {
		t.Fatal("the hash must change when a target resolves to another identity")
	}
	reordered := approvals.Identity{ID: "id-1", Addresses: []string{"CEO@contoso.com", "ceo@contoso.com"}}
	if approvals.ContentHash(spec, item("id-1")) != approvals.ContentHash(spec, []approvals.Item{{Key: "ceo@contoso.com", Display: "CEO", Identity: reordered}}) {
		t.Fatal("the hash must not depend on the spelling or order of addresses")
	}
}

func TestFileRefusesProtectedIdentity(t *testing.T) {
	p := policy()
	p.Protected = []string{"ceo@contoso.com"}
	items := []approvals.Item{{Key: "c.eo@contoso.com", Identity: approvals.Identity{ID: "id-ceo", Addresses: []string{"c.eo@contoso.com", "ceo@contoso.com"}}}}
	_, err := p.File(disable("c.eo@contoso.com"), items, who("alice"), t0)
	if !errors.Is(err, approvals.ErrProtectedTarget) {
		t.Fatalf("File of the CEO's alias = %v, want ErrProtectedTarget", err)
	}
}
