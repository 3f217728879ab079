package httpx

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestWindowLimiterObserve(t *testing.T) {
	// A long window: the second Wait can only end by its context.
	l := NewWindowLimiter(1, time.Hour, nil)
	var seen []time.Duration
	l.Observe(func(d time.Duration) { seen = append(seen, d) })

	if _, err := l.Wait(context.Background()); err != nil {
		t.Fatalf("first Wait: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := l.Wait(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("second Wait: got %v, want context.Canceled", err)
	}
	if diff := cmp.Diff([]time.Duration{0, 0}, seen); diff != "" {
		t.Errorf("observed waits (-want +got):\n%s", diff)
	}

	l.Observe(nil)
	if _, err := l.Wait(ctx); err == nil {
		t.Fatal("third Wait: got nil, want an error")
	}
	if len(seen) != 2 {
		t.Errorf("after Observe(nil): got %d observations, want 2", len(seen))
	}
}

func TestWindowLimiterObserveReportsTheWait(t *testing.T) {
	// Two grants per 25ms window on a clock that reads 10ms later each
	// time: grants at 10 and 20, so the third Wait (at 30) waits 5ms for
	// the first grant to leave the window, however slow the machine.
	var mu sync.Mutex
	clock := time.Unix(0, 0)
	now := func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		clock = clock.Add(10 * time.Millisecond)
		return clock
	}
	l := NewWindowLimiter(2, 25*time.Millisecond, now)
	got := make(chan time.Duration, 3)
	l.Observe(func(d time.Duration) { got <- d })
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var last time.Duration
	for i := range 3 {
		waited, err := l.Wait(ctx)
		if err != nil {
			t.Fatalf("Wait %d: %v", i, err)
		}
		if obs := <-got; obs != waited {
			t.Errorf("Wait %d: observed %v, returned %v", i, obs, waited)
		}
		last = waited
	}
	if last != 5*time.Millisecond {
		t.Errorf("third Wait: waited %v, want 5ms", last)
	}
}
