package tmcas

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/countersign/countersign/providers"
)

func TestServerWindow(t *testing.T) {
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	w := &serverWindow{per: time.Minute, margin: 2 * time.Second}
	steps := []struct {
		name string
		sent []time.Duration // requests leaving at t0+d
		at   time.Duration   // a 429 arrives at t0+at
		want time.Duration   // requests may start again at t0+want
	}{
		{name: "no request seen: a whole window from now", at: 5 * time.Second, want: 65 * time.Second},
		{name: "window from its first request", sent: []time.Duration{0, 10 * time.Second, 59 * time.Second}, at: 59 * time.Second, want: 62 * time.Second},
		{name: "a request after the window starts the next", sent: []time.Duration{60 * time.Second, 70 * time.Second}, at: 80 * time.Second, want: 122 * time.Second},
		{name: "window over by our count: a whole window from now", at: 200 * time.Second, want: 260 * time.Second},
	}
	for _, s := range steps {
		for _, d := range s.sent {
			w.sent(t0.Add(d))
		}
		if got := w.end(t0.Add(s.at)); !got.Equal(t0.Add(s.want)) {
			t.Errorf("%s: got t0+%v, want t0+%v", s.name, got.Sub(t0), s.want)
		}
	}
}

func TestSafetyMargin(t *testing.T) {
	if got := safetyMargin(time.Minute); got != 2*time.Second {
		t.Errorf("margin of the documented minute: got %v, want 2s", got)
	}
}

// TestThrottleArithmetic checks, on a fake clock, when a client resumes
// after a 429: Retry-After when present, else the window's end.
func TestThrottleArithmetic(t *testing.T) {
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name       string
		retryAfter string
		gap        time.Duration // fake time between the two requests
		want       time.Duration // blocked until t0+want
	}{
		{name: "no Retry-After", gap: 10 * time.Second, want: 62 * time.Second},
		{name: "Retry-After seconds", retryAfter: "7", gap: 10 * time.Second, want: 17 * time.Second},
		{name: "Retry-After fraction", retryAfter: "0.5", gap: time.Second, want: 1500 * time.Millisecond},
		{name: "Retry-After date", retryAfter: t0.Add(40 * time.Second).Format(http.TimeFormat), gap: 10 * time.Second, want: 40 * time.Second},
		{name: "unusable Retry-After", retryAfter: "soon", gap: 10 * time.Second, want: 62 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var mu sync.Mutex
			now, n := t0, 0
			clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				mu.Lock()
				n++
				first := n == 1
				mu.Unlock()
				if first {
					_, _ = w.Write([]byte(`{"value":[],"next_link":"null"}`))
					return
				}
				if tt.retryAfter != "" {
					w.Header().Set("Retry-After", tt.retryAfter)
				}
				w.WriteHeader(http.StatusTooManyRequests)
				_, _ = w.Write([]byte(`{"code":-4290001,"traceId":"tr","msg":"throttled"}`))
			}))
			defer srv.Close()
			c, err := New(Config{BaseURL: srv.URL, Token: "t", Now: clock, MaxRetries: -1})
			if err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			if _, err := c.sweep(ctx, "<a@x>"); err != nil {
				t.Fatalf("first request: %v", err)
			}
			mu.Lock()
			now = now.Add(tt.gap)
			mu.Unlock()
			_, err = c.sweep(ctx, "<b@x>")
			var apiErr *Error
			if !errors.Is(err, providers.ErrTemporary) || !errors.As(err, &apiErr) || apiErr.TraceID != "tr" {
				t.Fatalf("second request: got %v, want ErrTemporary with the 429", err)
			}
			if got := c.caller.BlockedUntil(); !got.Equal(t0.Add(tt.want)) {
				t.Errorf("blocked until t0+%v, want t0+%v", got.Sub(t0), tt.want)
			}
		})
	}
}
