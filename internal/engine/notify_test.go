package engine

import (
	"context"
	"io"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// fakeClock runs timers when the test advances it.
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	timers []*fakeTimer
}

type fakeTimer struct {
	at      time.Time
	f       func()
	stopped bool
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) AfterFunc(d time.Duration, f func()) func() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	tm := &fakeTimer{at: c.now.Add(d), f: f}
	c.timers = append(c.timers, tm)
	return func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		was := !tm.stopped
		tm.stopped = true
		return was
	}
}

// Advance moves the clock and runs the timers that came due, in order.
func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	var due []*fakeTimer
	var rest []*fakeTimer
	for _, tm := range c.timers {
		if !tm.stopped && !tm.at.After(c.now) {
			tm.stopped = true
			due = append(due, tm)
		} else if !tm.stopped {
			rest = append(rest, tm)
		}
	}
	c.timers = rest
	c.mu.Unlock()
	sort.Slice(due, func(i, j int) bool { return due[i].at.Before(due[j].at) })
	for _, tm := range due {
		tm.f()
	}
}

// callLog is a Notifier that records each call with the fake time it was
// made at, and can hold calls until released.
type callLog struct {
	clock   *fakeClock
	hold    chan struct{} // nil: return at once
	entered chan struct{} // nil: not announced

	taken[string]
}

func (l *callLog) Changed(ctx context.Context, id int64) {
	l.add(l.clock.Now().Sub(t0).String() + " #" + string(rune('0'+id)))
	if l.entered != nil {
		l.entered <- struct{}{}
	}
	if l.hold != nil {
		select {
		case <-l.hold:
		case <-ctx.Done():
		}
	}
}

func TestCoalescer(t *testing.T) {
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	type step struct {
		changed []int64       // requests changed
		advance time.Duration // then the clock moves
		want    []string      // calls made by the end of the step
	}
	cases := []struct {
		name  string
		steps []step
	}{{
		name: "a burst gives one call at once and one trailing call",
		steps: []step{
			{changed: []int64{1, 1, 1, 1, 1}, want: []string{"0s #1"}},
			{advance: 500 * time.Millisecond, changed: []int64{1, 1}, want: nil},
			{advance: 499 * time.Millisecond, want: nil},
			{advance: time.Millisecond, want: []string{"1s #1"}},
			{advance: time.Second, want: nil}, // quiet: nothing pending
			{changed: []int64{1}, want: []string{"2s #1"}},
		},
	}, {
		name: "the last change is delivered after the interval",
		steps: []step{
			{changed: []int64{1}, want: []string{"0s #1"}},
			{advance: 999 * time.Millisecond, changed: []int64{1}, want: nil},
			{advance: time.Millisecond, want: []string{"1s #1"}},
			{advance: 300 * time.Millisecond, changed: []int64{1}, want: nil},
			{advance: 700 * time.Millisecond, want: []string{"2s #1"}},
			{advance: 5 * time.Second, want: nil},
		},
	}, {
		name: "requests are paced separately",
		steps: []step{
			{changed: []int64{1, 2, 1, 2}, want: []string{"0s #1", "0s #2"}},
			{advance: 400 * time.Millisecond, changed: []int64{3, 2}, want: []string{"400ms #3"}},
			{advance: 600 * time.Millisecond, want: []string{"1s #1", "1s #2"}},
			{advance: time.Second, want: nil},
		},
	}, {
		name: "at most one call per interval under a steady stream",
		steps: []step{
			{changed: []int64{1}, want: []string{"0s #1"}},
			{advance: 250 * time.Millisecond, changed: []int64{1}},
			{advance: 250 * time.Millisecond, changed: []int64{1}},
			{advance: 250 * time.Millisecond, changed: []int64{1}},
			{advance: 250 * time.Millisecond, changed: []int64{1}, want: []string{"1s #1"}},
			{advance: 250 * time.Millisecond, changed: []int64{1}},
			{advance: 250 * time.Millisecond, changed: []int64{1}},
			{advance: 250 * time.Millisecond},
			{advance: 250 * time.Millisecond, want: []string{"2s #1"}},
			{advance: time.Second, want: nil},
		},
	}}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			clk := &fakeClock{now: t0}
			log := &callLog{clock: clk}
			c := newCoalescer(log, time.Second, clk, quiet)
			for i, s := range tc.steps {
				clk.Advance(s.advance)
				for _, id := range s.changed {
					c.Changed(id)
				}
				c.calls.Wait() // the calls started so far have returned
				got := log.take()
				sort.Strings(got)
				if diff := cmp.Diff(s.want, got); diff != "" {
					t.Fatalf("step %d: calls (-want +got):\n%s", i, diff)
				}
			}
			if err := c.close(context.Background()); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestCoalescerSlowNotifier(t *testing.T) {
	clk := &fakeClock{now: t0}
	log := &callLog{clock: clk, hold: make(chan struct{}), entered: make(chan struct{})}
	c := newCoalescer(log, time.Second, clk, slog.New(slog.NewTextHandler(io.Discard, nil)))
	c.Changed(1)
	<-log.entered
	// Changes while the call runs, past the interval, wait for it: calls
	// for one request never overlap.
	clk.Advance(3 * time.Second)
	c.Changed(1)
	c.Changed(1)
	log.hold <- struct{}{} // the first call returns; the pending change is delivered at once
	<-log.entered
	log.hold <- struct{}{} // the second call returns
	c.calls.Wait()
	if diff := cmp.Diff([]string{"0s #1", "3s #1"}, log.take()); diff != "" {
		t.Fatalf("calls (-want +got):\n%s", diff)
	}
	close(log.hold)
	log.entered = nil
	if err := c.close(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func TestCoalescerCloseFlushes(t *testing.T) {
	clk := &fakeClock{now: t0}
	log := &callLog{clock: clk}
	c := newCoalescer(log, time.Second, clk, slog.New(slog.NewTextHandler(io.Discard, nil)))
	c.Changed(1)
	c.Changed(2)
	c.calls.Wait()
	clk.Advance(100 * time.Millisecond)
	c.Changed(1) // the final state, inside the interval
	if err := c.close(context.Background()); err != nil {
		t.Fatal(err)
	}
	got := log.take()
	sort.Strings(got)
	if diff := cmp.Diff([]string{"0s #1", "0s #2", "100ms #1"}, got); diff != "" {
		t.Fatalf("calls (-want +got):\n%s", diff)
	}
	c.Changed(1) // after close: dropped
	clk.Advance(time.Hour)
	if got := log.take(); len(got) != 0 {
		t.Fatalf("calls after close = %v, want none", got)
	}
}

type panicky struct{}

func (panicky) Changed(context.Context, int64) { panic("render failed") }

func TestCoalescerSurvivesPanickingNotifier(t *testing.T) {
	clk := &fakeClock{now: t0}
	logs := &logBuffer{}
	c := newCoalescer(panicky{}, time.Second, clk, logs.logger())
	c.Changed(7)
	c.calls.Wait()
	c.Changed(7)
	clk.Advance(time.Second)
	c.calls.Wait()
	if got := strings.Count(logs.String(), "notifier panicked"); got != 2 {
		t.Fatalf("logged %d panics, want 2:\n%s", got, logs)
	}
	if err := c.close(context.Background()); err != nil {
		t.Fatal(err)
	}
}
