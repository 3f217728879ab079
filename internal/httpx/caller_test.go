package httpx

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/countersign/countersign/providers"
)

// testGate admits everything and records blocks.
type testGate struct {
	mu      sync.Mutex
	blocked []time.Time
}

func (g *testGate) Wait(ctx context.Context) error { return ctx.Err() }

func (g *testGate) Block(t time.Time) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.blocked = append(g.blocked, t)
}

// testError is a provider's decoded refusal.
type testError struct{ status int }

func (e *testError) Error() string { return fmt.Sprintf("test: HTTP %d", e.status) }

// refreshing is a credential that can be refreshed once per rejection.
type refreshing struct{ n, rejected atomic.Int32 }

func (r *refreshing) Authorization(context.Context) (string, error) {
	return fmt.Sprintf("Bearer t%d", r.n.Load()), nil
}

func (r *refreshing) Rejected(string) bool { r.rejected.Add(1); r.n.Add(1); return true }

// logRecords keeps log records.
type logRecords struct {
	mu   sync.Mutex
	recs []map[string]string
}

func (h *logRecords) Enabled(context.Context, slog.Level) bool { return true }
func (h *logRecords) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h *logRecords) WithGroup(string) slog.Handler            { return h }
func (h *logRecords) Handle(_ context.Context, r slog.Record) error {
	m := map[string]string{"msg": r.Message, "level": r.Level.String()}
	r.Attrs(func(a slog.Attr) bool { m[a.Key] = a.Value.String(); return true })
	h.mu.Lock()
	defer h.mu.Unlock()
	h.recs = append(h.recs, m)
	return nil
}

func (h *logRecords) all() []map[string]string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]map[string]string(nil), h.recs...)
}

// scriptServer answers the n-th request (from 1) with answer(n).
func scriptServer(t *testing.T, answer func(n int, w http.ResponseWriter, r *http.Request)) (*httptest.Server, *atomic.Int32) {
	t.Helper()
	var n atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		answer(int(n.Add(1)), w, r)
	}))
	t.Cleanup(srv.Close)
	return srv, &n
}

func testCaller(srv *httptest.Server, mod func(*Caller)) *Caller {
	c := &Caller{
		Client: NoRedirects(nil, 5*time.Second),
		Gate:   &testGate{}, Credentials: Bearer("tok"),
		Refused: func(_ Call, a Answer) Refusal {
			return Refusal{Err: &testError{a.Status}, RequestID: a.Header.Get("x-trace"), Code: fmt.Sprint(-a.Status)}
		},
		Retry: Retry{Times: 3, Initial: time.Millisecond, Max: 2 * time.Millisecond}, MaxBody: 1 << 20,
	}
	if mod != nil {
		mod(c)
	}
	return c
}

func testCall(srv *httptest.Server, class Class) Call {
	u, _ := url.Parse(srv.URL + "/v1/thing?who=a@x.com")
	method := http.MethodGet
	var body []byte
	if class == Once {
		method, body = http.MethodPost, []byte(`{"a":1}`)
	}
	return Call{Method: method, URL: u, Body: body, Class: class}
}

// TestClassesAndAnswers is the matrix of answers and idempotency classes:
// how many attempts reach the server and what the error says.
func TestClassesAndAnswers(t *testing.T) {
	status := func(st int) func(int, http.ResponseWriter, *http.Request) {
		return func(_ int, w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("x-trace", "tr")
			w.WriteHeader(st)
			_, _ = w.Write([]byte(`{}`))
		}
	}
	hang := func(_ int, _ http.ResponseWriter, r *http.Request) {
		// The server notices the client leaving only once the body is read.
		_, _ = io.ReadAll(r.Body)
		<-r.Context().Done()
	}
	short := func(_ int, w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Length", "100")
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write([]byte(`{"partial"`))
	}
	const (
		ok        = "ok"
		temporary = "temporary"
		uncertain = "uncertain"
		final     = "final"
	)
	tests := []struct {
		name     string
		answer   func(int, http.ResponseWriter, *http.Request)
		timeout  time.Duration
		once     string // outcome of a Once call
		onceN    int32  // its attempts
		repeat   string // outcome of a Repeatable call
		repeatN  int32
		decodeOK bool // Decode succeeds (else it fails)
	}{
		{name: "200", answer: status(200), once: ok, onceN: 1, repeat: ok, repeatN: 1, decodeOK: true},
		{name: "200 undecodable", answer: status(200), once: uncertain, onceN: 1, repeat: final, repeatN: 1},
		{name: "200 cut short", answer: short, once: uncertain, onceN: 1, repeat: temporary, repeatN: 4, decodeOK: true},
		{name: "400", answer: status(400), once: final, onceN: 1, repeat: final, repeatN: 1, decodeOK: true},
		{name: "401", answer: status(401), once: final, onceN: 1, repeat: final, repeatN: 1, decodeOK: true},
		{name: "403", answer: status(403), once: final, onceN: 1, repeat: final, repeatN: 1, decodeOK: true},
		{name: "404", answer: status(404), once: final, onceN: 1, repeat: final, repeatN: 1, decodeOK: true},
		{name: "429", answer: status(429), once: temporary, onceN: 4, repeat: temporary, repeatN: 4, decodeOK: true},
		{name: "500", answer: status(500), once: uncertain, onceN: 1, repeat: temporary, repeatN: 4, decodeOK: true},
		{name: "501", answer: status(501), once: uncertain, onceN: 1, repeat: final, repeatN: 1, decodeOK: true},
		{name: "502", answer: status(502), once: uncertain, onceN: 1, repeat: temporary, repeatN: 4, decodeOK: true},
		{name: "503", answer: status(503), once: uncertain, onceN: 1, repeat: temporary, repeatN: 4, decodeOK: true},
		{name: "504", answer: status(504), once: uncertain, onceN: 1, repeat: temporary, repeatN: 4, decodeOK: true},
		{name: "timeout after write", answer: hang, timeout: 50 * time.Millisecond, once: uncertain, onceN: 1, repeat: temporary, repeatN: 4, decodeOK: true},
	}
	for _, tt := range tests {
		for _, class := range []Class{Once, Repeatable} {
			t.Run(tt.name+" "+class.String(), func(t *testing.T) {
				srv, n := scriptServer(t, tt.answer)
				c := testCaller(srv, func(c *Caller) {
					if tt.timeout > 0 {
						c.Client.Timeout = tt.timeout
					}
				})
				call := testCall(srv, class)
				call.Decode = func([]byte) (string, error) {
					if tt.decodeOK {
						return "", nil
					}
					return "", errors.New("not the expected shape")
				}
				_, err := c.Do(context.Background(), call)
				want, wantN := tt.once, tt.onceN
				if class == Repeatable {
					want, wantN = tt.repeat, tt.repeatN
				}
				got := ok
				switch {
				case errors.Is(err, providers.ErrUncertain) && errors.Is(err, providers.ErrTemporary):
					got = "both"
				case errors.Is(err, providers.ErrUncertain):
					got = uncertain
				case errors.Is(err, providers.ErrTemporary):
					got = temporary
				case err != nil:
					got = final
				}
				if got != want {
					t.Errorf("Do: got %s (%v), want %s", got, err, want)
				}
				if got := n.Load(); got != wantN {
					t.Errorf("attempts reaching the server: got %d, want %d", got, wantN)
				}
				if err != nil && strings.Contains(err.Error(), "a@x.com") {
					t.Errorf("error %q carries the query", err)
				}
			})
		}
	}
}

func TestNotSentIsRetried(t *testing.T) {
	// A connection that was never made cannot have carried the call: a
	// Once call is tried again.
	srv, n := scriptServer(t, func(_ int, w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusCreated) })
	var tries atomic.Int32
	c := testCaller(srv, func(c *Caller) {
		c.Client.Transport = roundTripFunc(func(r *http.Request) (*http.Response, error) {
			if tries.Add(1) == 1 {
				return nil, errors.New("dial tcp: connection refused")
			}
			return http.DefaultTransport.RoundTrip(r)
		})
	})
	if _, err := c.Do(context.Background(), testCall(srv, Once)); err != nil {
		t.Fatalf("Do: %v", err)
	}
	if tries.Load() != 2 || n.Load() != 1 {
		t.Errorf("tries %d, reaching the server %d; want 2 and 1", tries.Load(), n.Load())
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func TestUnauthorizedRefreshesOnce(t *testing.T) {
	srv, n := scriptServer(t, func(_ int, w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer t2" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		w.WriteHeader(http.StatusOK)
	})
	cred := &refreshing{}
	c := testCaller(srv, func(c *Caller) { c.Credentials = cred })
	_, err := c.Do(context.Background(), testCall(srv, Once))
	var te *testError
	if !errors.As(err, &te) || te.status != 401 || errors.Is(err, providers.ErrTemporary) || errors.Is(err, providers.ErrUncertain) {
		t.Fatalf("Do with a credential that stays wrong: got %v, want the 401 refusal", err)
	}
	if n.Load() != 2 || cred.rejected.Load() != 1 {
		t.Errorf("attempts %d, refreshes %d; want 2 and 1", n.Load(), cred.rejected.Load())
	}
	if _, err := c.Do(context.Background(), testCall(srv, Once)); err != nil {
		t.Errorf("Do after a refresh that helps: %v", err)
	}
}

func TestTransientCredentials(t *testing.T) {
	srv, n := scriptServer(t, func(_ int, w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) })
	var calls atomic.Int32
	c := testCaller(srv, func(c *Caller) {
		c.Credentials = credFunc(func() (string, error) {
			if calls.Add(1) == 1 {
				return "", Transient(errors.New("token endpoint unreachable"))
			}
			return "Bearer x", nil
		})
	})
	if _, err := c.Do(context.Background(), testCall(srv, Once)); err != nil || n.Load() != 1 {
		t.Errorf("Do: %v after %d attempts, want success after a transient credential error", err, n.Load())
	}
	c.Credentials = credFunc(func() (string, error) { return "", errors.New("client secret refused") })
	if _, err := c.Do(context.Background(), testCall(srv, Once)); err == nil || errors.Is(err, providers.ErrTemporary) {
		t.Errorf("Do: got %v, want a final error", err)
	}
}

type credFunc func() (string, error)

func (f credFunc) Authorization(context.Context) (string, error) { return f() }
func (credFunc) Rejected(string) bool                            { return false }

func TestThrottle(t *testing.T) {
	tests := []struct {
		name        string
		retryAfter  string
		throttleEnd time.Duration // ThrottleEnd's answer after now; 0 = none
		wantBlock   time.Duration
	}{
		{"Retry-After wins", "2.5", time.Minute, 2500 * time.Millisecond},
		{"the documented window without Retry-After", "", time.Minute, time.Minute},
	}
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, n := scriptServer(t, func(_ int, w http.ResponseWriter, _ *http.Request) {
				if tt.retryAfter != "" {
					w.Header().Set("Retry-After", tt.retryAfter)
				}
				w.WriteHeader(http.StatusTooManyRequests)
			})
			g := &testGate{}
			c := testCaller(srv, func(c *Caller) {
				c.Gate, c.Now, c.Retry.Times = g, func() time.Time { return now }, 0
				c.ThrottleEnd = func(t time.Time) time.Time { return t.Add(tt.throttleEnd) }
			})
			ctx, cancel := context.WithDeadline(context.Background(), time.Now().Add(time.Hour))
			defer cancel()
			if _, err := c.Do(ctx, testCall(srv, Once)); !errors.Is(err, providers.ErrTemporary) {
				t.Fatalf("Do: got %v, want ErrTemporary", err)
			}
			if diff := cmp.Diff([]time.Time{now.Add(tt.wantBlock)}, g.blocked); diff != "" {
				t.Errorf("gate blocks (-want +got):\n%s", diff)
			}
			// A throttle lasting past the next caller's deadline fails it
			// at once, without a request.
			short, cancel2 := context.WithDeadline(context.Background(), now.Add(time.Second))
			defer cancel2()
			before := n.Load()
			if _, err := c.Do(short, testCall(srv, Repeatable)); !errors.Is(err, ErrPastDeadline) || !errors.Is(err, providers.ErrTemporary) {
				t.Errorf("Do past the throttle: got %v, want ErrTemporary and ErrPastDeadline", err)
			}
			if n.Load() != before {
				t.Error("a blocked caller sent a request")
			}
		})
	}
}

func TestRetryAfterOnRetries(t *testing.T) {
	srv, _ := scriptServer(t, func(n int, w http.ResponseWriter, _ *http.Request) {
		if n == 1 {
			w.Header().Set("Retry-After", "0.25")
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusOK)
	})
	var slept []time.Duration
	c := testCaller(srv, func(c *Caller) {
		c.Sleep = func(_ context.Context, d time.Duration) error { slept = append(slept, d); return nil }
	})
	if _, err := c.Do(context.Background(), testCall(srv, Repeatable)); err != nil {
		t.Fatalf("Do: %v", err)
	}
	if diff := cmp.Diff([]time.Duration{250 * time.Millisecond}, slept); diff != "" {
		t.Errorf("waits (-want +got):\n%s", diff)
	}
}

func TestLogAndHooks(t *testing.T) {
	srv, _ := scriptServer(t, func(n int, w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("request-id", "srv-"+fmt.Sprint(n))
		if n == 1 {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusOK)
	})
	logs := &logRecords{}
	var attempts []Attempt
	var waits int
	c := testCaller(srv, func(c *Caller) {
		c.Log = slog.New(logs)
		c.ClientIDHeader, c.ServerIDHeader = "client-request-id", "request-id"
		c.Hooks = Hooks{Waited: func(time.Duration) { waits++ }, Attempt: func(a Attempt) { attempts = append(attempts, a) }}
	})
	call := testCall(srv, Repeatable)
	call.Attrs = []slog.Attr{slog.String("batch_id", "b1")}
	if _, err := c.Do(context.Background(), call); err != nil {
		t.Fatalf("Do: %v", err)
	}
	recs := logs.all()
	if len(recs) != 2 {
		t.Fatalf("log lines: got %d, want one per attempt", len(recs))
	}
	for i, want := range []map[string]string{
		{"level": "WARN", "status": "503", "outcome": "retry", "attempt": "1", "request_id": "srv-1", "code": "-503"},
		{"level": "INFO", "status": "200", "outcome": "ok", "attempt": "2", "request_id": "srv-2"},
	} {
		want["msg"], want["method"], want["path"], want["class"], want["batch_id"] = "provider call", "GET", "/v1/thing", "repeatable", "b1"
		for k, v := range want {
			if recs[i][k] != v {
				t.Errorf("line %d: %s = %q, want %q (%v)", i+1, k, recs[i][k], v, recs[i])
			}
		}
		if recs[i]["client_request_id"] == "" || recs[i]["duration"] == "" {
			t.Errorf("line %d lacks client_request_id or duration: %v", i+1, recs[i])
		}
		for _, v := range recs[i] {
			if strings.Contains(v, "a@x.com") || strings.Contains(v, "tok") {
				t.Errorf("line %d leaks the query or the token: %v", i+1, recs[i])
			}
		}
	}
	if waits != 2 {
		t.Errorf("Waited: called %d times, want 2", waits)
	}
	want := []Attempt{{Method: "GET", Path: "/v1/thing", Class: Repeatable, Status: 503, Outcome: OutcomeRetry},
		{Method: "GET", Path: "/v1/thing", Class: Repeatable, Status: 200, Outcome: OutcomeOK}}
	for i := range attempts {
		attempts[i].Duration = 0
	}
	if diff := cmp.Diff(want, attempts); diff != "" {
		t.Errorf("attempts (-want +got):\n%s", diff)
	}
}
