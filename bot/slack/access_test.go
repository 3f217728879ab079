package slackbot_test

import (
	"context"
	"errors"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/countersign/countersign/approvals"
	"github.com/countersign/countersign/bot"
	"github.com/countersign/countersign/bot/adaptertest"
	"github.com/countersign/countersign/bot/chat"
	slackbot "github.com/countersign/countersign/bot/slack"
	"github.com/countersign/countersign/bot/slack/slacktest"
	"github.com/countersign/countersign/internal/bottest"
)

func TestAccess(t *testing.T) {
	fake := slacktest.New(slacktest.Limits{})
	defer fake.Close()
	newDriver(fake)
	fake.AddUser(slacktest.User{ID: "U06GUEST", Name: "guest", Email: "guest@contoso.com", Restricted: true})
	fake.AddUser(slacktest.User{ID: "U07GONE", Name: "gone", Email: "gone@contoso.com", Deleted: true})
	fake.AddUser(slacktest.User{ID: "U08BOT", Name: "bot", IsBot: true})
	fake.SetGroup("S0LEADS", "U02BOB", "U03CAROL", "U06GUEST", "U07GONE", "U08BOT")
	st := bottest.OpenStore(t)
	ppl := append(people(),
		approvals.Person{Name: "guest", Slack: "U06GUEST"}, approvals.Person{Name: "gone", Slack: "U07GONE"},
		approvals.Person{Name: "botty", Slack: "U08BOT"})
	a, err := slackbot.New(slackbot.Config{
		BotToken: slacktest.BotToken, SigningSecret: secret, APIURL: fake.APIURL(),
		Requesters: []string{"U01ALICE", "S0LEADS"}, Approvers: []string{"S0LEADS"},
		People: ppl, Seen: st, CacheTTL: time.Hour,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	user := func(id string) bot.User {
		t.Helper()
		u, err := slackbot.LookupUser(ctx, a, id)
		if err != nil {
			t.Fatal(err)
		}
		return u
	}
	// People by id, and alice by the e-mail Slack verified for her.
	for id, want := range map[string]string{"U01ALICE": "alice", "U02BOB": "bob"} {
		if got, err := a.Person(ctx, user(id)); err != nil || got != want {
			t.Errorf("Person(%s) = %q, %v; want %s", id, got, err, want)
		}
	}
	if _, err := a.Person(ctx, user("U05EVE")); !errors.Is(err, approvals.ErrUnknownPerson) {
		t.Errorf("eve: err = %v, want ErrUnknownPerson", err)
	}
	// A profile e-mail never outranks an explicit id: a stranger whose
	// e-mail is bob's is not bob.
	fake.AddUser(slacktest.User{ID: "U09FAKE", Name: "fake", Email: "bob@contoso.com"})
	if got, err := a.Person(ctx, user("U09FAKE")); err == nil {
		t.Errorf("an account with bob's e-mail but another id became %q", got)
	}
	for id, want := range map[string][2]bool{ // request, approve
		"U01ALICE": {true, false}, "U02BOB": {true, true}, "U04DAVE": {false, false},
		"U06GUEST": {false, false}, "U07GONE": {false, false}, "U08BOT": {false, false},
	} {
		u := user(id)
		r, err1 := a.MayRequest(ctx, u)
		ap, err2 := a.MayApprove(ctx, u)
		if err1 != nil || err2 != nil || r != want[0] || ap != want[1] {
			t.Errorf("%s: MayRequest %v (%v), MayApprove %v (%v); want %v", id, r, err1, ap, err2, want)
		}
	}
	approvers, err := a.Approvers(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"bob", "carol"}; !slices.Equal(approvers, want) {
		t.Errorf("Approvers = %q, want %q (restricted, deleted and bot accounts never approve)", approvers, want)
	}
	// User groups are cached: one usergroups.users.list for all of the above.
	if n := fake.Calls("usergroups.users.list"); n != 1 {
		t.Errorf("usergroups.users.list called %d times, want 1 (cached)", n)
	}
	// A failing group lookup fails closed.
	b, _ := slackbot.New(slackbot.Config{BotToken: slacktest.BotToken, SigningSecret: secret, APIURL: fake.APIURL(),
		Approvers: []string{"S0MISSING"}, People: ppl, Seen: st})
	if ok, err := b.MayApprove(ctx, user("U02BOB")); ok || err == nil {
		t.Errorf("MayApprove with an unknown group = %v, %v; want an error", ok, err)
	}
}

// Commands outside the allowed channels are refused before the bot sees
// them.
func TestChannelAllowList(t *testing.T) {
	fake := slacktest.New(slacktest.Limits{})
	defer fake.Close()
	d := newDriver(fake)
	rec := &adaptertest.Recorder{}
	d.srv = serve(t, newAdapter(t, fake, bottest.OpenStore(t), ""), rec)
	body := d.post(t, "/slack/commands", url.Values{"channel_id": {"C0ELSEWHERE"}, "user_id": {"U02BOB"},
		"command": {"/disable"}, "text": {"mallory@contoso.com"}})
	if !strings.Contains(body, "does not take commands in this channel") {
		t.Fatalf("answer %s", body)
	}
	if rec.Calls() != 0 {
		t.Fatal("a command from another channel reached the bot")
	}
}

// A 429 is honoured: the adapter waits Retry-After and tries again, and
// the message is posted once.
func TestRateLimitedPostIsRetried(t *testing.T) {
	fake := slacktest.New(slacktest.Limits{PostPerChannel: 0.5, PostBurst: 1})
	defer fake.Close()
	st := bottest.OpenStore(t)
	a, err := slackbot.New(slackbot.Config{BotToken: slacktest.BotToken, SigningSecret: secret, APIURL: fake.APIURL(),
		Approvers: []string{"U02BOB"}, Seen: st,
		// Posting faster than the fake allows, so the fake answers 429.
		Limits: slackbot.Limits{PostPerChannel: 100, PostBurst: 10}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for i := range 2 {
		if _, err := a.Post(ctx, channel, chat.Message{Title: "card", Text: strings.Repeat("x", i+1)}); err != nil {
			t.Fatal(err)
		}
	}
	if got := len(fake.Messages(channel)); got != 2 {
		t.Fatalf("%d messages posted, want 2", got)
	}
	if n := fake.RateLimited("chat.postMessage"); n < 1 {
		t.Fatalf("the fake answered %d 429s; the test needs at least one", n)
	}
	if calls, limited := fake.Calls("chat.postMessage"), fake.RateLimited("chat.postMessage"); calls != 2+limited {
		t.Fatalf("%d calls for 2 posts and %d 429s: the adapter retried without waiting", calls, limited)
	}
}
