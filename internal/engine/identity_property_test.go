package engine

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/countersign/countersign/approvals"
	"github.com/countersign/countersign/providers"
	"github.com/countersign/countersign/providers/msgraph"
	"github.com/countersign/countersign/providers/msgraph/graphtest"
)

// TestPropertyOnlyApprovedIdentitiesAreActedOn files random requests
// against random directories in which addresses are aliases of each other
// and move between identities, or identities disappear, while the request
// waits; the real Graph client resolves at filing and again at execution,
// plan decides, and the real client sends. Over every run, no invokeAction
// names an identity or account other than the one the item was approved
// for, and none names an identity a protected entry matches, as approved
// or as it is when the call is made. CI runs it 10,000 times (-tags long).
func TestPropertyOnlyApprovedIdentitiesAreActedOn(t *testing.T) {
	sent, skipped := 0, 0
	for run := range propertyRuns {
		s, k, err := identityRun(t, uint64(run))
		if err != nil {
			t.Fatalf("run %d (seed %d): %v", run, run, err)
		}
		sent += s
		skipped += k
	}
	t.Logf("%d runs: %d calls made, %d approved items skipped", propertyRuns, sent, skipped)
	if sent == 0 || skipped == 0 {
		t.Fatalf("the runs never acted (%d) or never skipped (%d): the generator does not exercise the property", sent, skipped)
	}
}

// pool is the address space: few enough that aliases collide and move.
var pool = []string{"ceo@contoso.com", "c.eo@contoso.com", "mallory@contoso.com", "m.allory@contoso.com",
	"eve@contoso.com", "trent@contoso.com", "t.rent@contoso.com", "alias@contoso.com"}

func identityRun(t *testing.T, seed uint64) (sent, skipped int, err error) {
	rng := rand.New(rand.NewPCG(seed, 0x1d3471))
	srv := graphtest.New(graphtest.Options{Seed: seed, PageSize: 2 + rng.IntN(4)})
	defer srv.Close()
	// Each identity takes a UPN and maybe a distinct mail alias from the
	// pool; two identities may share an address (then it is ambiguous).
	var ids []graphtest.User
	for range 2 + rng.IntN(4) {
		upn := pool[rng.IntN(len(pool))]
		mail := upn
		if rng.IntN(2) == 0 {
			mail = pool[rng.IntN(len(pool))]
		}
		ids = append(ids, srv.AddUser(graphtest.User{DisplayName: upn, UPN: upn, Email: mail, Enabled: true}))
	}
	var protected []string
	for range rng.IntN(3) {
		switch u := ids[rng.IntN(len(ids))]; rng.IntN(4) {
		case 0:
			protected = append(protected, "id:"+u.ID)
		case 1:
			protected = append(protected, "id:"+u.Accounts[0].Identifier)
		case 2:
			protected = append(protected, u.Email)
		default:
			protected = append(protected, u.UPN)
		}
	}
	policy := approvals.Policy{Protected: protected}
	tenant, id, secret := srv.Credentials()
	client, err := msgraph.New(msgraph.Config{TenantID: tenant, ClientID: id, ClientSecret: secret,
		BaseURL: srv.URL(), TokenURL: srv.TokenURL(), RequestsPerSecond: 1e6})
	if err != nil {
		return 0, 0, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var targets []string
	for range 1 + rng.IntN(4) {
		targets = append(targets, pool[rng.IntN(len(pool))])
	}
	spec := approvals.Spec{Action: approvals.ActionDisable, Provider: providers.Graph, Targets: targets}.Canonical()

	// Filing: what the card shows and the approval binds. Protection at
	// filing is left out in half the runs, so execution's own check is
	// what stands between a protected identity and the call.
	resolved, err := client.Resolve(ctx, spec)
	if err != nil {
		return 0, 0, fmt.Errorf("resolve at filing: %w", err)
	}
	checkAtFiling := rng.IntN(2) == 0
	var items []approvals.Item
	approved := map[string]approvals.Identity{}
	for _, r := range resolved {
		if r.Problem != "" || !r.Identity.Known() {
			continue
		}
		if _, ok := policy.ProtectsIdentity(r.Identity); ok && checkAtFiling {
			continue
		}
		items = append(items, approvals.Item{Key: r.Key, Identity: r.Identity, Status: approvals.ItemPending})
		approved[r.Key] = r.Identity
	}

	// While the request waits: addresses move, identities go, others come.
	for range rng.IntN(4) {
		u := ids[rng.IntN(len(ids))]
		switch rng.IntN(4) {
		case 0:
			srv.SetAddresses(u.ID, pool[rng.IntN(len(pool))], pool[rng.IntN(len(pool))])
		case 1:
			srv.RemoveUser(u.ID)
		case 2:
			a := pool[rng.IntN(len(pool))]
			ids = append(ids, srv.AddUser(graphtest.User{DisplayName: a, UPN: a, Email: a, Enabled: true}))
		default:
			srv.SetAddresses(u.ID, u.UPN, pool[rng.IntN(len(pool))])
		}
	}

	fresh, err := client.Resolve(ctx, spec)
	if err != nil {
		return 0, 0, fmt.Errorf("resolve at execution: %w", err)
	}
	todo, skips, _ := plan(items, fresh, policy)
	var accepted []string // keys Graph accepted, in order
	for _, r := range todo {
		// Graph may refuse (the action is no longer available); then
		// nothing happened, which the invocations below show.
		if _, err := client.Submit(ctx, providers.Batch{RequestID: 1, Spec: spec, Items: []providers.Resolved{r}, Label: "property"}); err == nil {
			accepted = append(accepted, r.Key)
		}
	}

	invocations := srv.Invocations()
	if len(invocations) != len(accepted) {
		return 0, 0, fmt.Errorf("%d calls reached Graph, %d were accepted", len(invocations), len(accepted))
	}
	for i, inv := range invocations {
		want := approved[accepted[i]]
		if inv.IdentityAccountID != want.ID || !slices.Contains(want.Accounts, inv.AccountID) {
			return 0, 0, fmt.Errorf("item %s was approved for identity %s (accounts %v) but invokeAction went to %s account %s",
				accepted[i], want.ID, want.Accounts, inv.IdentityAccountID, inv.AccountID)
		}
		if pat, ok := policy.ProtectsIdentity(want); ok {
			return 0, 0, fmt.Errorf("protected identity %s (%s, as approved) was acted on", want.ID, pat)
		}
		now, ok := srv.User(inv.IdentityAccountID)
		if !ok {
			return 0, 0, fmt.Errorf("invokeAction went to %s, which is not in the directory", inv.IdentityAccountID)
		}
		current := approvals.Identity{ID: now.ID, Addresses: []string{now.UPN, now.Email}, Accounts: want.Accounts}
		if pat, ok := policy.ProtectsIdentity(current); ok {
			return 0, 0, fmt.Errorf("protected identity %s (%s, as it is now) was acted on", now.ID, pat)
		}
	}
	return len(accepted), len(skips), nil
}
