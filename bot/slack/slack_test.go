package slackbot_test

import (
	"testing"

	"github.com/countersign/countersign/bot"
	"github.com/countersign/countersign/bot/adaptertest"
	slackbot "github.com/countersign/countersign/bot/slack"
	"github.com/countersign/countersign/bot/slack/slacktest"
	"github.com/countersign/countersign/internal/bottest"
)

// startHTTP runs the real bot with the Slack adapter in HTTP mode.
func startHTTP(t *testing.T) (*driver, *bottest.System) {
	t.Helper()
	fake := slacktest.New(slacktest.Limits{})
	t.Cleanup(fake.Close)
	st := bottest.OpenStore(t)
	a := newAdapter(t, fake, st, "")
	sys := bottest.Start(t, st, bottest.Options{
		Chats: map[string]bot.Chat{bot.PlatformSlack: a}, Access: map[string]bot.Access{bot.PlatformSlack: a},
	})
	t.Cleanup(a.Wait)
	d := newDriver(fake)
	d.srv = serve(t, a, sys.Bot)
	return d, sys
}

// startSocket runs the real bot with the Slack adapter in Socket Mode.
func startSocket(t *testing.T) (*driver, *bottest.System) {
	t.Helper()
	fake := slacktest.New(slacktest.Limits{})
	t.Cleanup(fake.Close)
	st := bottest.OpenStore(t)
	a := newAdapter(t, fake, st, slacktest.AppToken)
	sys := bottest.Start(t, st, bottest.Options{
		Chats: map[string]bot.Chat{bot.PlatformSlack: a}, Access: map[string]bot.Access{bot.PlatformSlack: a},
	})
	t.Cleanup(a.Wait)
	adaptertest.Run(t, a, sys.Bot)
	d := newDriver(fake)
	d.socket = true
	return d, sys
}

func TestScenariosHTTP(t *testing.T) {
	for _, sc := range bottest.Scenarios {
		t.Run(sc.Name, func(t *testing.T) {
			d, sys := startHTTP(t)
			sc.Run(t, d, sys)
		})
	}
}

func TestScenariosSocketMode(t *testing.T) {
	for _, sc := range bottest.Scenarios {
		t.Run(sc.Name, func(t *testing.T) {
			d, sys := startSocket(t)
			sc.Run(t, d, sys)
		})
	}
}

var _ = slackbot.SlackLimits
