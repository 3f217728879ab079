package bot_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/countersign/countersign/approvals"
	"github.com/countersign/countersign/bot"
	"github.com/countersign/countersign/bot/chat"
	"github.com/countersign/countersign/commands"
	"github.com/countersign/countersign/internal/store"
	"github.com/countersign/countersign/internal/testdb"
	"github.com/countersign/countersign/providers"
	"github.com/countersign/countersign/providers/tmcas"
	"github.com/countersign/countersign/providers/tmcas/tmcastest"
	"github.com/countersign/countersign/workflow"
)

var t0 = time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)

// recorder records what the bot shows; failPost makes Post fail.
type recorder struct {
	mu       sync.Mutex
	next     int
	posts    map[string]chat.Message // latest version by id
	replies  []chat.Message
	private  []chat.Message
	failPost bool
	updates  int
}

func (c *recorder) Post(_ context.Context, channel string, m chat.Message) (chat.Handle, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.failPost {
		return chat.Handle{}, errors.New("chat.postMessage: channel_not_found")
	}
	c.next++
	id := fmt.Sprint(c.next)
	c.posts[id] = m
	return chat.Handle{Platform: "test", Channel: channel, ID: id}, nil
}

func (c *recorder) Update(_ context.Context, h chat.Handle, m chat.Message) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.updates++
	c.posts[h.ID] = m
	return nil
}

func (c *recorder) Reply(_ context.Context, parent chat.Handle, m chat.Message) (chat.Handle, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.next++
	id := fmt.Sprint(c.next)
	c.posts[id] = m
	c.replies = append(c.replies, m)
	return chat.Handle{Platform: "test", Channel: parent.Channel, ID: id, Thread: parent.ID}, nil
}

func (c *recorder) Respond(_ context.Context, m chat.Message) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.private = append(c.private, m)
	return nil
}

func (c *recorder) card(id string) chat.Message {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.posts[id]
}

func (c *recorder) lastPrivate() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.private) == 0 {
		return ""
	}
	return c.private[len(c.private)-1].Text
}

// access: people are user ids; approvers listed.
type access struct{ approvers []string }

func (a access) Person(_ context.Context, u bot.User) (string, error) {
	if u.ID == "stranger" {
		return "", approvals.ErrUnknownPerson
	}
	return u.ID, nil
}
func (a access) MayRequest(context.Context, bot.User) (bool, error) { return true, nil }
func (a access) MayApprove(_ context.Context, u bot.User) (bool, error) {
	for _, p := range a.approvers {
		if p == u.ID {
			return true, nil
		}
	}
	return false, nil
}
func (a access) Approvers(context.Context) ([]string, error) { return a.approvers, nil }

type fixture struct {
	bot   *bot.Bot
	chat  *recorder
	store *store.Store
	fake  *tmcastest.Server
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	st := testdb.Store(t, testdb.SQLite(t))
	fake := tmcastest.New(tmcastest.Options{Limit: -1})
	t.Cleanup(fake.Close)
	client, err := tmcas.New(tmcas.Config{BaseURL: fake.URL(), Token: fake.Token()})
	if err != nil {
		t.Fatal(err)
	}
	router, err := providers.NewRouter(nil, client)
	if err != nil {
		t.Fatal(err)
	}
	c := &recorder{posts: map[string]chat.Message{}}
	refs := 0
	now := func() time.Time { return t0 }
	wf, err := workflow.New(workflow.Config{Store: st, Providers: router, Now: now,
		Policy: approvals.Policy{ApprovalsRequired: 1, RequestTTL: time.Hour, MaxTargets: 10, RequireReason: true, Protected: []string{"ceo@contoso.com"}}})
	if err != nil {
		t.Fatal(err)
	}
	b, err := bot.New(bot.Config{
		Workflow: wf, Store: st,
		Chats:  map[string]bot.Chat{"test": c},
		Access: map[string]bot.Access{"test": access{approvers: []string{"bob", "carol"}}},
		Now:    now,
		NewRef: func() string { refs++; return fmt.Sprintf("ref%d", refs) },
	})
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{bot: b, chat: c, store: st, fake: fake}
}

func user(name string) bot.User { return bot.User{Platform: "test", ID: name, Name: name} }

func (f *fixture) command(t *testing.T, who, name, text string) bot.Response {
	t.Helper()
	r := f.bot.Command(context.Background(), bot.Command{User: user(who), Channel: "C1", Name: name, Text: text, Reply: f.chat})
	f.bot.Wait()
	return r
}

func (f *fixture) click(t *testing.T, who, value string) bot.Response {
	t.Helper()
	r := f.bot.Click(context.Background(), bot.Click{User: user(who), Message: chat.Handle{Platform: "test", Channel: "C1", ID: "1"}, Value: value})
	f.bot.Wait()
	return r
}

func buttonValue(t *testing.T, m chat.Message, label string) string {
	t.Helper()
	for _, b := range m.Buttons {
		if b.Label == label {
			return b.Value
		}
	}
	t.Fatalf("card %q has no %s button: %+v", m.Title, label, m.Buttons)
	return ""
}

func TestFileAndApprove(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	ack := f.command(t, "bob", "disable", `Mallory@Contoso.com --reason "phishing"`)
	if ack.Message == nil || !strings.Contains(ack.Message.Text, "Looking up 1 target") {
		t.Fatalf("ack = %+v", ack.Message)
	}
	card := f.chat.card("1")
	if !strings.HasPrefix(card.Title, "#1 ") || card.Request != 1 || len(card.Buttons) != 2 {
		t.Fatalf("card = %+v", card)
	}
	if got := f.chat.lastPrivate(); got != "Filed request #1. Waiting for 1 approval from: carol." {
		t.Errorf("private reply = %q", got)
	}
	approve := buttonValue(t, card, "Approve")
	if card.Buttons[0].Confirm == nil {
		t.Errorf("Approve on a disable has no confirmation")
	}

	// The requester is an approver too, but never of their own request.
	r := f.click(t, "bob", approve)
	if r.Message == nil || !strings.Contains(r.Message.Text, "cannot approve or deny your own request") || r.Message.Footer != "ref ref1" {
		t.Errorf("self-approval answer = %+v", r.Message)
	}
	// Someone who is no approver.
	r = f.click(t, "dave", approve)
	if r.Message == nil || !strings.Contains(r.Message.Text, "not an approver") {
		t.Errorf("non-approver answer = %+v", r.Message)
	}
	// A forged hash is refused.
	forged := approve[:strings.LastIndex(approve, ":")+1] + "000000000000"
	r = f.click(t, "carol", forged)
	if r.Message == nil || !strings.Contains(r.Message.Text, "does not match") {
		t.Errorf("forged hash answer = %+v", r.Message)
	}
	if req, _ := f.store.Get(ctx, 1); req.State != approvals.StatePending {
		t.Fatalf("state after refusals = %s, want pending", req.State)
	}

	r = f.click(t, "carol", approve)
	if r.Message == nil || r.Message.Text != "You approved request #1. It runs now." {
		t.Errorf("approval answer = %+v", r.Message)
	}
	req, err := f.store.Get(ctx, 1)
	if err != nil || req.State != approvals.StateApproved {
		t.Fatalf("state = %s, %v; want approved", req.State, err)
	}
	card = f.chat.card("1")
	if len(card.Buttons) != 0 || card.Text != "Approved; starting." {
		t.Errorf("card after approval: text %q, buttons %v", card.Text, card.Buttons)
	}
	// Renders that change nothing make no platform call.
	f.chat.mu.Lock()
	before := f.chat.updates
	f.chat.mu.Unlock()
	f.bot.Changed(ctx, 1)
	f.bot.Changed(ctx, 1)
	f.chat.mu.Lock()
	after := f.chat.updates
	f.chat.mu.Unlock()
	if after != before {
		t.Errorf("%d edits for renders that changed nothing", after-before)
	}
}

func TestDenyNeedsReasonDialog(t *testing.T) {
	f := newFixture(t)
	f.command(t, "bob", "disable", `eve@contoso.com --reason "odd"`)
	deny := buttonValue(t, f.chat.card("1"), "Deny")
	r := f.click(t, "carol", deny)
	if r.Dialog == nil || r.Dialog.ID != deny || !r.Dialog.Required {
		t.Fatalf("deny click answered %+v, want a dialog", r)
	}
	bad := f.bot.Submit(context.Background(), bot.Submit{User: user("carol"), Dialog: r.Dialog.ID, Value: "  \x07 "})
	if bad.Message == nil || bad.Message.Text != "The reason contains the control character U+0007. Type the reason again rather than pasting it" {
		t.Errorf("empty reason answered %+v", bad.Message)
	}
	ok := f.bot.Submit(context.Background(), bot.Submit{User: user("carol"), Dialog: r.Dialog.ID, Value: "known traveller"})
	f.bot.Wait()
	if ok.Message == nil || ok.Message.Text != "You denied request #1." {
		t.Fatalf("denial answered %+v", ok.Message)
	}
	req, _ := f.store.Get(context.Background(), 1)
	if req.State != approvals.StateDenied || req.Denial == nil || req.Denial.Reason != "known traveller" {
		t.Errorf("request after denial: %s %+v", req.State, req.Denial)
	}
}

func TestRefusedBeforeFiling(t *testing.T) {
	tests := []struct {
		name, who, text string // text follows /countersign
		user            func(bot.User) bot.User
		want            string
	}{
		{"protected", "bob", `disable ceo@contoso.com --reason x`, nil, "ceo@contoso.com is protected"},
		{"no reason", "bob", `disable eve@contoso.com`, nil, "A reason is required"},
		{"too many", "bob", `disable a@c.io b@c.io c@c.io d@c.io e@c.io f@c.io g@c.io h@c.io i@c.io j@c.io k@c.io --reason x`, nil, "Too many targets: 11, the limit is 10"},
		{"unknown person", "stranger", `disable eve@contoso.com --reason x`, nil, "not in Countersign's people list"},
		{"restricted", "bob", `disable eve@contoso.com --reason x`, func(u bot.User) bot.User { u.Restricted = true; return u }, "may not use Countersign"},
		{"parse error", "bob", `disable eve --reason x`, nil, "Eve"},
		{"provider not configured", "bob", `disable eve@contoso.com --reason x --provider graph`, nil, `No configured provider can do that. Provider "graph" is not configured.`},
		{"provider cannot", "bob", `enable eve@contoso.com --reason x`, nil, "No configured provider can do that. No configured provider supports enable."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			u := user(tt.who)
			if tt.user != nil {
				u = tt.user(u)
			}
			r := f.bot.Command(context.Background(), bot.Command{User: u, Channel: "C1", Name: "countersign", Text: tt.text, Reply: f.chat})
			f.bot.Wait()
			if r.Message == nil || !strings.Contains(strings.ToLower(r.Message.Text), strings.ToLower(tt.want)) || !strings.HasPrefix(r.Message.Footer, "ref") {
				t.Errorf("answer = %+v, want text with %q and a reference", r.Message, tt.want)
			}
			if rs, _ := f.store.List(context.Background(), approvals.Filter{}); len(rs) != 0 {
				t.Errorf("%d requests stored, want none", len(rs))
			}
			if len(f.chat.posts) != 0 {
				t.Errorf("posted %d messages, want none", len(f.chat.posts))
			}
		})
	}
}

func TestFailedPostWithdrawsRequest(t *testing.T) {
	f := newFixture(t)
	f.chat.failPost = true
	f.command(t, "bob", "disable", `eve@contoso.com --reason x`)
	req, err := f.store.Get(context.Background(), 1)
	if err != nil || req.State != approvals.StateCancelled {
		t.Fatalf("request after a failed post: %s, %v; want cancelled", req.State, err)
	}
	if got := f.chat.lastPrivate(); !strings.Contains(got, "Something went wrong") || strings.Contains(got, "channel_not_found") {
		t.Errorf("reply = %q, want a generic error with a reference and no internal detail", got)
	}
}

func TestMalformedButton(t *testing.T) {
	f := newFixture(t)
	for _, v := range []string{"", "approve", "approve:x:abc", "approve:-1:abc", "launch:1:abc", "approve:1:"} {
		r := f.click(t, "carol", v)
		if r.Message == nil || !strings.Contains(r.Message.Text, "not one of Countersign's") {
			t.Errorf("value %q answered %+v", v, r.Message)
		}
	}
}

func TestStatusPendingCancel(t *testing.T) {
	f := newFixture(t)
	f.command(t, "bob", "disable", `eve@contoso.com --reason x`)
	if r := f.command(t, "carol", "countersign", "pending"); r.Message == nil || len(r.Message.Lines) != 1 || !strings.HasPrefix(r.Message.Lines[0].Text, "#1 ") {
		t.Errorf("pending = %+v", r.Message)
	}
	if r := f.command(t, "carol", "countersign", "status 1"); r.Message == nil || r.Message.Request != 1 || len(r.Message.Buttons) != 0 {
		t.Errorf("status = %+v", r.Message)
	}
	if r := f.command(t, "carol", "countersign", "cancel 1"); r.Message == nil || !strings.Contains(r.Message.Text, "Only the requester or an administrator") {
		t.Errorf("cancel by another = %+v", r.Message)
	}
	if r := f.command(t, "bob", "countersign", "cancel 1"); r.Message == nil || r.Message.Text != "Cancelled request #1." {
		t.Errorf("cancel by requester = %+v", r.Message)
	}
	if card := f.chat.card("1"); card.Text != "Cancelled." || len(card.Buttons) != 0 {
		t.Errorf("card after cancel: %q, %d buttons", card.Text, len(card.Buttons))
	}
	if r := f.command(t, "bob", "countersign", "status 99"); r.Message == nil || r.Message.Text != "There is no such request." {
		t.Errorf("status of a missing request = %+v", r.Message)
	}
}

// TestDenyDialogAcceptsWhatReasonAccepts reproduces issue 15: the deny
// dialog took reasons that --reason refuses. Each value is tried as
// --reason and in the dialog; both must agree with want.
func TestDenyDialogAcceptsWhatReasonAccepts(t *testing.T) {
	tests := []struct {
		name, value string
		want        bool // accepted
	}{
		{"blank", "   ", false},
		{"bell", "a\x07b", false},
		{"line break", "known\ntraveller", false},
		{"line separator", "known\u2028traveller", false},
		{"bidi override", "abc\u202edcba", false},
		{"bidi isolate", "abc\u2067dcba", false},
		{"right-to-left mark", "abc\u200fdcba", false},
		{"too long", strings.Repeat("x", commands.MaxReason+1), false},
		{"longest", strings.Repeat("x", commands.MaxReason), true},
		{"plain", "known traveller", true},
		{"emoji", "false positive ⚠️ 🧑‍💻", true},
	}
	f := newFixture(t)
	f.command(t, "bob", "disable", `eve@contoso.com --reason "odd"`)
	deny := buttonValue(t, f.chat.card("1"), "Deny")
	r := f.click(t, "carol", deny)
	if r.Dialog == nil {
		t.Fatalf("deny click answered %+v, want a dialog", r)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := commands.Parse("disable", "eve@contoso.com --reason "+commands.Quote(tt.value))
			if got := err == nil; got != tt.want {
				t.Fatalf("--reason %q accepted = %v (%v), want %v", tt.value, got, err, tt.want)
			}
			if tt.want {
				return // accepting one would deny the request; see below
			}
			resp := f.bot.Submit(context.Background(), bot.Submit{User: user("carol"), Dialog: r.Dialog.ID, Value: tt.value})
			f.bot.Wait()
			req, err := f.store.Get(context.Background(), 1)
			if err != nil {
				t.Fatal(err)
			}
			if req.State != approvals.StatePending || resp.Message == nil || resp.Message.Tone != chat.ToneBad {
				t.Errorf("dialog %q: request %s, answered %+v; want it refused", tt.value, req.State, resp.Message)
			}
		})
	}
	ok := f.bot.Submit(context.Background(), bot.Submit{User: user("carol"), Dialog: r.Dialog.ID, Value: "false positive ⚠️ 🧑‍💻"})
	f.bot.Wait()
	if req, _ := f.store.Get(context.Background(), 1); req.State != approvals.StateDenied || ok.Message == nil || ok.Message.Text != "You denied request #1." {
		t.Errorf("dialog with an accepted reason: request %s, answered %+v", req.State, ok.Message)
	}
}
