// Package changes lets a test wait for a condition on state that other
// goroutines change, without polling: whoever changes the state calls
// Signal.Notify, and Wait checks the condition again after each change
// until it holds or the context ends. The fakes of the chat platforms and
// providers carry a Signal, so tests wait on what the fake records.
package changes

import (
	"context"
	"fmt"
	"net/http"
	"reflect"
	"sync"
)

// Signal tells waiters that some state changed. The zero value is ready
// to use; a Signal must not be copied after first use.
type Signal struct {
	mu sync.Mutex
	ch chan struct{} // closed by the next Notify; nil when nobody waits
}

// Notify wakes every waiter: call it after each change of the state, once
// the change is visible to the waiters' conditions.
func (s *Signal) Notify() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ch != nil {
		close(s.ch)
		s.ch = nil
	}
}

// next returns a channel closed by the next Notify.
func (s *Signal) next() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ch == nil {
		s.ch = make(chan struct{})
	}
	return s.ch
}

// Handler is h telling the signal of each request once h answered it:
// whatever h recorded is visible by then. Fakes of HTTP services serve
// through it.
func (s *Signal) Handler(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer s.Notify()
		h.ServeHTTP(w, r)
	})
}

// Wait returns nil once cond holds, checking it now and after every
// Notify, or an error wrapping the cause once ctx ends.
func (s *Signal) Wait(ctx context.Context, cond func() bool) error {
	return Wait(ctx, cond, s)
}

// Wait returns nil once cond holds, checking it now and after every
// Notify of any of signals, or an error wrapping the cause once ctx ends.
func Wait(ctx context.Context, cond func() bool, signals ...*Signal) error {
	cases := make([]reflect.SelectCase, len(signals)+1)
	cases[0] = reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(ctx.Done())}
	for {
		// Take the channels before checking: a change made while cond
		// runs closes them, so it cannot be missed.
		for i, s := range signals {
			cases[i+1] = reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(s.next())}
		}
		if cond() {
			return nil
		}
		if i, _, _ := reflect.Select(cases); i == 0 {
			return fmt.Errorf("waiting: %w", context.Cause(ctx))
		}
	}
}
