package slackbot_test

import (
	"strings"
	"testing"
	"time"

	"github.com/countersign/countersign/bot"
	slackbot "github.com/countersign/countersign/bot/slack"
	"github.com/countersign/countersign/bot/slack/slacktest"
	"github.com/countersign/countersign/internal/bottest"
)

// TestCommandPrefixFiles: with slack.command_prefix the manifest's
// /cs-disable files a request as /disable would, and /countersign disable
// still works.
func TestCommandPrefixFiles(t *testing.T) {
	fake := slacktest.New(slacktest.Limits{})
	t.Cleanup(fake.Close)
	st := bottest.OpenStore(t)
	a, err := slackbot.New(slackbot.Config{
		BotToken: slacktest.BotToken, SigningSecret: secret, APIURL: fake.APIURL(),
		Channels: []string{channel}, Approvers: []string{"S0LEADS"},
		CommandPrefix: "cs-", People: people(), Seen: st,
	})
	if err != nil {
		t.Fatal(err)
	}
	sys := bottest.Start(t, st, bottest.Options{
		Chats: map[string]bot.Chat{bot.PlatformSlack: a}, Access: map[string]bot.Access{bot.PlatformSlack: a},
	})
	t.Cleanup(a.Wait)
	d := newDriver(fake)
	d.srv = serve(t, a, sys.Bot)
	for _, line := range []string{
		`/cs-disable mallory@contoso.com --reason "phishing"`,
		`/countersign disable eve@contoso.com --reason "phishing"`,
	} {
		before := d.LastCard(t)
		if ack := d.Command(t, "alice", line); !strings.Contains(ack, "Looking up") {
			t.Fatalf("%s: acknowledgement %q", line, ack)
		}
		bottest.Await(t, 10*time.Second, "the card of "+line, func() bool {
			id := d.LastCard(t)
			return id != 0 && id != before
		}, d.Changes())
	}
}
