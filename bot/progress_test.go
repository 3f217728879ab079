package bot

import (
	"context"
	"io"
	"log/slog"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/countersign/countersign/approvals"
)

// TestRequestLocksExclude: renders of one request never overlap, renders
// of different requests do not wait for each other, and no entry outlives
// its last holder.
func TestRequestLocksExclude(t *testing.T) {
	l := requestLocks{held: map[int64]*requestLock{}}
	const ids, workers, rounds = 50, 8, 200
	// renders counts renders per request, guarded by nothing but the
	// request's lock: under -race, two holders at once are a reported
	// race, and without -race lost increments show in the total.
	var renders [ids]int
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range rounds {
				id := (i + w) % ids
				unlock := l.lock(int64(id))
				n := renders[id]
				runtime.Gosched() // invite another holder in, were the lock broken
				renders[id] = n + 1
				unlock()
			}
		}()
	}
	wg.Wait()
	total := 0
	for _, n := range renders {
		total += n
	}
	if total != workers*rounds {
		t.Errorf("%d renders counted, want %d: two held one request's lock at once", total, workers*rounds)
	}
	if n := l.size(); n != 0 {
		t.Errorf("%d lock entries left after every render finished, want 0", n)
	}

	// Holding one request's lock does not block another's: were it to,
	// this would deadlock and the test time out.
	unlock1 := l.lock(1)
	unlock2 := l.lock(2)
	if n := l.size(); n != 2 {
		t.Errorf("%d entries while two requests are held, want 2", n)
	}
	unlock2()
	unlock1()
	if n := l.size(); n != 0 {
		t.Errorf("%d entries after both were released, want 0", n)
	}
}

// missing is a Store that has no requests.
type missing struct{ Store }

func (missing) Get(context.Context, int64) (approvals.Request, error) {
	return approvals.Request{}, approvals.ErrNotFound
}

// TestRenderLocksStayBounded: rendering many requests, even ones that fail
// to load, leaves no lock behind.
func TestRenderLocksStayBounded(t *testing.T) {
	p := newProgress(missing{}, map[string]Chat{}, func() time.Time { return time.Unix(0, 0) }, slog.New(slog.NewTextHandler(io.Discard, nil)))
	var wg sync.WaitGroup
	for id := range int64(1000) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p.render(context.Background(), id)
		}()
	}
	wg.Wait()
	if n := p.locks.size(); n != 0 {
		t.Errorf("%d lock entries after 1000 renders finished, want 0", n)
	}
}
