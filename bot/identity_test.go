package bot_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/countersign/countersign/approvals"
	"github.com/countersign/countersign/bot"
	"github.com/countersign/countersign/bot/chat"
	"github.com/countersign/countersign/internal/engine"
	"github.com/countersign/countersign/internal/store"
	"github.com/countersign/countersign/internal/testdb"
	"github.com/countersign/countersign/providers"
	"github.com/countersign/countersign/providers/msgraph"
	"github.com/countersign/countersign/providers/msgraph/graphtest"
	"github.com/countersign/countersign/workflow"
)

// graphSystem is the bot, the engine and the Graph fake behind the real
// client, on one database: what approvers see and what Graph receives.
type graphSystem struct {
	bot     *bot.Bot
	chat    *recorder
	store   *store.Store
	graph   *graphtest.Server
	router  *providers.Router
	users   map[string]graphtest.User
	changed chan int64 // every notification of the engine
}

// The directory: the CEO's UPN and mail differ (c.eo@ is the alias), as do
// Mallory's; the others are plain.
func newGraphSystem(t *testing.T, url string, protected []string) *graphSystem {
	t.Helper()
	st := testdb.Store(t, url)
	srv := graphtest.New(graphtest.Options{Seed: 7})
	t.Cleanup(srv.Close)
	users := map[string]graphtest.User{}
	for _, u := range []graphtest.User{
		{DisplayName: "Chief Executive", UPN: "ceo@contoso.com", Email: "c.eo@contoso.com", Enabled: true},
		{DisplayName: "Mallory Example", UPN: "mallory@contoso.com", Email: "m.allory@contoso.com", Enabled: true},
		{DisplayName: "Eve Example", UPN: "eve@contoso.com", Email: "eve@contoso.com", Enabled: true},
		{DisplayName: "Trent Example", UPN: "trent@contoso.com", Email: "trent@contoso.com", Enabled: true},
	} {
		added := srv.AddUser(u)
		users[strings.Split(u.UPN, "@")[0]] = added
	}
	tenant, id, secret := srv.Credentials()
	client, err := msgraph.New(msgraph.Config{TenantID: tenant, ClientID: id, ClientSecret: secret,
		BaseURL: srv.URL(), TokenURL: srv.TokenURL(), RequestsPerSecond: 1000})
	if err != nil {
		t.Fatal(err)
	}
	router, err := providers.NewRouter(nil, client)
	if err != nil {
		t.Fatal(err)
	}
	g := &graphSystem{chat: &recorder{posts: map[string]chat.Message{}}, store: st, graph: srv, router: router, users: users,
		changed: make(chan int64, 1024)}
	return newGraphSystemWith(t, g, protected)
}

// Changed implements engine.Notifier: the bot renders, then the test hears.
func (g *graphSystem) Changed(ctx context.Context, id int64) {
	g.bot.Changed(ctx, id)
	select {
	case g.changed <- id:
	default:
	}
}

// run starts the engine with protected as policy.protected_targets, waits
// until request id is final and stops the engine.
func (g *graphSystem) run(t *testing.T, id int64, protected []string) approvals.Request {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	eng, err := engine.New(engine.Config{Store: g.store, Providers: g.router, Notifier: g, Protected: protected,
		PollInterval: 20 * time.Millisecond, FetchPollInterval: 20 * time.Millisecond, NotifyInterval: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if err := eng.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := eng.Stop(context.Background()); err != nil {
			t.Errorf("stopping the engine: %v", err)
		}
		g.bot.Wait()
	}()
	for {
		r, err := g.store.Get(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if r.State.Terminal() {
			return r
		}
		select {
		case <-g.changed:
		case <-ctx.Done():
			t.Fatalf("request %d still %s: %v", id, r.State, ctx.Err())
		}
	}
}

// file types line as alice and returns the filed request, or 0 and what
// alice was told privately.
func (g *graphSystem) file(t *testing.T, name, text string) (int64, string) {
	t.Helper()
	g.bot.Command(context.Background(), bot.Command{User: user("alice"), Channel: "C1", Name: name, Text: text, Reply: g.chat})
	g.bot.Wait()
	rs, err := g.store.List(context.Background(), approvals.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) == 0 {
		return 0, g.lastPrivate()
	}
	return rs[0].ID, g.lastPrivate()
}

// lastPrivate is everything the last private message shows.
func (g *graphSystem) lastPrivate() string {
	g.chat.mu.Lock()
	defer g.chat.mu.Unlock()
	if len(g.chat.private) == 0 {
		return ""
	}
	return messageText(g.chat.private[len(g.chat.private)-1])
}

func (g *graphSystem) approve(t *testing.T, id int64) {
	t.Helper()
	r, err := g.store.Get(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	value := fmt.Sprintf("approve:%d:%s", id, approvals.ShortHash(r.Hash))
	resp := g.bot.Click(context.Background(), bot.Click{User: user("bob"), Value: value})
	g.bot.Wait()
	if resp.Message == nil || !strings.Contains(resp.Message.Text, "You approved") {
		t.Fatalf("approve: %+v", resp)
	}
}

// invoked lists the identity accounts invokeAction was called on.
func (g *graphSystem) invoked() []string {
	var out []string
	for _, inv := range g.graph.Invocations() {
		out = append(out, inv.IdentityAccountID)
	}
	return out
}

func itemDetails(t *testing.T, st *store.Store, id int64) map[string]string {
	t.Helper()
	items, err := st.Items(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, it := range items {
		out[it.Key] = string(it.Status) + ": " + it.Detail
	}
	return out
}

// Protection compares identities: whichever address of a protected person
// is typed, and whichever is protected, nothing is filed.
func TestProtectionByIdentity(t *testing.T) {
	for _, tc := range []struct {
		name, command, text string
		protected           func(users map[string]graphtest.User) []string
	}{
		{"alias typed, UPN protected", "disable", "c.eo@contoso.com --reason phish",
			func(map[string]graphtest.User) []string { return []string{"ceo@contoso.com"} }},
		{"UPN typed, alias protected", "disable", "CEO@contoso.com --reason phish",
			func(map[string]graphtest.User) []string { return []string{"c.eo@contoso.com"} }},
		{"protected by identity id", "disable", "ceo@contoso.com --reason phish",
			func(u map[string]graphtest.User) []string { return []string{"id:" + u["ceo"].ID} }},
		{"protected by account id", "reset-password", "c.eo@contoso.com --reason phish",
			func(u map[string]graphtest.User) []string { return []string{"id:" + u["ceo"].Accounts[0].Identifier} }},
		{"purge-mail copy in the alias mailbox", "purge-mail", "0b7a4c9e-3f21-4d8a-9e55-1c2d3e4f5a6b --reason phish",
			func(map[string]graphtest.User) []string { return []string{"ceo@contoso.com"} }},
		{"purge-mail --recipient of the alias mailbox, UPN protected by glob", "purge-mail",
			"0b7a4c9e-3f21-4d8a-9e55-1c2d3e4f5a6b --recipient c.eo@contoso.com --reason phish",
			func(map[string]graphtest.User) []string { return []string{"ceo@*"} }},
		{"purge-mail copy in the UPN mailbox, alias protected", "purge-mail", "1c8b5d0f-4a32-4e9b-8f66-2d3e4f5a6b7c --reason phish",
			func(map[string]graphtest.User) []string { return []string{"c.eo@contoso.com"} }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			testdb.Each(t, func(t *testing.T, url string) {
				g := newGraphSystem(t, url, nil)
				protected := tc.protected(g.users)
				g = newGraphSystemWith(t, g, protected)
				for _, rcpt := range []string{"c.eo@contoso.com", "eve@contoso.com"} {
					g.graph.AddEmail(graphtest.Email{NetworkMessageID: "0b7a4c9e-3f21-4d8a-9e55-1c2d3e4f5a6b", Recipient: rcpt,
						Subject: "Invoice", Logged: time.Now().Add(-time.Hour)})
				}
				for _, rcpt := range []string{"ceo@contoso.com", "eve@contoso.com"} {
					g.graph.AddEmail(graphtest.Email{NetworkMessageID: "1c8b5d0f-4a32-4e9b-8f66-2d3e4f5a6b7c", Recipient: rcpt,
						Subject: "Invoice", Logged: time.Now().Add(-time.Hour)})
				}
				id, said := g.file(t, tc.command, tc.text)
				if id != 0 {
					t.Fatalf("request %d was filed; alice was told %q", id, said)
				}
				if !strings.Contains(said, "protected ("+protected[0]+")") {
					t.Fatalf("alice was told %q, want the protected entry %q named", said, protected[0])
				}
				if len(g.invoked()) != 0 {
					t.Fatalf("invokeAction reached %v", g.invoked())
				}
			})
		})
	}
}

// newGraphSystemWith rebuilds g's bot with protected as the policy, on the
// same store and fake (the protected ids are known only once the fake has
// seeded its users).
func newGraphSystemWith(t *testing.T, g *graphSystem, protected []string) *graphSystem {
	t.Helper()
	wf, err := workflow.New(workflow.Config{Store: g.store, Providers: g.router,
		Policy: approvals.Policy{ApprovalsRequired: 1, RequestTTL: time.Hour, MaxTargets: 10, RequireReason: true, Protected: protected}})
	if err != nil {
		t.Fatal(err)
	}
	b, err := bot.New(bot.Config{
		Workflow: wf, Store: g.store,
		Chats:  map[string]bot.Chat{"test": g.chat},
		Access: map[string]bot.Access{"test": access{approvers: []string{"bob", "carol"}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	g.bot = b
	return g
}

// What runs is the identity the approver saw: an address that moves to
// another identity, or an identity that disappears, between filing and
// approval or between approval and execution, is not acted on.
func TestExecutionActsOnlyOnApprovedIdentity(t *testing.T) {
	const other = "now resolves to a different account than the one approved"
	const gone = "no longer resolves to the account or mailbox that was approved"
	for _, tc := range []struct {
		name string
		// before runs after filing and before approval, after runs
		// after approval and before the engine starts.
		before, after func(g *graphSystem)
		protected     []string // at execution
		wantMallory   string
	}{
		{name: "UPN moves to another account before approval", wantMallory: other,
			before: func(g *graphSystem) { swapMallory(g) }},
		{name: "UPN moves to another account after approval", wantMallory: other,
			after: func(g *graphSystem) { swapMallory(g) }},
		{name: "account removed after approval", wantMallory: gone,
			after: func(g *graphSystem) { g.graph.RemoveUser(g.users["mallory"].ID) }},
		{name: "protected by the time it runs", wantMallory: "is protected (m.allory@contoso.com)",
			protected: []string{"m.allory@contoso.com"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			testdb.Each(t, func(t *testing.T, url string) {
				g := newGraphSystem(t, url, nil)
				id, said := g.file(t, "disable", "mallory@contoso.com eve@contoso.com --reason phish")
				if id == 0 {
					t.Fatalf("not filed: %q", said)
				}
				if tc.before != nil {
					tc.before(g)
				}
				g.approve(t, id)
				if tc.after != nil {
					tc.after(g)
				}
				r := g.run(t, id, tc.protected)
				if r.State != approvals.StatePartiallyFailed {
					t.Errorf("state = %s (%s), want partially_failed", r.State, r.Note)
				}
				items := itemDetails(t, g.store, id)
				if got := items["mallory@contoso.com"]; !strings.HasPrefix(got, "skipped: ") || !strings.Contains(got, tc.wantMallory) {
					t.Errorf("mallory's item = %q, want skipped: …%s…", got, tc.wantMallory)
				}
				if got := items["eve@contoso.com"]; !strings.HasPrefix(got, "succeeded") {
					t.Errorf("eve's item = %q, want succeeded", got)
				}
				if got, want := g.invoked(), []string{g.users["eve"].ID}; strings.Join(got, ",") != strings.Join(want, ",") {
					t.Errorf("invokeAction reached %v, want only eve's account %v", got, want)
				}
				summary := ""
				for _, m := range g.chat.replies {
					summary += messageText(m) + "\n"
				}
				if !strings.Contains(summary, tc.wantMallory) {
					t.Errorf("the thread does not say why mallory was skipped (%q):\n%s", tc.wantMallory, summary)
				}
			})
		})
	}
}

// swapMallory renames Mallory's account and gives her UPN to Trent's.
func swapMallory(g *graphSystem) {
	g.graph.SetAddresses(g.users["mallory"].ID, "mallory.old@contoso.com", "m.allory@contoso.com")
	g.graph.SetAddresses(g.users["trent"].ID, "mallory@contoso.com", "trent@contoso.com")
}

// messageText flattens what a message shows.
func messageText(m chat.Message) string {
	parts := []string{m.Title, m.Text, m.Pre, m.Footer}
	for _, f := range m.Fields {
		parts = append(parts, f.Label+": "+f.Value)
	}
	for _, l := range m.Lines {
		parts = append(parts, l.Text+" — "+l.Detail)
	}
	return strings.Join(parts, "\n")
}
