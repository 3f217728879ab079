package engine

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// Notifier is told that a request's stored state changed, so that its card
// and progress message can be rendered again from the store. A call may
// cover several changes; the last change is always followed by a call.
type Notifier interface {
	Changed(ctx context.Context, requestID int64)
}

// notifyTimeout bounds one Notifier call.
const notifyTimeout = 30 * time.Second

// clock is the time source of the coalescer: the wall clock, or a fake one
// that tests advance by hand.
type clock interface {
	Now() time.Time
	// AfterFunc calls f in its own goroutine after d; stop cancels it.
	AfterFunc(d time.Duration, f func()) (stop func() bool)
}

type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }

func (realClock) AfterFunc(d time.Duration, f func()) func() bool { return time.AfterFunc(d, f).Stop }

// coalescer paces Notifier calls: per request, a change when none was
// delivered in the last interval is delivered at once; changes inside the
// interval, or while a call is running, are folded into one trailing call
// when the interval ends. Calls for one request never overlap.
type coalescer struct {
	target   Notifier
	interval time.Duration
	clock    clock
	log      *slog.Logger

	// base is the parent of every call's context; close cancels it when
	// its own context ends before the last calls return.
	base   context.Context
	cancel context.CancelFunc

	mu     sync.Mutex
	reqs   map[int64]*pace // requests called within the last interval
	closed bool
	calls  sync.WaitGroup
}

// pace is the state of one request inside its interval.
type pace struct {
	last    time.Time   // when the last call started
	dirty   bool        // changed since the last call started
	calling bool        // a call is running
	stop    func() bool // the armed timer for the end of the interval
}

func newCoalescer(target Notifier, interval time.Duration, c clock, log *slog.Logger) *coalescer {
	base, cancel := context.WithCancel(context.Background())
	return &coalescer{target: target, interval: interval, clock: c, log: log, base: base, cancel: cancel, reqs: map[int64]*pace{}}
}

// Changed records a change of request id.
func (c *coalescer) Changed(id int64) {
	if c.target == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return
	}
	p, ok := c.reqs[id]
	if !ok {
		p = &pace{}
		c.reqs[id] = p
		c.start(id, p)
		return
	}
	// A call is running or the interval is not over: the end of either
	// delivers this change.
	p.dirty = true
}

// start begins a call. c.mu is held.
func (c *coalescer) start(id int64, p *pace) {
	p.last, p.dirty, p.calling, p.stop = c.clock.Now(), false, true, nil
	c.calls.Add(1)
	go c.call(id, p)
}

func (c *coalescer) call(id int64, p *pace) {
	defer c.calls.Done()
	c.deliver(id)

	c.mu.Lock()
	defer c.mu.Unlock()
	p.calling = false
	if c.closed {
		c.flush(id, p)
		return
	}
	wait := p.last.Add(c.interval).Sub(c.clock.Now())
	if wait <= 0 {
		c.intervalOver(id, p)
		return
	}
	p.stop = c.clock.AfterFunc(wait, func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		if c.reqs[id] == p && !p.calling && p.stop != nil {
			p.stop = nil
			c.intervalOver(id, p)
		}
	})
}

// deliver makes one call. A panicking notifier is logged, not fatal: the
// engine's work does not depend on it.
func (c *coalescer) deliver(id int64) {
	ctx, cancel := context.WithTimeout(c.base, notifyTimeout)
	defer cancel()
	defer func() {
		if v := recover(); v != nil {
			c.log.ErrorContext(ctx, "notifier panicked", "request_id", id, "panic", fmt.Sprint(v))
		}
	}()
	c.target.Changed(ctx, id)
}

// intervalOver delivers what changed during the interval, or forgets the
// request. c.mu is held.
func (c *coalescer) intervalOver(id int64, p *pace) {
	if p.dirty {
		c.start(id, p)
		return
	}
	delete(c.reqs, id)
}

// flush delivers a pending change at once, ignoring the interval: the
// engine is stopping. c.mu is held.
func (c *coalescer) flush(id int64, p *pace) {
	if p.calling {
		return // its end flushes
	}
	if p.stop != nil {
		p.stop()
		p.stop = nil
	}
	c.intervalOver(id, p)
}

// close stops accepting changes, delivers the pending ones at once and
// waits for every call until ctx is done, when it cancels the rest.
func (c *coalescer) close(ctx context.Context) error {
	c.mu.Lock()
	c.closed = true
	for id, p := range c.reqs {
		c.flush(id, p)
	}
	c.mu.Unlock()
	done := make(chan struct{})
	go func() {
		c.calls.Wait()
		close(done)
	}()
	defer c.cancel()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
	}
	select {
	case <-done: // finished as ctx ended
		return nil
	default:
		c.cancel()
		<-done
		return ctx.Err()
	}
}
