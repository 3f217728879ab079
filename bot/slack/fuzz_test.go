package slackbot_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/countersign/countersign/bot/adaptertest"
	slackbot "github.com/countersign/countersign/bot/slack"
	"github.com/countersign/countersign/bot/slack/slacktest"
)

// seen is an in-memory replay store for the fuzz target (a database per
// input would be too slow).
type seen map[string]bool

func (s seen) FirstSeen(_ context.Context, key string, _ time.Duration, _ time.Time) (bool, error) {
	if s[key] {
		return false, nil
	}
	s[key] = true
	return true, nil
}

// FuzzRequests sends arbitrary bodies, signed or not, to both endpoints:
// the adapter never panics, answers only 200, 400, 401 or 413, and no
// request reaches the bot unless its signature is right.
func FuzzRequests(f *testing.F) {
	f.Add("payload="+url.QueryEscape(`{"type":"block_actions","user":{"id":"U02BOB"},"container":{"channel_id":"C0SOC","message_ts":"1.1"},"actions":[{"block_id":"b","value":"approve:1:abc"}]}`), true, "")
	f.Add("payload="+url.QueryEscape(`{"type":"view_submission","user":{"id":"U02BOB"},"view":{"callback_id":"countersign-dialog","private_metadata":"{\"d\":\"deny:1:abc\",\"c\":\"C0SOC\"}"}}`), true, "")
	f.Add("command=%2Fdisable&text=a%40x&user_id=U02BOB&channel_id=C0SOC", true, "")
	f.Add("command=%2Fdisable&text=a%40x&user_id=U02BOB&channel_id=C0SOC", false, "payload=x")
	f.Add("ssl_check=1", true, "")
	f.Add("payload=%7B", true, "")
	f.Add("text=%zz", true, "") // a signed body that is not a form: 400, not 503 (found by this target)
	fake := slacktest.New(slacktest.Limits{})
	defer fake.Close()
	fake.AddUser(slacktest.User{ID: "U02BOB", Name: "bob"})
	rec := &adaptertest.Recorder{}
	a, err := slackbot.New(slackbot.Config{BotToken: slacktest.BotToken, SigningSecret: secret, APIURL: fake.APIURL(),
		Approvers: []string{"U02BOB"}, Seen: seen{}})
	if err != nil {
		f.Fatal(err)
	}
	defer a.Wait()
	mux := http.NewServeMux()
	a.Mount(mux, rec)
	f.Fuzz(func(t *testing.T, body string, sign bool, query string) {
		for _, path := range []string{"/slack/commands", "/slack/interactions"} {
			before := rec.Calls()
			r := httptest.NewRequest(http.MethodPost, path, strings.NewReader(body))
			r.URL.RawQuery = query
			r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			ts := time.Now().Unix()
			r.Header.Set("X-Slack-Request-Timestamp", strconv.FormatInt(ts, 10))
			sig := slacktest.Sign("wrong-secret", ts, body)
			if sign {
				sig = slacktest.Sign(secret, ts, body)
			}
			r.Header.Set("X-Slack-Signature", sig)
			w := httptest.NewRecorder()
			mux.ServeHTTP(w, r)
			switch w.Code {
			case http.StatusOK, http.StatusBadRequest, http.StatusUnauthorized, http.StatusRequestEntityTooLarge:
			default:
				t.Fatalf("%s answered %d", path, w.Code)
			}
			if (!sign || query != "") && rec.Calls() != before {
				t.Fatalf("%s: an unsigned or query-carrying request reached the bot", path)
			}
		}
	})
}
