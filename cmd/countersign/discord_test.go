package main

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/countersign/countersign/bot/discord/discordtest"
	"github.com/countersign/countersign/internal/bottest"
)

// discordConfig is the Discord part of TestServeDiscord's configuration;
// the %s are the application's public key and the fake's API URL.
const discordConfig = `
people:
  - { name: alice, email: alice@contoso.com, discord: "4001" }
  - { name: bob, email: bob@contoso.com, discord: "4002" }
discord:
  bot_token: serve-discord-test-token
  application_id: "1000000000000000001"
  public_key: "%s"
  guild_id: "900000000000000001"
  api_url: %s
  channels: ["900000000000000002"]
  approver_roles: ["900000000000000010"]
`

// TestServeDiscord runs serve with Discord's HTTP interactions against the
// Discord and TMCAS fakes: commands are registered at start-up, /readyz
// checks Discord, a PING is answered, a signed command files a request and
// its card is posted, and a forged one is refused.
func TestServeDiscord(t *testing.T) {
	fake := discordtest.New(t, discordtest.Options{Token: "serve-discord-test-token", AppID: "1000000000000000001",
		GuildID: "900000000000000001", Channels: []string{"900000000000000002"}})
	alice := discordtest.User{ID: "4001", Name: "alice"}
	fake.AddMember(alice)
	fake.AddMember(discordtest.User{ID: "4002", Name: "bob", Roles: []string{"900000000000000010"}})
	signer := discordtest.NewSigner()
	s := servePlatform(t, fmt.Sprintf(discordConfig, signer.PublicKey(), fake.APIURL()))
	base, logs := s.base, s.logs
	ctx := context.Background()
	ready := getJSON(t, base+"/readyz", http.StatusOK)
	if fmt.Sprint(ready) == "" || !strings.Contains(fmt.Sprint(ready), "discord") {
		t.Fatalf("/readyz does not check discord: %v", ready)
	}
	if cmds, _ := fake.Commands(); len(cmds) == 0 {
		t.Fatalf("no commands registered at start-up\n%s", logs)
	}
	dctx, dcancel := context.WithTimeout(ctx, 10*time.Second)
	defer dcancel()
	url := base + "/discord/interactions"
	res, err := fake.Deliver(dctx, http.DefaultClient, url, signer, fake.NewPing(), time.Now())
	if err != nil || res.Status != http.StatusOK || res.Response == nil || res.Response.Type != 1 {
		t.Fatalf("PING: %+v, %v", res, err)
	}
	forged := discordtest.NewSigner()
	res, err = fake.Deliver(dctx, http.DefaultClient, url, forged, fake.NewCommand(alice, discordtest.Where{}, "disable",
		discordtest.String("targets", "mallory@contoso.com"), discordtest.String("reason", "phish")), time.Now())
	if err != nil || res.Status != http.StatusUnauthorized {
		t.Fatalf("forged command: %+v, %v", res, err)
	}
	in := fake.NewCommand(alice, discordtest.Where{}, "disable",
		discordtest.String("targets", "mallory@contoso.com"), discordtest.String("reason", "phish"))
	res, err = fake.Deliver(dctx, http.DefaultClient, url, signer, in, time.Now())
	if err != nil || res.Status != http.StatusOK || res.Response == nil || !strings.Contains(res.Response.Data.Text(), "Looking up") {
		t.Fatalf("command: %+v, %v\n%s", res, err, logs)
	}
	bottest.Await(t, 20*time.Second, "the card in the channel", func() bool {
		for _, m := range fake.Messages("900000000000000002") {
			if _, ok := m.Button("Approve"); ok {
				return true
			}
		}
		return false
	}, &fake.Signal)
	if v := fake.Violations(); len(v) > 0 {
		t.Fatalf("the fake saw invalid requests: %v", v)
	}
}
