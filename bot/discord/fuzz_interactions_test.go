package discord_test

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/countersign/countersign/bot/adaptertest"
	"github.com/countersign/countersign/bot/discord"
	"github.com/countersign/countersign/bot/discord/discordtest"
)

// FuzzInteractions posts arbitrary bodies, correctly signed or not, to the
// interactions endpoint: it never panics, answers 200, 400, 401 or 413
// only, and an unsigned body never reaches the bot.
func FuzzInteractions(f *testing.F) {
	fake := discordtest.New(f, discordtest.Options{Token: token, AppID: appID, GuildID: guildID, Channels: []string{channelID}})
	for _, in := range []*discordtest.Interaction{
		fake.NewPing(),
		fake.NewCommand(member("alice"), discordtest.Where{Channel: channelID}, "disable",
			discordtest.String("targets", "mallory@contoso.com"), discordtest.String("reason", "x")),
		fake.NewCommand(member("alice"), discordtest.Where{DM: true}, "pending"),
		fake.NewClick(member("bob"), "1200000000000000001", "approve:1:abc"),
		fake.NewSubmit(member("bob"), "1200000000000000001", "deny:1:abc", "reason", "no"),
	} {
		f.Add(in.Body, true)
	}
	f.Add([]byte(`{"id":"1","type":2,"guild_id":"`+guildID+`","member":{"user":{"id":"4001"}},"data":{"name":"disable","options":[{"name":"targets","type":3,"value":5}]}}`), true)
	f.Add([]byte(`{"type":3,"id":"2","guild_id":"`+guildID+`","member":{"user":null},"data":{}}`), true)
	f.Add([]byte(`{`), false)
	signer := discordtest.NewSigner()
	a, err := discord.New(discord.Config{BotToken: token, ApplicationID: appID, GuildID: guildID, APIURL: fake.APIURL(),
		PublicKey: signer.PublicKey(), ApproverRoles: []string{approverRol}})
	if err != nil {
		f.Fatal(err)
	}
	defer a.Wait()
	h := &adaptertest.Recorder{}
	endpoint := a.Interactions(h)
	f.Fuzz(func(t *testing.T, body []byte, sign bool) {
		before := h.Calls()
		r := httptest.NewRequest(http.MethodPost, "/discord/interactions", bytes.NewReader(body))
		ts := strconv.FormatInt(time.Now().Unix(), 10)
		r.Header.Set("X-Signature-Timestamp", ts)
		key := discordtest.NewSigner()
		if sign {
			key = signer
		}
		r.Header.Set("X-Signature-Ed25519", key.Sign(ts, body))
		w := httptest.NewRecorder()
		endpoint.ServeHTTP(w, r)
		switch w.Code {
		case http.StatusOK, http.StatusBadRequest, http.StatusUnauthorized, http.StatusRequestEntityTooLarge:
		default:
			t.Fatalf("answered %d: %s", w.Code, w.Body)
		}
		if !sign && h.Calls() != before {
			t.Fatal("a body signed with another key reached the bot")
		}
	})
}
