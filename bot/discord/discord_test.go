package discord

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/countersign/countersign/approvals"
	"github.com/countersign/countersign/bot"
	"github.com/countersign/countersign/bot/adaptertest"
	"github.com/countersign/countersign/bot/chat"
	"github.com/countersign/countersign/bot/discord/discordtest"
)

const (
	token    = "fake-bot-token"
	appID    = "1000000000000000001"
	guildID  = "900000000000000001"
	channel  = "900000000000000002"
	other    = "900000000000000003"
	roleSOC  = "900000000000000010"
	roleLead = "900000000000000011"
)

var (
	alice = discordtest.User{ID: "4141", Name: "alice", Roles: []string{roleSOC}}
	bob   = discordtest.User{ID: "4242", Name: "bob", Roles: []string{roleSOC, roleLead}}
	eve   = discordtest.User{ID: "6666", Name: "eve"}
)

type env struct {
	t        *testing.T
	fake     *discordtest.Server
	signer   *discordtest.Signer
	a        *Adapter
	h        *adaptertest.Recorder
	srv      *httptest.Server
	now      time.Time
	endpoint string
}

// newEnv starts the fake Discord and an adapter in HTTP mode (gateway
// false) or Gateway mode.
func newEnv(t *testing.T, gateway bool, mut ...func(*Config)) *env {
	t.Helper()
	fake := discordtest.New(t, discordtest.Options{Token: token, AppID: appID, GuildID: guildID,
		Channels: []string{channel, other}, HeartbeatInterval: 200 * time.Millisecond})
	for _, u := range []discordtest.User{alice, bob, eve} {
		fake.AddMember(u)
	}
	e := &env{t: t, fake: fake, signer: discordtest.NewSigner(), h: &adaptertest.Recorder{}, now: time.Now()}
	cfg := Config{BotToken: token, ApplicationID: appID, GuildID: guildID, APIURL: fake.APIURL(),
		Channels: []string{channel}, RequesterRoles: []string{roleSOC}, ApproverRoles: []string{roleLead},
		People: []approvals.Person{{Name: "alice", Discord: alice.ID}, {Name: "bob", Discord: bob.ID}, {Name: "carol", Discord: "7777"}},
		Now:    func() time.Time { return e.now }}
	if !gateway {
		cfg.PublicKey = e.signer.PublicKey()
	}
	for _, m := range mut {
		m(&cfg)
	}
	a, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	e.a = a
	if !gateway {
		e.srv = httptest.NewServer(a.Interactions(e.h))
		t.Cleanup(e.srv.Close)
		e.endpoint = e.srv.URL + "/discord/interactions"
	}
	return e
}

func (e *env) ctx() context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	e.t.Cleanup(cancel)
	return ctx
}

// deliver sends in over HTTP, signed now.
func (e *env) deliver(in *discordtest.Interaction) discordtest.Result {
	e.t.Helper()
	res, err := e.fake.Deliver(e.ctx(), e.srv.Client(), e.endpoint, e.signer, in, e.now)
	if err != nil {
		e.t.Fatal(err)
	}
	return res
}

func (e *env) noViolations() {
	e.t.Helper()
	if v := e.fake.Violations(); len(v) > 0 {
		e.t.Errorf("the fake refused requests: %q", v)
	}
}

func card(id int64) chat.Message {
	return chat.Message{Request: id, Title: "Disable 1 account", Tone: chat.ToneWaiting, Text: "Requested by alice: phishing",
		Fields:  []chat.Field{{Label: "Provider", Value: "Trend Micro"}, {Label: "Hash", Value: "7f3a9c", Code: true}},
		Lines:   []chat.Line{{Mark: chat.MarkPending, Text: "mallory@contoso.com", Detail: "waiting"}},
		Footer:  "ref 7f3a · expires in 1h",
		Buttons: []chat.Button{{Label: "Approve", Style: chat.StylePrimary, Value: "approve:42:7f3a9c"}, {Label: "Deny", Style: chat.StyleDanger, Value: "deny:42:7f3a9c"}}}
}

func TestChatPostUpdateReply(t *testing.T) {
	e := newEnv(t, false)
	ctx := e.ctx()
	h, err := e.a.Post(ctx, channel, card(42))
	if err != nil {
		t.Fatal(err)
	}
	if h.Platform != bot.PlatformDiscord || h.Channel != channel || h.ID == "" || h.Thread != "" {
		t.Fatalf("got handle %+v", h)
	}
	m, ok := e.fake.Message(h.ID)
	if !ok {
		t.Fatal("card not stored")
	}
	if got := m.Buttons(); len(got) != 2 || got[0].CustomID != "approve:42:7f3a9c" || got[0].Style != 3 || got[1].Style != 4 {
		t.Errorf("got buttons %+v", got)
	}
	if !strings.Contains(m.Text(), "mallory\\@contoso.com — waiting") || !strings.Contains(m.Text(), "⏳") {
		t.Errorf("card text %q lacks the escaped target line", m.Text())
	}
	// First reply starts the thread.
	r1, err := e.a.Reply(ctx, h, chat.Message{Request: 42, Text: "Running: 0 of 1 done"})
	if err != nil {
		t.Fatal(err)
	}
	if r1.Channel != channel || r1.Thread != h.ID || r1.ID == r1.Thread {
		t.Fatalf("got reply handle %+v", r1)
	}
	name, msgs, ok := e.fake.Thread(h.ID)
	if !ok || name != "Request #42" || len(msgs) != 1 || e.fake.ThreadArchive(h.ID) != 1440 {
		t.Fatalf("thread %q ok=%v msgs=%d archive=%d", name, ok, len(msgs), e.fake.ThreadArchive(h.ID))
	}
	// The card handle now carries the thread; a second reply goes in.
	h.Thread = r1.Thread
	r2, err := e.a.Reply(ctx, h, chat.Message{Request: 42, Title: "Done"})
	if err != nil {
		t.Fatal(err)
	}
	// A handle rebuilt without the thread finds the existing one.
	r3, err := e.a.Reply(ctx, chat.Handle{Platform: bot.PlatformDiscord, Channel: channel, ID: h.ID}, chat.Message{Request: 42, Text: "again"})
	if err != nil {
		t.Fatal(err)
	}
	if r3.Thread != h.ID {
		t.Errorf("rebuilt reply went to thread %q, want %q", r3.Thread, h.ID)
	}
	// Update the progress reply (in the thread) and the card (no buttons).
	if err := e.a.Update(ctx, r1, chat.Message{Request: 42, Text: "Running: 1 of 1 done"}); err != nil {
		t.Fatal(err)
	}
	decided := card(42)
	decided.Buttons, decided.Tone = nil, chat.ToneGood
	if err := e.a.Update(ctx, h, decided); err != nil {
		t.Fatal(err)
	}
	_, msgs, _ = e.fake.Thread(h.ID)
	if len(msgs) != 3 || msgs[0].ID != r1.ID || msgs[1].ID != r2.ID || msgs[0].Edits != 1 || !strings.Contains(msgs[0].Text(), "1 of 1") {
		t.Errorf("thread messages wrong: %d, first edits %d", len(msgs), msgs[0].Edits)
	}
	m, _ = e.fake.Message(h.ID)
	if len(m.Buttons()) != 0 || m.Edits != 1 {
		t.Errorf("decided card has buttons %+v, edits %d", m.Buttons(), m.Edits)
	}
	e.noViolations()
}

func TestHTTPCommandFlow(t *testing.T) {
	e := newEnv(t, false)
	e.h.OnCommand = func(c bot.Command) bot.Response {
		go func() {
			// Follow-ups arrive after the acknowledgement.
			_ = c.Reply.Respond(context.Background(), chat.Message{Title: "Preview", Text: "would disable @everyone"})
		}()
		return bot.Response{Message: &chat.Message{Text: "Looking up 2 targets…"}}
	}
	in := e.fake.NewCommand(alice, discordtest.Where{Channel: channel}, "disable",
		discordtest.String("targets", "mallory@contoso.com, eve@contoso.com"),
		discordtest.String("reason", "phishing wave, INC-4711"), discordtest.String("provider", "tmcas"),
		discordtest.Bool("dry-run", true))
	res := e.deliver(in)
	if res.Status != http.StatusOK || res.Response == nil || res.Response.Type != 4 || !res.Response.Data.Ephemeral() {
		t.Fatalf("got %d %s", res.Status, res.Body)
	}
	if !strings.Contains(res.Response.Data.Text(), "Looking up 2 targets") {
		t.Errorf("response %q", res.Response.Data.Text())
	}
	fu, err := e.fake.WaitFollowups(e.ctx(), in, 1)
	if err != nil {
		t.Fatal(err)
	}
	if !fu[0].Ephemeral() || !strings.Contains(fu[0].Text(), `\@everyone`) {
		t.Errorf("follow-up %q ephemeral=%v", fu[0].Text(), fu[0].Ephemeral())
	}
	c := e.h.Commands()[0]
	want := `mallory@contoso.com eve@contoso.com --reason "phishing wave, INC-4711" --provider tmcas --dry-run`
	if c.Name != "disable" || c.Text != want || c.Channel != channel {
		t.Errorf("got command %q %q in %q, want text %q", c.Name, c.Text, c.Channel, want)
	}
	if c.User.Platform != "discord" || c.User.ID != alice.ID || c.User.Name != "alice" || len(c.User.Roles) != 1 || c.User.Roles[0] != roleSOC {
		t.Errorf("got user %+v", c.User)
	}
	e.noViolations()
}
