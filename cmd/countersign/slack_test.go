package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/countersign/countersign/bot/slack/slacktest"
	"github.com/countersign/countersign/internal/bottest"
)

// slackConfig is the Slack part of TestServeSlack's configuration; the %s
// are the bot token and the fake's API URL.
const slackConfig = `
people:
  - { name: alice, email: alice@contoso.com, slack: U01ALICE }
  - { name: bob, email: bob@contoso.com, slack: U02BOB }
slack:
  bot_token: %s
  signing_secret: serve-slack-test-signing-secret
  api_url: %s
  channels: [C0SOC]
  approvers: [U02BOB]
  digest_channel: C0DIGEST
engine: { poll_interval: 100ms }
digest: { schedule: "@every 2s", timezone: Europe/Berlin }
`

// TestServeSlack runs serve with Slack configured against the Slack and
// TMCAS fakes: a signed slash command files a request whose card appears,
// a signed click approves it, the account is disabled, the thread gets the
// summary, the scheduled digest is posted, and Slack's calls are counted
// in /metrics.
func TestServeSlack(t *testing.T) {
	fake := slacktest.New(slacktest.SlackLimits)
	t.Cleanup(fake.Close)
	for _, u := range []slacktest.User{{ID: "U01ALICE", Name: "alice", Email: "alice@contoso.com"}, {ID: "U02BOB", Name: "bob", Email: "bob@contoso.com"}} {
		fake.AddUser(u)
	}
	s := servePlatform(t, fmt.Sprintf(slackConfig, slacktest.BotToken, fake.APIURL()))
	base, logs, tm := s.base, s.logs, s.tm
	post := func(path string, form url.Values) string {
		t.Helper()
		r := slacktest.NewRequest(base+path, "serve-slack-test-signing-secret", time.Now(), form.Encode())
		resp, err := http.DefaultClient.Do(r)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("POST %s: %s %s\n%s", path, resp.Status, b, logs)
		}
		return string(b)
	}
	ack := post("/slack/commands", url.Values{"channel_id": {"C0SOC"}, "user_id": {"U01ALICE"}, "command": {"/disable"},
		"text": {"mallory@contoso.com --reason phish"}, "response_url": {fake.ResponseURL()}, "trigger_id": {fake.Trigger()}})
	if !strings.Contains(ack, "Looking up") {
		t.Fatalf("ack %s", ack)
	}
	var card slacktest.Message
	bottest.Await(t, 20*time.Second, "the card", func() bool {
		msgs := fake.Messages("C0SOC")
		if len(msgs) == 0 {
			return false
		}
		card = msgs[0]
		return strings.Contains(string(card.Blocks), "approve:1:")
	}, &fake.Signal)
	value := regexp.MustCompile(`"value":"(approve:1:[0-9a-f]+)"`).FindStringSubmatch(string(card.Blocks))[1]
	payload, _ := json.Marshal(map[string]any{
		"type": "block_actions", "user": map[string]any{"id": "U02BOB"}, "trigger_id": fake.Trigger(),
		"response_url": fake.ResponseURL(),
		"container":    map[string]any{"type": "message", "channel_id": "C0SOC", "message_ts": card.TS},
		"actions":      []map[string]any{{"type": "button", "block_id": "Xy1z", "action_id": "countersign-0", "value": value}},
	})
	post("/slack/interactions", url.Values{"payload": {string(payload)}})
	defer func() {
		if t.Failed() {
			for _, m := range fake.Messages("") {
				t.Logf("%s %s thread=%s edits=%d %s", m.Channel, m.TS, m.ThreadTS, m.Edits, m.Text)
			}
			for _, m := range fake.Ephemerals() {
				t.Logf("ephemeral %s", m.Text)
			}
			t.Logf("logs:\n%s", logs)
		}
	}()
	bottest.Await(t, 20*time.Second, "the summary in the thread", func() bool {
		for _, m := range fake.Messages("C0SOC") {
			if m.ThreadTS == card.TS && strings.Contains(string(m.Blocks), "finished: succeeded") {
				return true
			}
		}
		return false
	}, &fake.Signal)
	if a, _ := tm.Account("mallory@contoso.com"); !a.Disabled {
		t.Fatal("mallory is not disabled")
	}
	// A digest counts the request, and another one follows it: a run
	// records its digest in the audit log before the next slot runs.
	bottest.Await(t, 20*time.Second, "a digest counting the request and one after it", func() bool {
		counted := false
		for _, m := range fake.Messages("C0DIGEST") {
			if counted {
				return true
			}
			counted = strings.Contains(string(m.Blocks), "succeeded")
		}
		return false
	}, &fake.Signal)
	// Each posted digest is in the audit log, and the chain verifies.
	environ := []string{"COUNTERSIGN_STORE_URL=" + s.db, "COUNTERSIGN_AUDIT_KEY=" + serveKey}
	if code, out, errOut := runCLI(t, environ, "audit", "export"); code != 0 || !strings.Contains(out, `"digest_posted"`) {
		t.Fatalf("audit export: code %d, no digest_posted entry\n%s\n%s", code, out, errOut)
	}
	if code, out, errOut := runCLI(t, environ, "audit", "verify"); code != 0 {
		t.Fatalf("audit verify: code %d\n%s\n%s", code, out, errOut)
	}
	metrics := getText(t, base+"/metrics")
	if !regexp.MustCompile(`countersign_outbound_requests_total\{code="200",host="[^"]+",kind="chat",name="slack"\} [1-9]`).MatchString(metrics) {
		t.Fatalf("no Slack calls in /metrics:\n%s", grepLines(metrics, "outbound"))
	}
	if n := fake.RateLimited("chat.postMessage") + fake.RateLimited("chat.update"); n != 0 {
		t.Fatalf("%d calls were answered 429 by a fake enforcing Slack's limits", n)
	}
}

func getText(t *testing.T, u string) string {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}
