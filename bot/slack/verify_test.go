package slackbot_test

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/countersign/countersign/approvals"
	"github.com/countersign/countersign/bot/adaptertest"
	slackbot "github.com/countersign/countersign/bot/slack"
	"github.com/countersign/countersign/bot/slack/slacktest"
	"github.com/countersign/countersign/internal/bottest"
)

// The official example of docs.slack.dev "Verifying requests from Slack".
func TestSignatureOfficialVector(t *testing.T) {
	body := "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c"
	got := slackbot.Signature("8f742231b10e8888abcd99yyyzzz85a5", "1531420618", []byte(body))
	if want := "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503"; got != want {
		t.Fatalf("Signature = %s, want %s", got, want)
	}
}

// TestVerificationMatrix: missing, forged, stale, future, replayed and
// query-smuggled requests get 401, reach no handler and store nothing; the
// one good request passes once.
func TestVerificationMatrix(t *testing.T) {
	fake := slacktest.New(slacktest.Limits{})
	defer fake.Close()
	newDriver(fake)
	st := bottest.OpenStore(t)
	rec := &adaptertest.Recorder{}
	srv := serve(t, newAdapter(t, fake, st, ""), rec)

	cmd := url.Values{"team_id": {slacktest.TeamID}, "channel_id": {channel}, "user_id": {"U02BOB"},
		"command": {"/countersign"}, "text": {"help"}, "response_url": {fake.ResponseURL()}}.Encode()
	click := url.Values{"payload": {`{"type":"block_actions","user":{"id":"U02BOB"},"container":{"channel_id":"C0SOC","message_ts":"1.1"},"actions":[{"value":"approve:1:abc"}]}`}}.Encode()
	now := time.Now()
	ts := strconv.FormatInt(now.Unix(), 10)

	type tc struct {
		name string
		path string
		req  func() *http.Request
	}
	signed := func(path, body string, at time.Time) *http.Request {
		return slacktest.NewRequest(srv.URL+path, secret, at, body)
	}
	cases := []tc{
		{"missing headers", "/slack/commands", func() *http.Request {
			r := signed("/slack/commands", cmd, now)
			r.Header.Del("X-Slack-Signature")
			r.Header.Del("X-Slack-Request-Timestamp")
			return r
		}},
		{"missing signature", "/slack/commands", func() *http.Request {
			r := signed("/slack/commands", cmd, now)
			r.Header.Del("X-Slack-Signature")
			return r
		}},
		{"forged signature", "/slack/commands", func() *http.Request {
			r := signed("/slack/commands", cmd, now)
			r.Header.Set("X-Slack-Signature", slacktest.Sign("not-the-secret", now.Unix(), cmd))
			return r
		}},
		{"malformed signature", "/slack/commands", func() *http.Request {
			r := signed("/slack/commands", cmd, now)
			r.Header.Set("X-Slack-Signature", "v1=00")
			return r
		}},
		{"body changed after signing", "/slack/commands", func() *http.Request {
			r := signed("/slack/commands", cmd, now)
			r2, _ := http.NewRequest(http.MethodPost, r.URL.String(), strings.NewReader(strings.Replace(cmd, "help", "pending", 1)))
			r2.Header = r.Header
			return r2
		}},
		{"stale timestamp", "/slack/commands", func() *http.Request { return signed("/slack/commands", cmd, now.Add(-6*time.Minute)) }},
		{"future timestamp", "/slack/commands", func() *http.Request { return signed("/slack/commands", cmd, now.Add(6*time.Minute)) }},
		{"timestamp not a number", "/slack/commands", func() *http.Request {
			r := signed("/slack/commands", cmd, now)
			r.Header.Set("X-Slack-Request-Timestamp", ts+"x")
			return r
		}},
		{"payload smuggled in the query", "/slack/interactions", func() *http.Request {
			r := signed("/slack/interactions", "", now)
			r.URL.RawQuery = click
			return r
		}},
		{"signed body with extra query", "/slack/interactions", func() *http.Request {
			r := signed("/slack/interactions", click, now)
			r.URL.RawQuery = "payload=" + url.QueryEscape(`{"type":"block_actions","user":{"id":"U03CAROL"}}`)
			return r
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			resp, err := http.DefaultClient.Do(c.req())
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusUnauthorized {
				t.Fatalf("status %s (%s), want 401", resp.Status, body)
			}
		})
	}
	if n := rec.Calls(); n != 0 {
		t.Fatalf("refused requests reached the handler %d times", n)
	}

	// The good request passes once; the same bytes again are a replay.
	good := signed("/slack/commands", cmd, now)
	replay := signed("/slack/commands", cmd, now)
	for i, want := range []int{http.StatusOK, http.StatusUnauthorized} {
		r := good
		if i == 1 {
			r = replay
		}
		resp, err := http.DefaultClient.Do(r)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Fatalf("request %d: status %s, want %d", i, resp.Status, want)
		}
	}
	if n := rec.Calls(); n != 1 {
		t.Fatalf("handler called %d times, want 1 (the replay must not reach it)", n)
	}
	reqs, err := st.List(context.Background(), approvals.Filter{})
	if err != nil || len(reqs) != 0 {
		t.Fatalf("store holds %d requests (err %v), want none", len(reqs), err)
	}
}

// A redelivered Socket Mode envelope (Slack resends unacknowledged ones)
// is acknowledged but handled once.
func TestSocketModeRedeliveryHandledOnce(t *testing.T) {
	fake := slacktest.New(slacktest.Limits{})
	defer fake.Close()
	newDriver(fake)
	st := bottest.OpenStore(t)
	a := newAdapter(t, fake, st, slacktest.AppToken)
	t.Cleanup(a.Wait)
	rec := &adaptertest.Recorder{}
	adaptertest.Run(t, a, rec)
	payload := map[string]string{"team_id": slacktest.TeamID, "channel_id": channel, "user_id": "U02BOB",
		"command": "/countersign", "text": "help"}
	sctx, scancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer scancel()
	for range 2 {
		if _, err := fake.SendID(sctx, "env-redelivered", "slash_commands", payload); err != nil {
			t.Fatal(err)
		}
	}
	if n := rec.Calls(); n != 1 {
		t.Fatalf("handler called %d times for one envelope delivered twice, want 1", n)
	}
}
