package discord

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/countersign/countersign/approvals"
	"github.com/countersign/countersign/bot"
	"github.com/countersign/countersign/bot/adaptertest"
	"github.com/countersign/countersign/bot/chat"
	"github.com/countersign/countersign/bot/discord/discordtest"
)

// clickDenyFlow runs click Approve, click Deny → modal, submit reason,
// with send delivering one interaction and returning its answer.
func clickDenyFlow(t *testing.T, e *env, send func(*discordtest.Interaction) *discordtest.Response) {
	ctx := e.ctx()
	h, err := e.a.Post(ctx, channel, card(42))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.a.Reply(ctx, h, chat.Message{Request: 42, Text: "progress"}); err != nil {
		t.Fatal(err)
	}
	e.h.OnClick = func(c bot.Click) bot.Response {
		if strings.HasPrefix(c.Value, "deny:") {
			return bot.Response{Dialog: &chat.Dialog{ID: c.Value, Title: "Deny request #42", Label: "Reason",
				Hint: "Why is this request denied?", Required: true, MaxLen: 500}}
		}
		return bot.Response{Message: &chat.Message{Text: "You approved request #42."}}
	}
	e.h.OnSubmit = func(s bot.Submit) bot.Response {
		return bot.Response{Message: &chat.Message{Text: "You denied request #42."}}
	}
	// A click is answered as a (deferred) update of the card; what the
	// clicker is told follows privately.
	in := e.fake.NewClick(bob, h.ID, "approve:42:7f3a9c")
	r := send(in)
	if r == nil || r.Type != 6 {
		t.Fatalf("approve answer %+v, want type 6 (deferred update of the card)", r)
	}
	msgs, err := e.fake.WaitFollowups(ctx, in, 1)
	if err != nil || !msgs[0].Ephemeral() || !strings.Contains(msgs[0].PlainText(), "approved request #42") {
		t.Fatalf("approve follow-up %+v, %v", msgs, err)
	}
	r = send(e.fake.NewClick(bob, h.ID, "deny:42:7f3a9c"))
	if r == nil || r.Type != 9 || r.CustomID != "deny:42:7f3a9c" || r.Title != "Deny request #42" {
		t.Fatalf("deny answer %+v", r)
	}
	input := r.Data.Components[0].Components[0]
	if input.Type != 4 || input.Style != 1 || // short: a reason is one line
		input.Required == nil || !*input.Required || input.MaxLength != 500 {
		t.Errorf("modal input %+v", input)
	}
	r = send(e.fake.NewSubmit(bob, h.ID, r.CustomID, input.CustomID, "not our tenant"))
	if r == nil || r.Type != 4 || !r.Data.Ephemeral() || !strings.Contains(r.Data.PlainText(), "denied request #42") {
		t.Fatalf("submit answer %+v", r)
	}
	want := chat.Handle{Platform: bot.PlatformDiscord, Channel: channel, ID: h.ID, Thread: h.ID}
	if clicks := e.h.Clicks(); len(clicks) != 2 || clicks[0].Message != want || clicks[0].Value != "approve:42:7f3a9c" || clicks[0].User.ID != bob.ID {
		t.Errorf("clicks %+v, want message %+v", clicks, want)
	}
	if submits := e.h.Submits(); len(submits) != 1 || submits[0].Dialog != "deny:42:7f3a9c" || submits[0].Value != "not our tenant" || submits[0].Message != want {
		t.Errorf("submits %+v", submits)
	}
}

func TestHTTPClickModalSubmit(t *testing.T) {
	e := newEnv(t, false)
	clickDenyFlow(t, e, func(in *discordtest.Interaction) *discordtest.Response {
		res := e.deliver(in)
		if res.Status != http.StatusOK {
			t.Fatalf("got %d %s", res.Status, res.Body)
		}
		return res.Response
	})
	e.noViolations()
}

func TestHTTPPingAndNilResponse(t *testing.T) {
	e := newEnv(t, false)
	res := e.deliver(e.fake.NewPing())
	if res.Status != http.StatusOK || strings.TrimSpace(string(res.Body)) != `{"type":1}` {
		t.Errorf("PING answered %d %s", res.Status, res.Body)
	}
	e.h.OnClick = func(bot.Click) bot.Response { return bot.Response{} }
	h, err := e.a.Post(e.ctx(), channel, card(1))
	if err != nil {
		t.Fatal(err)
	}
	res = e.deliver(e.fake.NewClick(bob, h.ID, "approve:1:x"))
	if res.Response == nil || res.Response.Type != 6 {
		t.Errorf("nil message answered %s, want type 6", res.Body)
	}
	e.noViolations()
}

func TestHTTPRefusals(t *testing.T) {
	e := newEnv(t, false)
	tests := []struct {
		name string
		in   *discordtest.Interaction
		want string
	}{
		{"direct message", e.fake.NewCommand(alice, discordtest.Where{DM: true}, "pending"), "not in direct messages"},
		{"another guild", e.fake.NewCommand(alice, discordtest.Where{Guild: "123", Channel: channel}, "pending"), "one Discord server only"},
		{"channel not allowed", e.fake.NewCommand(alice, discordtest.Where{Channel: other}, "pending"), "not accepted in this channel"},
		{"unknown command", e.fake.NewCommand(alice, discordtest.Where{Channel: channel}, "frobnicate"), "does not know the command"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := e.deliver(tt.in)
			if res.Status != http.StatusOK || res.Response == nil || res.Response.Type != 4 || !res.Response.Data.Ephemeral() {
				t.Fatalf("got %d %s", res.Status, res.Body)
			}
			// Escaped for markdown, so compare without backslashes.
			if got := strings.ReplaceAll(res.Response.Data.Content, `\`, ""); !strings.Contains(got, tt.want) {
				t.Errorf("got %q, want it to contain %q", got, tt.want)
			}
		})
	}
	if n := e.h.Calls(); n != 0 {
		t.Errorf("handler called %d times", n)
	}
	e.noViolations()
}

func TestGatewayFlow(t *testing.T) {
	e := newEnv(t, true)
	adaptertest.Run(t, e.a, e.h)
	if err := e.fake.WaitConnected(e.ctx()); err != nil {
		t.Fatal(err)
	}
	e.h.OnCommand = func(c bot.Command) bot.Response {
		go func() { _ = c.Reply.Respond(context.Background(), chat.Message{Text: "preview ready"}) }()
		return bot.Response{Message: &chat.Message{Text: "Looking up 1 target…"}}
	}
	in := e.fake.NewCommand(alice, discordtest.Where{Channel: channel}, "disable",
		discordtest.String("targets", "mallory@contoso.com"), discordtest.String("reason", "phish"))
	if err := e.fake.Dispatch(in); err != nil {
		t.Fatal(err)
	}
	r, err := e.fake.WaitAnswer(e.ctx(), in)
	if err != nil {
		t.Fatal(err)
	}
	if r.Type != 4 || !r.Data.Ephemeral() || !strings.Contains(r.Data.Text(), "Looking up 1 target") {
		t.Errorf("answer %+v", r)
	}
	if _, err := e.fake.WaitFollowups(e.ctx(), in, 1); err != nil {
		t.Fatal(err)
	}
	if got := e.h.Commands()[0].Text; got != "mallory@contoso.com --reason phish" {
		t.Errorf("command text %q", got)
	}
	// The same INTERACTION_CREATE twice (a second replica's copy, a
	// resend): answered once, handled once.
	if err := e.fake.Dispatch(in); err != nil {
		t.Fatal(err)
	}
	clickDenyFlow(t, e, func(in *discordtest.Interaction) *discordtest.Response {
		if err := e.fake.Dispatch(in); err != nil {
			t.Fatal(err)
		}
		r, err := e.fake.WaitAnswer(e.ctx(), in)
		if err != nil {
			t.Fatal(err)
		}
		return r
	})
	if n := len(e.h.Commands()); n != 1 {
		t.Errorf("command handled %d times", n)
	}
	if n := e.fake.Callbacks(in); n != 1 {
		t.Errorf("%d callbacks for one interaction", n)
	}
	// Heartbeats are sent every 200 ms and acknowledged.
	if err := e.fake.Wait(e.ctx(), func() bool { _, hb, _ := e.fake.GatewayStats(); return hb >= 1 }); err != nil {
		t.Error("no heartbeat:", err)
	}
	e.noViolations()
}

func TestGatewayWrongToken(t *testing.T) {
	e := newEnv(t, true, func(c *Config) { c.BotToken = "wrong" })
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := e.a.Run(ctx, e.h)
	if err == nil {
		t.Fatal("Run with a wrong token succeeded")
	}
	if _, _, refused := e.fake.GatewayStats(); refused != 1 {
		t.Errorf("refused %d identifies, want 1 (err %v)", refused, err)
	}
}

func TestRunRefusesHTTPMode(t *testing.T) {
	e := newEnv(t, false)
	if err := e.a.Run(e.ctx(), e.h); err == nil {
		t.Error("Run in HTTP mode succeeded")
	}
}

func TestAccess(t *testing.T) {
	e := newEnv(t, false)
	ctx := e.ctx()
	u := func(d discordtest.User) bot.User {
		return bot.User{Platform: bot.PlatformDiscord, ID: d.ID, Name: d.Name, Roles: d.Roles}
	}
	if p, err := e.a.Person(ctx, u(bob)); err != nil || p != "bob" {
		t.Errorf("Person(bob) = %q, %v", p, err)
	}
	if _, err := e.a.Person(ctx, u(eve)); !errors.Is(err, approvals.ErrUnknownPerson) {
		t.Errorf("Person(eve) error %v, want ErrUnknownPerson", err)
	}
	check := func(name string, f func(context.Context, bot.User) (bool, error), user bot.User, want bool) {
		t.Helper()
		if got, err := f(ctx, user); err != nil || got != want {
			t.Errorf("%s(%s) = %v, %v; want %v", name, user.Name, got, err, want)
		}
	}
	check("MayRequest", e.a.MayRequest, u(alice), true)
	check("MayRequest", e.a.MayRequest, u(eve), false)
	check("MayApprove", e.a.MayApprove, u(alice), false)
	check("MayApprove", e.a.MayApprove, u(bob), true)
	restricted := u(bob)
	restricted.Restricted = true
	check("MayApprove", e.a.MayApprove, restricted, false)
	check("MayRequest", e.a.MayRequest, restricted, false)
	slackBob := u(bob)
	slackBob.Platform = bot.PlatformSlack
	check("MayApprove", e.a.MayApprove, slackBob, false)
	// carol (7777) is in people: but not in the guild.
	got, err := e.a.Approvers(ctx)
	if err != nil || len(got) != 1 || got[0] != "bob" {
		t.Errorf("Approvers = %v, %v; want [bob]", got, err)
	}
	memberGets := func() int {
		n := 0
		for _, r := range e.fake.Requests() {
			if r.Route == "GET /guilds/{guild}/members/{user}" {
				n++
			}
		}
		return n
	}
	before := memberGets()
	if _, err := e.a.Approvers(ctx); err != nil {
		t.Fatal(err)
	}
	if n := memberGets(); n != before {
		t.Errorf("cached lookups made %d more requests", n-before)
	}
	e.now = e.now.Add(61 * time.Second)
	if _, err := e.a.Approvers(ctx); err != nil {
		t.Fatal(err)
	}
	if n := memberGets(); n != before+3 {
		t.Errorf("after a minute %d lookups, want %d", n-before, 3)
	}
	if err := e.a.Ready(ctx); err != nil {
		t.Errorf("Ready: %v", err)
	}
	bad, err := New(Config{BotToken: "wrong", ApplicationID: appID, GuildID: guildID, APIURL: e.fake.APIURL(), ApproverRoles: []string{roleLead}})
	if err != nil {
		t.Fatal(err)
	}
	if err := bad.Ready(ctx); err == nil || strings.Contains(err.Error(), "wrong") {
		t.Errorf("Ready with a wrong token: %v", err)
	}
}

// Discord unreachable at start-up (here: the gateway lookup answers 429
// twice) does not leave serve without chat: Run keeps trying.
func TestGatewayRetriesConnect(t *testing.T) {
	e := newEnv(t, true)
	e.fake.RateLimit("GET /gateway", 2, 10*time.Millisecond)
	adaptertest.Run(t, e.a, e.h)
	if err := e.fake.WaitConnected(e.ctx()); err != nil {
		t.Fatalf("no gateway connection after two refused attempts: %v", err)
	}
}
