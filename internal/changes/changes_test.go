package changes_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/countersign/countersign/internal/changes"
)

func TestWaitSeesEveryChange(t *testing.T) {
	var s changes.Signal
	var mu sync.Mutex
	n := 0
	const want = 1000
	go func() {
		for range want {
			mu.Lock()
			n++
			mu.Unlock()
			s.Notify()
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := s.Wait(ctx, func() bool { mu.Lock(); defer mu.Unlock(); return n == want })
	if err != nil {
		t.Fatalf("Wait = %v, want nil once all %d changes were made", err, want)
	}
}

func TestWaitOnSeveralSignals(t *testing.T) {
	var a, b changes.Signal
	var flag atomic.Bool
	ready := make(chan struct{})
	go func() {
		<-ready
		flag.Store(true)
		b.Notify() // only the second signal tells
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	calls := 0
	err := changes.Wait(ctx, func() bool {
		calls++
		if calls == 1 {
			close(ready) // the change happens after the first check
		}
		return flag.Load()
	}, &a, &b)
	if err != nil {
		t.Fatalf("Wait = %v, want nil", err)
	}
}

func TestWaitEndsWithItsContext(t *testing.T) {
	var s changes.Signal
	cause := errors.New("test over")
	ctx, cancel := context.WithCancelCause(context.Background())
	cancel(cause)
	if err := s.Wait(ctx, func() bool { return false }); !errors.Is(err, cause) {
		t.Fatalf("Wait = %v, want the context's cause", err)
	}
	// Notify without waiters is a no-op.
	s.Notify()
}

func TestHandlerTellsAfterEachRequest(t *testing.T) {
	var s changes.Signal
	var mu sync.Mutex
	hits := 0
	srv := httptest.NewServer(s.Handler(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {
		mu.Lock()
		hits++
		mu.Unlock()
	})))
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	go func() {
		for range 3 {
			resp, err := http.Get(srv.URL)
			if err == nil {
				resp.Body.Close()
			}
		}
	}()
	if err := s.Wait(ctx, func() bool { mu.Lock(); defer mu.Unlock(); return hits == 3 }); err != nil {
		t.Fatalf("Wait for three requests = %v", err)
	}
}
