package msgraph

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/countersign/countersign/approvals"
	"github.com/countersign/countersign/providers"
	"github.com/countersign/countersign/providers/internal/providertest"
	"github.com/countersign/countersign/providers/msgraph/graphtest"
)

// seedDirectory seeds the identities the account tests use, plus filler
// so listings span several pages.
func seedDirectory(srv *graphtest.Server) map[string]graphtest.User {
	users := map[string]graphtest.User{}
	add := func(key string, u graphtest.User) { users[key] = srv.AddUser(u) }
	for i := range 5 {
		add(fmt.Sprintf("filler%d", i), graphtest.User{DisplayName: fmt.Sprintf("Filler %d", i),
			UPN: fmt.Sprintf("filler%d@contoso.com", i), Email: fmt.Sprintf("filler%d@contoso.com", i), Enabled: true})
	}
	add("mallory", graphtest.User{DisplayName: "Mallory Example", UPN: "mallory@contoso.com", Email: "mallory@contoso.com",
		Enabled: true, OnPremSID: "S-1-5-21-1111111111-2222222222-3333333333-1104"})
	add("alice", graphtest.User{DisplayName: "Alice Lias", UPN: "a.lias@contoso.onmicrosoft.com", Email: "alice@contoso.com", Enabled: true})
	add("dora", graphtest.User{DisplayName: "Dora Disabled", UPN: "dora@contoso.com", Email: "dora@contoso.com", Enabled: false})
	add("oscar", graphtest.User{DisplayName: "Oscar Okta", UPN: "oscar@contoso.com", Email: "oscar@contoso.com", Enabled: true,
		Accounts: []graphtest.Account{{Provider: "okta", Actions: []string{"disable", "revokeAllSessions"}}}})
	add("erin", graphtest.User{DisplayName: "Erin Entra", UPN: "erin@contoso.com", Email: "erin@contoso.com", Enabled: true,
		Accounts: []graphtest.Account{
			{Provider: "activeDirectory", Actions: []string{"disable", "forcePasswordReset"}},
			{Provider: "entraID", Actions: []string{"disable", "revokeAllSessions", "requireUserToSignInAgain", "markUserAsCompromised"}},
		}})
	return users
}

func TestResolveAccounts(t *testing.T) {
	variants := []struct {
		name string
		b    graphtest.Behavior
	}{
		{"schema form, no derived filter", graphtest.Behavior{}},
		{"derived filter", graphtest.Behavior{DerivedFilter: true}},
		{"doc form provider key and PascalCase", graphtest.Behavior{ProviderKey: true, PascalCaseEnums: true}},
		{"doc form with derived filter", graphtest.Behavior{ProviderKey: true, PascalCaseEnums: true, DerivedFilter: true}},
	}
	for _, v := range variants {
		t.Run(v.name, func(t *testing.T) {
			f := newFixture(t, graphtest.Options{Seed: 1, PageSize: 3}, nil)
			f.srv.SetBehavior(v.b)
			users := seedDirectory(f.srv)
			spell := func(s string) string {
				if v.b.PascalCaseEnums {
					return strings.ToUpper(s[:1]) + s[1:]
				}
				return s
			}
			data := func(u graphtest.User, i int) json.RawMessage {
				b, _ := json.Marshal(accountData{Identifier: u.Accounts[i].Identifier, IdentityProvider: u.Accounts[i].Provider})
				return b
			}
			spec := accountSpec(approvals.ActionDisable, "MALLORY@contoso.com", "alice@contoso.com", "dora@contoso.com",
				"oscar@contoso.com", "nobody@contoso.com", "not an address", "mallory@contoso.com")
			got, err := f.c.Resolve(providertest.Context(t), spec)
			if err != nil {
				t.Fatalf("Resolve: %v", err)
			}
			m, a, d, o := users["mallory"], users["alice"], users["dora"], users["oscar"]
			ident := func(u graphtest.User) approvals.Identity {
				id := approvals.Identity{ID: u.ID, Addresses: []string{u.UPN, u.Email}}
				for _, acct := range u.Accounts {
					id.Accounts = append(id.Accounts, acct.Identifier)
				}
				return id.Normalize()
			}
			want := []providers.Resolved{
				{Key: "mallory@contoso.com", Target: "MALLORY@contoso.com", Display: "Mallory Example <mallory@contoso.com>",
					State: "enabled", Account: m.ID, Data: data(m, 0), Identity: ident(m)},
				{Key: "alice@contoso.com", Target: "alice@contoso.com", Display: "Alice Lias <a.lias@contoso.onmicrosoft.com>",
					State: "enabled", Account: a.ID, Data: data(a, 0), Identity: ident(a)},
				{Key: "dora@contoso.com", Target: "dora@contoso.com", Display: "Dora Disabled <dora@contoso.com>",
					State: "disabled", Account: d.ID, Data: data(d, 0), Identity: ident(d),
					Problem: fmt.Sprintf("disable is not available for this activeDirectory account now (available: %s, %s; the account is disabled)",
						spell("enable"), spell("forcePasswordReset"))},
				{Key: "oscar@contoso.com", Target: "oscar@contoso.com", Display: "Oscar Okta <oscar@contoso.com>",
					State: "enabled", Account: o.ID, Identity: ident(o),
					Problem: fmt.Sprintf("no activeDirectory account (it has: %s); providers.graph.identity_provider selects the provider", spell("okta"))},
				{Key: "nobody@contoso.com", Target: "nobody@contoso.com", Display: "nobody@contoso.com",
					Problem: "no identity account with this user principal name or e-mail address in Defender for Identity"},
				{Key: "not an address", Target: "not an address", Display: "not an address",
					Problem: "not a valid e-mail address or user principal name"},
			}
			if diff := cmp.Diff(want, got, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("Resolve (-want +got):\n%s", diff)
			}

			// Lookups: the derived filter per target while Graph takes it,
			// and one listing pass (ceil(10 users / 3) = 4 pages) for the rest.
			var filtered, listed int
			for _, c := range f.srv.Calls() {
				if c.Path != "/v1.0/security/identities/identityAccounts" {
					continue
				}
				if strings.Contains(c.Query, "filter") {
					filtered++
				} else {
					listed++
				}
			}
			wantFiltered := 1 // refused with 400 once, then never tried again
			if v.b.DerivedFilter {
				wantFiltered = 5 // every valid distinct target
			}
			if filtered != wantFiltered || listed != 4 {
				t.Errorf("got %d filtered and %d plain list calls, want %d and 4", filtered, listed, wantFiltered)
			}
		})
	}
}

func TestResolvePicksConfiguredIdentityProvider(t *testing.T) {
	f := newFixture(t, graphtest.Options{Seed: 2}, func(c *Config) { c.IdentityProvider = "EntraID" })
	users := seedDirectory(f.srv)
	got, err := f.c.Resolve(providertest.Context(t), accountSpec(approvals.ActionRequireSignIn, "erin@contoso.com", "mallory@contoso.com"))
	if err != nil {
		t.Fatalf("Resolve: %v", err)
	}
	if len(got) != 2 {
		t.Fatalf("got %d items, want 2", len(got))
	}
	var d accountData
	if err := json.Unmarshal(got[0].Data, &d); err != nil {
		t.Fatalf("data: %v", err)
	}
	if want := (accountData{Identifier: users["erin"].Accounts[1].Identifier, IdentityProvider: "entraID"}); d != want || got[0].Problem != "" {
		t.Errorf("erin: got data %+v problem %q, want %+v and no problem", d, got[0].Problem, want)
	}
	if !strings.HasPrefix(got[1].Problem, "no entraID account (it has: activeDirectory)") {
		t.Errorf("mallory: got problem %q, want no entraID account", got[1].Problem)
	}
}

// TestInvokeActionOutsideSeedTable: erin's entraID account lists these
// actions (the account resource page offers them), but the invokeAction page
// (seed 002) supports none of them for entraID, so the call is refused and
// Submit fails with Graph's message; nothing is invoked.
func TestInvokeActionOutsideSeedTable(t *testing.T) {
	tests := []struct {
		action     approvals.Action
		wantAction string
	}{
		{approvals.ActionDisable, "disable"},
		{approvals.ActionRevokeSessions, "revokeAllSessions"},
		{approvals.ActionRequireSignIn, "requireUserToSignInAgain"},
		{approvals.ActionMarkCompromised, "markUserAsCompromised"},
	}
	for _, tt := range tests {
		t.Run(string(tt.action), func(t *testing.T) {
			f := newFixture(t, graphtest.Options{Seed: 3}, func(c *Config) { c.IdentityProvider = "entraID" })
			seedDirectory(f.srv)
			ctx := providertest.Context(t)
			spec := accountSpec(tt.action, "erin@contoso.com")
			items, err := f.c.Resolve(ctx, spec)
			if err != nil || len(items) != 1 || items[0].Problem != "" {
				t.Fatalf("Resolve: %v %+v", err, items)
			}
			_, err = f.c.Submit(ctx, providers.Batch{RequestID: 7, Spec: spec, Items: items, Label: "Countersign request 7"})
			want := "HTTP 400 invalidRequest: The action '" + tt.wantAction + "' is not available for this account."
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("Submit: got %v, want an error containing %q", err, want)
			}
			if inv := f.srv.Invocations(); len(inv) != 0 {
				t.Errorf("got %d invocations, want none", len(inv))
			}
		})
	}
}

func TestAccountActions(t *testing.T) {
	tests := []struct {
		name       string
		action     approvals.Action
		target     string
		idp        string
		b          graphtest.Behavior
		wantAction string
		wantState  bool // isEnabled afterwards
		wantDetail string
	}{
		{name: "disable, schema result", action: approvals.ActionDisable, target: "mallory@contoso.com",
			wantAction: "disable", wantState: false, wantDetail: "the account is disabled"},
		{name: "disable, doc result", action: approvals.ActionDisable, target: "mallory@contoso.com",
			b:          graphtest.Behavior{InvokeResultValue: true, ProviderKey: true, PascalCaseEnums: true},
			wantAction: "disable", wantState: false, wantDetail: "the account is disabled"},
		{name: "disable, value wrapper with schema key", action: approvals.ActionDisable, target: "mallory@contoso.com",
			b: graphtest.Behavior{InvokeResultValue: true}, wantAction: "disable", wantState: false, wantDetail: "the account is disabled"},
		{name: "enable", action: approvals.ActionEnable, target: "dora@contoso.com",
			wantAction: "enable", wantState: true, wantDetail: "the account is enabled"},
		{name: "reset password", action: approvals.ActionResetPassword, target: "mallory@contoso.com",
			wantAction: "forcePasswordReset", wantState: true, wantDetail: "Graph offers no way to verify that forcePasswordReset took effect"},
		{name: "revoke sessions on okta", action: approvals.ActionRevokeSessions, target: "oscar@contoso.com", idp: "okta",
			wantAction: "revokeAllSessions", wantState: true, wantDetail: "Graph offers no way to verify"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, graphtest.Options{Seed: 3}, func(c *Config) { c.IdentityProvider = tt.idp })
			f.srv.SetBehavior(tt.b)
			seedDirectory(f.srv)
			ctx := providertest.Context(t)
			spec := accountSpec(tt.action, tt.target)
			items, err := f.c.Resolve(ctx, spec)
			if err != nil || len(items) != 1 || items[0].Problem != "" {
				t.Fatalf("Resolve: %v %+v", err, items)
			}
			if got := f.c.MaxItems(tt.action); got != 1 {
				t.Errorf("MaxItems: got %d, want 1", got)
			}
			sub, err := f.c.Submit(ctx, providers.Batch{RequestID: 7, Spec: spec, Items: items, Label: "Countersign request 7"})
			if err != nil {
				t.Fatalf("Submit: %v", err)
			}
			inv := f.srv.Invocations()
			if len(inv) != 1 {
				t.Fatalf("got %d invocations, want 1", len(inv))
			}
			wantIDP := tt.idp
			if wantIDP == "" {
				wantIDP = "activeDirectory"
			}
			if inv[0].Action != tt.wantAction || inv[0].IdentityProvider != wantIDP || inv[0].IdentityAccountID != items[0].Account {
				t.Errorf("invocation: got %+v, want action %s provider %s on %s", inv[0], tt.wantAction, wantIDP, items[0].Account)
			}
			wantSub := []providers.SubmittedItem{{Key: tt.target, Ref: inv[0].CorrelationID}}
			if diff := cmp.Diff(wantSub, sub.Items); diff != "" || sub.ID != inv[0].CorrelationID || sub.Provider != providers.Graph {
				t.Errorf("submission: got id %q provider %q, want correlation id %q; items (-want +got):\n%s", sub.ID, sub.Provider, inv[0].CorrelationID, diff)
			}
			// The body is the schema form, exactly.
			var body map[string]any
			for _, c := range f.srv.Calls() {
				if strings.HasSuffix(c.Path, "/invokeAction") {
					if err := json.Unmarshal(c.Body, &body); err != nil {
						t.Fatalf("recorded body: %v", err)
					}
				}
			}
			wantBody := map[string]any{"accountId": inv[0].AccountID, "action": tt.wantAction, "identityProvider": wantIDP}
			if diff := cmp.Diff(wantBody, body); diff != "" {
				t.Errorf("invokeAction body (-want +got):\n%s", diff)
			}
			// The submission survives the engine's JSON round trip.
			raw, _ := json.Marshal(sub)
			var stored providers.Submission
			if err := json.Unmarshal(raw, &stored); err != nil {
				t.Fatalf("round trip: %v", err)
			}
			prog, err := f.c.Poll(ctx, stored)
			if err != nil {
				t.Fatalf("Poll: %v", err)
			}
			if !prog.Done || len(prog.Items) != 1 || prog.Items[0].Status != approvals.ItemSucceeded ||
				!strings.Contains(prog.Items[0].Detail, tt.wantDetail) || !strings.Contains(prog.Items[0].Detail, inv[0].CorrelationID) ||
				prog.Items[0].Ref != inv[0].CorrelationID {
				t.Errorf("Poll: got %+v, want done, succeeded, detail with %q and the correlation id %s", prog, tt.wantDetail, inv[0].CorrelationID)
			}
			u, _ := f.srv.User(tt.target)
			if u.Enabled != tt.wantState {
				t.Errorf("fake user enabled: got %v, want %v", u.Enabled, tt.wantState)
			}
		})
	}
}

func TestPollAccountWaitsForState(t *testing.T) {
	tests := []struct {
		name        string
		b           graphtest.Behavior
		stuck       bool
		wantRunning int // polls reporting running before success; -1: never succeeds
	}{
		{name: "immediate", wantRunning: 0},
		{name: "after two reads", b: graphtest.Behavior{ApplyAfterReads: 2}, wantRunning: 2},
		{name: "accepted but never applied", stuck: true, wantRunning: -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, graphtest.Options{Seed: 4}, nil)
			f.srv.SetBehavior(tt.b)
			seedDirectory(f.srv)
			if tt.stuck {
				f.srv.SetFaults(graphtest.Faults{StuckAccounts: []string{"mallory@contoso.com"}})
			}
			ctx := providertest.Context(t)
			batch := providertest.Batch(t, ctx, f.c, accountSpec(approvals.ActionDisable, "mallory@contoso.com"))
			sub, err := f.c.Submit(ctx, batch)
			if err != nil {
				t.Fatalf("Submit: %v", err)
			}
			running := 0
			for range 5 {
				p, err := f.c.Poll(ctx, sub)
				if err != nil {
					t.Fatalf("Poll: %v", err)
				}
				if p.Done {
					break
				}
				if p.Items[0].Status != approvals.ItemRunning || !strings.Contains(p.Items[0].Detail, "still shows as enabled") {
					t.Errorf("poll %d: got %+v, want running, still enabled", running+1, p.Items[0])
				}
				running++
			}
			want := tt.wantRunning
			if want < 0 {
				want = 5
			}
			if running != want {
				t.Errorf("got %d running polls, want %d", running, want)
			}
		})
	}
}

func TestPollAccountGone(t *testing.T) {
	f := newFixture(t, graphtest.Options{Seed: 5}, nil)
	data, _ := json.Marshal(accountPoll{Kind: kindAccount, Key: "ghost@contoso.com", Action: "disable", ID: "no-such-id", CorrelationID: "c-1"})
	p, err := f.c.Poll(providertest.Context(t), providers.Submission{Provider: providers.Graph, Data: data})
	if err != nil {
		t.Fatalf("Poll: %v", err)
	}
	if !p.Done || p.Items[0].Status != approvals.ItemFailed || !strings.Contains(p.Items[0].Detail, "no longer found") {
		t.Errorf("got %+v, want failed: no longer found", p)
	}
}

// refusedDisable submits disabling mallory while Graph refuses it with
// 400 invalidRequest, and returns the fixture and Submit's error.
func refusedDisable(t *testing.T, seed uint64) (*fixture, error) {
	t.Helper()
	f := newFixture(t, graphtest.Options{Seed: seed}, nil)
	ctx := providertest.Context(t)
	batch := f.disableMallory(t, ctx)
	f.srv.SetFaults(graphtest.Faults{FailAccounts: []string{"MALLORY@contoso.com"}})
	_, err := f.c.Submit(ctx, batch)
	return f, err
}

func TestSubmitAccountRefused(t *testing.T) {
	f, err := refusedDisable(t, 6)
	var ge *Error
	if !errors.As(err, &ge) || ge.Status != http.StatusBadRequest || ge.Code != "invalidRequest" {
		t.Fatalf("Submit: got %v, want *Error 400 invalidRequest", err)
	}
	if errors.Is(err, providers.ErrTemporary) || errors.Is(err, providers.ErrUncertain) {
		t.Errorf("Submit: got %v, want neither temporary nor uncertain", err)
	}
	if ge.RequestID == "" || ge.Date == "" || ge.ClientRequestID == "" {
		t.Errorf("error ids: got %+v, want request id, date and client request id", ge)
	}
	if u, _ := f.srv.User("mallory@contoso.com"); !u.Enabled {
		t.Errorf("mallory was disabled by a refused call")
	}
}

func TestSubmitRejectsBadBatches(t *testing.T) {
	f := newFixture(t, graphtest.Options{Seed: 7}, nil)
	good := providers.Resolved{Key: "a@x.com", Account: "id-1", Data: json.RawMessage(`{"identifier":"acc-1","identityProvider":"activeDirectory"}`)}
	tests := []struct {
		name  string
		batch providers.Batch
		want  string
	}{
		{"empty", providers.Batch{Spec: accountSpec(approvals.ActionDisable)}, "nothing to submit"},
		{"two accounts", providers.Batch{Spec: accountSpec(approvals.ActionDisable), Items: []providers.Resolved{good, good}}, "exceed the 1 allowed"},
		{"problem", providers.Batch{Spec: accountSpec(approvals.ActionDisable), Items: []providers.Resolved{{Key: "a@x.com", Problem: "no such user"}}}, "cannot be acted on"},
		{"no data", providers.Batch{Spec: accountSpec(approvals.ActionDisable), Items: []providers.Resolved{{Key: "a@x.com", Account: "id-1", Data: json.RawMessage(`{}`)}}}, "needs the identity account id"},
		{"enable-mfa", providers.Batch{Spec: accountSpec(approvals.ActionEnableMFA), Items: []providers.Resolved{good}}, "not supported"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := f.c.Submit(providertest.Context(t), tt.batch)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Submit: got %v, want an error containing %q", err, tt.want)
			}
		})
	}
	if n := len(f.srv.Calls()); n != 0 {
		t.Errorf("got %d calls to Graph, want none", n)
	}
}

func TestSupports(t *testing.T) {
	for _, legacy := range []bool{false, true} {
		f := newFixture(t, graphtest.Options{}, func(c *Config) { c.EnableLegacySecurityActions = legacy })
		for _, a := range approvals.Actions() {
			want := a != approvals.ActionEnableMFA && (a != approvals.ActionBlockIP || legacy)
			if got := f.c.Supports(a); got != want {
				t.Errorf("legacy %v: Supports(%s): got %v, want %v", legacy, a, got, want)
			}
			if want && !providers.Capable(providers.Graph, a) {
				t.Errorf("Supports(%s) but the capability matrix does not list it for graph", a)
			}
		}
	}
}

// Two addresses of one person in one request would act on the person
// twice and show them twice on the card; the second is refused by name.
func TestResolveAccountsSameIdentityTwice(t *testing.T) {
	f := newFixture(t, graphtest.Options{Seed: 3}, nil)
	users := seedDirectory(f.srv)
	got, err := f.c.Resolve(providertest.Context(t), accountSpec(approvals.ActionDisable, "a.lias@contoso.onmicrosoft.com", "alice@contoso.com"))
	if err != nil {
		t.Fatalf("Resolve: %v", err)
	}
	if len(got) != 2 || got[0].Problem != "" || got[0].Identity.ID != users["alice"].ID {
		t.Fatalf("first address = %+v, want alice's identity without a problem", got)
	}
	if want := "the same identity account as a.lias@contoso.onmicrosoft.com; name it once"; got[1].Problem != want {
		t.Fatalf("second address problem = %q, want %q", got[1].Problem, want)
	}
}
