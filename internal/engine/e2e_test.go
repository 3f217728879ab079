package engine

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/countersign/countersign/approvals"
	"github.com/countersign/countersign/internal/changes"
	"github.com/countersign/countersign/internal/store"
	"github.com/countersign/countersign/internal/testdb"
)

// stateNotifier records the state each notification could render.
type stateNotifier struct {
	s  *store.Store
	mu sync.Mutex
	// last is the state read by the latest call per request.
	last  map[int64]approvals.State
	calls map[int64]int
}

func (n *stateNotifier) Changed(ctx context.Context, id int64) {
	r, err := n.s.Get(ctx, id)
	if err != nil {
		return
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	n.last[id] = r.State
	n.calls[id]++
}

// waitAll waits until every request is in a final state, checking again
// whenever one of signals tells of a change. The database must hold no
// other open request.
func waitAll(ctx context.Context, t testing.TB, s *store.Store, ids []int64, signals ...*changes.Signal) {
	t.Helper()
	open := []approvals.State{approvals.StatePending, approvals.StateApproved, approvals.StateRunning}
	waitFor(ctx, t, "every request final", func() bool {
		rs, err := s.List(ctx, approvals.Filter{States: open, Limit: 1})
		if err != nil {
			t.Fatal(err)
		}
		return len(rs) == 0
	}, signals...)
	for _, id := range ids {
		if r := getRequest(t, s, id); !r.State.Terminal() {
			t.Fatalf("request %d = %s, want final", id, r.State)
		}
	}
}

func TestEngineRunsRequestsToTheEnd(t *testing.T) {
	slowEach(t, func(ctx context.Context, t *testing.T, url string) {
		s := testdb.Store(t, url)
		f := newFakeProvider()
		f.maxItems, f.pollsToFinish = 1, 3
		f.fail = map[string]bool{"u3-b@contoso.com": true}
		n := &stateNotifier{s: s, last: map[int64]approvals.State{}, calls: map[int64]int{}}
		cfg, changed := watched(Config{Store: s, Providers: f, Notifier: n, PollInterval: 20 * time.Millisecond,
			FetchPollInterval: 20 * time.Millisecond, NotifyInterval: 100 * time.Millisecond})
		e := started(ctx, t, cfg)
		var ids []int64
		for i := range 10 {
			r := approvedRequest(t, s, "fake", time.Now(), fmt.Sprintf("u%d-a@contoso.com", i), fmt.Sprintf("u%d-b@contoso.com", i))
			ids = append(ids, r.ID)
		}
		waitAll(ctx, t, s, ids, changed)
		if err := e.Stop(ctx); err != nil {
			t.Fatal(err)
		}
		sent := map[string]int{}
		for _, keys := range f.submitted() {
			for _, k := range keys {
				sent[k]++
			}
		}
		for i, id := range ids {
			r := getRequest(t, s, id)
			want := approvals.StateSucceeded
			if i == 3 {
				want = approvals.StatePartiallyFailed
			}
			if r.State != want {
				t.Errorf("request %d = %s (%s), want %s", id, r.State, r.Note, want)
			}
			for _, k := range []string{fmt.Sprintf("u%d-a@contoso.com", i), fmt.Sprintf("u%d-b@contoso.com", i)} {
				if sent[k] != 1 {
					t.Errorf("%s sent %d times, want once", k, sent[k])
				}
			}
			n.mu.Lock()
			last, calls := n.last[id], n.calls[id]
			n.mu.Unlock()
			if last != want {
				t.Errorf("request %d: last notification saw %s, want the final %s (%d calls)", id, last, want, calls)
			}
		}
	})
}

func TestStopHandsRunningJobsBack(t *testing.T) {
	testdb.Each(t, func(t *testing.T, url string) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		s := testdb.Store(t, url)
		f := newFakeProvider()
		polling := make(chan struct{}, 1)
		f.onPoll = func(ctx context.Context) { // the provider hangs
			polling <- struct{}{}
			<-ctx.Done()
		}
		first := started(ctx, t, Config{Store: s, Providers: f, PollInterval: 10 * time.Millisecond, FetchPollInterval: 20 * time.Millisecond})
		r := approvedRequest(t, s, "fake", time.Now(), "a@x.io")
		select {
		case <-polling:
		case <-ctx.Done():
			t.Fatal("never polled")
		}
		stop, stopCancel := context.WithTimeout(ctx, 200*time.Millisecond)
		defer stopCancel()
		if err := first.Stop(stop); err != nil {
			t.Fatalf("Stop with a hung attempt: %v", err)
		}
		// The attempt was cancelled and gave its job back at once: another
		// replica carries on without waiting for a rescue.
		f.mu.Lock()
		f.onPoll = nil
		f.mu.Unlock()
		cfg, changed := watched(Config{Store: s, Providers: f, PollInterval: 10 * time.Millisecond, FetchPollInterval: 20 * time.Millisecond})
		second := started(ctx, t, cfg)
		defer second.Stop(context.Background())
		soon, soonCancel := context.WithTimeout(ctx, 5*time.Second) // a rescue would take 12 s or more
		defer soonCancel()
		waitState(soon, t, s, r.ID, approvals.StateSucceeded, changed)
		if n := len(f.submitted()); n != 1 {
			t.Errorf("%d submits, want 1", n)
		}
	})
}
