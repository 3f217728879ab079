package discord

import (
	"bytes"
	"context"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/countersign/countersign/bot/discord/discordtest"
)

// countingSeen records FirstSeen calls, to prove refused requests store
// nothing.
type countingSeen struct {
	mu    sync.Mutex
	calls int
	inner memorySeen
}

func (c *countingSeen) FirstSeen(ctx context.Context, key string, ttl time.Duration, now time.Time) (bool, error) {
	c.mu.Lock()
	c.calls++
	c.mu.Unlock()
	return c.inner.FirstSeen(ctx, key, ttl, now)
}

func (c *countingSeen) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.calls
}

func TestSignatureMatrix(t *testing.T) {
	seen := &countingSeen{inner: memorySeen{keys: map[string]time.Time{}}}
	e := newEnv(t, false, func(c *Config) { c.Seen = seen })
	in := e.fake.NewCommand(alice, discordtest.Where{Channel: channel}, "pending")
	ts := func(d time.Duration) string { return strconv.FormatInt(e.now.Add(d).Unix(), 10) }
	other := discordtest.NewSigner()
	ping := e.fake.NewPing()
	tests := []struct {
		name   string
		method string
		query  string
		body   []byte
		sig    string // "" leaves the header out
		ts     string // "" leaves the header out
		want   int
	}{
		{name: "no headers", body: in.Body, want: 401},
		{name: "no signature", body: in.Body, ts: ts(0), want: 401},
		{name: "no timestamp", body: in.Body, sig: e.signer.Sign(ts(0), in.Body), want: 401},
		{name: "forged signature", body: in.Body, ts: ts(0), sig: strings.Repeat("ab", 64), want: 401},
		{name: "signature not hex", body: in.Body, ts: ts(0), sig: "zz" + e.signer.Sign(ts(0), in.Body)[2:], want: 401},
		{name: "signature too short", body: in.Body, ts: ts(0), sig: e.signer.Sign(ts(0), in.Body)[:64], want: 401},
		{name: "wrong key", body: in.Body, ts: ts(0), sig: other.Sign(ts(0), in.Body), want: 401},
		{name: "stale timestamp", body: in.Body, ts: ts(-301 * time.Second), sig: e.signer.Sign(ts(-301*time.Second), in.Body), want: 401},
		{name: "future timestamp", body: in.Body, ts: ts(301 * time.Second), sig: e.signer.Sign(ts(301*time.Second), in.Body), want: 401},
		{name: "timestamp not a number", body: in.Body, ts: "soon", sig: e.signer.Sign("soon", in.Body), want: 401},
		{name: "replayed body, new timestamp", body: in.Body, ts: ts(0), sig: e.signer.Sign(ts(-60*time.Second), in.Body), want: 401},
		{name: "tampered body", body: bytes.Replace(in.Body, []byte(alice.ID), []byte(bob.ID), 1), ts: ts(0), sig: e.signer.Sign(ts(0), in.Body), want: 401},
		{name: "body smuggled in query", query: "payload=" + string(in.Body), body: ping.Body, ts: ts(0), sig: e.signer.Sign(ts(0), ping.Body), want: 401},
		{name: "query on a signed body", query: "x=1", body: in.Body, ts: ts(0), sig: e.signer.Sign(ts(0), in.Body), want: 401},
		{name: "empty body, signed", body: nil, ts: ts(0), sig: e.signer.Sign(ts(0), nil), want: 400},
		{name: "too large", body: bytes.Repeat([]byte(" "), MaxBody+1), ts: ts(0), sig: e.signer.Sign(ts(0), bytes.Repeat([]byte(" "), MaxBody+1)), want: 413},
		{name: "GET", method: http.MethodGet, body: nil, want: 405},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			method := tt.method
			if method == "" {
				method = http.MethodPost
			}
			url := e.endpoint
			if tt.query != "" {
				url += "?" + tt.query
			}
			req, err := http.NewRequestWithContext(e.ctx(), method, url, bytes.NewReader(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			if tt.sig != "" {
				req.Header.Set("X-Signature-Ed25519", tt.sig)
			}
			if tt.ts != "" {
				req.Header.Set("X-Signature-Timestamp", tt.ts)
			}
			res, err := e.srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			if res.StatusCode != tt.want {
				t.Errorf("got %d, want %d", res.StatusCode, tt.want)
			}
		})
	}
	if n := e.h.Calls(); n != 0 {
		t.Errorf("handler called %d times", n)
	}
	if n := seen.count(); n != 0 {
		t.Errorf("%d ids recorded for refused requests", n)
	}
	// Inside the window both ways, the same request is accepted once.
	for _, d := range []time.Duration{-299 * time.Second, 299 * time.Second} {
		in := e.fake.NewCommand(alice, discordtest.Where{Channel: channel}, "pending")
		res, err := e.fake.Deliver(e.ctx(), e.srv.Client(), e.endpoint, e.signer, in, e.now.Add(d))
		if err != nil || res.Status != http.StatusOK {
			t.Errorf("timestamp %v away: %d %v", d, res.Status, err)
		}
	}
}

func TestDuplicateInteraction(t *testing.T) {
	e := newEnv(t, false)
	in := e.fake.NewCommand(alice, discordtest.Where{Channel: channel}, "pending")
	send := func() int {
		req, err := e.signer.Request(e.ctx(), e.endpoint, in.Body, e.now)
		if err != nil {
			t.Fatal(err)
		}
		res, err := e.srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode
	}
	if got := send(); got != http.StatusOK {
		t.Fatalf("first delivery %d", got)
	}
	for range 3 {
		if got := send(); got != http.StatusUnauthorized {
			t.Errorf("replay answered %d, want 401", got)
		}
	}
	if n := e.h.Calls(); n != 1 {
		t.Errorf("handler called %d times, want 1", n)
	}
}
