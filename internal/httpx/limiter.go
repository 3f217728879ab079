package httpx

import (
	"context"
	"sync"
	"time"
)

// WindowLimiter allows at most N events in any window of length Per. Unlike
// a token bucket it is safe against a server that counts requests in a fixed
// window starting at the window's first request (TMCAS: "more than 20
// requests over the past 1 minute"): no sliding window holds more than N, so
// no fixed one does. Share one per credential across every call.
type WindowLimiter struct {
	n   int
	per time.Duration
	now func() time.Time

	mu       sync.Mutex
	sent     []time.Time // the last n grants, oldest first
	blocked  time.Time   // no grants before this instant
	observer func(waited time.Duration)
}

// NewWindowLimiter returns a limiter of n events per window. now is the
// clock; nil means time.Now.
func NewWindowLimiter(n int, per time.Duration, now func() time.Time) *WindowLimiter {
	if now == nil {
		now = time.Now
	}
	return &WindowLimiter{n: n, per: per, now: now}
}

// Observe makes every later Wait report how long it waited to fn (zero
// when it did not wait, and also when ctx ended the wait), so the
// rate-limit waits can be measured. fn must be fast; nil stops reporting.
func (l *WindowLimiter) Observe(fn func(waited time.Duration)) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.observer = fn
}

// Wait blocks until an event is allowed or ctx is done. It returns how long
// it waited.
func (l *WindowLimiter) Wait(ctx context.Context) (time.Duration, error) {
	waited, err := l.wait(ctx)
	l.mu.Lock()
	fn := l.observer
	l.mu.Unlock()
	if fn != nil {
		fn(waited)
	}
	return waited, err
}

func (l *WindowLimiter) wait(ctx context.Context) (time.Duration, error) {
	var waited time.Duration
	for {
		d := l.reserve()
		if d <= 0 {
			return waited, nil
		}
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return waited, ctx.Err()
		case <-t.C:
			waited += d
		}
	}
}

// reserve grants an event now and returns 0, or returns how long to wait
// before asking again.
func (l *WindowLimiter) reserve() time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	if d := l.blocked.Sub(now); d > 0 {
		return d
	}
	if len(l.sent) == l.n {
		if d := l.sent[0].Add(l.per).Sub(now); d > 0 {
			return d
		}
		l.sent = l.sent[1:]
	}
	l.sent = append(l.sent, now)
	return 0
}

// Block makes every caller wait until at least t, as after a 429 whose
// Retry-After applies to the whole credential.
func (l *WindowLimiter) Block(until time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if until.After(l.blocked) {
		l.blocked = until
	}
}
