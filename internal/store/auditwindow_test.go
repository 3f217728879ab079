package store_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/countersign/countersign/internal/audit"
	"github.com/countersign/countersign/internal/changes"
	"github.com/countersign/countersign/internal/store"
	"github.com/countersign/countersign/internal/testdb"
)

func TestAuditWindowSelectsByTimeAndCommitOrder(t *testing.T) {
	eachStore(t, func(ctx context.Context, t *testing.T, s *store.Store) {
		mins := func(m int) time.Time { return t0.Add(time.Duration(m) * time.Minute) }
		for i, e := range []struct {
			at        int
			requestID int64
			kind      string
		}{
			{10, 1, "requested"}, // seq 1
			{50, 1, "approve"},   // 2
			{59, 3, "requested"}, // 3: stamped before 60, committed after a read at head 2
			{61, 4, "requested"}, // 4
			{5, 5, "requested"},  // 5: very late
			{30, 0, "digest"},    // 6: not about a request
			{20, 7, "progress"},  // 7
		} {
			if err := s.AppendAudit(ctx, mins(e.at), e.requestID, e.kind, "alice", map[string]int{"i": i}); err != nil {
				t.Fatal(err)
			}
		}
		requestKinds := []string{"requested", "approve"}
		cases := []struct {
			name string
			w    audit.Window
			want []int64
		}{
			{"first window, read at head 2", audit.Window{From: mins(0), To: mins(60), After: 0, Through: 2}, []int64{1, 2}},
			{"the next window takes what committed late", audit.Window{From: mins(60), To: mins(120), After: 2, Through: 5}, []int64{3, 4, 5}},
			{"kinds", audit.Window{From: mins(60), To: mins(120), After: 2, Through: 7, Kinds: requestKinds}, []int64{3, 4, 5}},
			{"all kinds of requests", audit.Window{From: mins(60), To: mins(120), After: 2, Through: 7}, []int64{3, 4, 5, 7}},
			{"by time alone", audit.Window{From: mins(0), To: mins(60), After: 7, Through: 7}, []int64{1, 2, 3, 5, 7}},
			{"stamped after To", audit.Window{From: mins(0), To: mins(61), After: 2, Through: 4}, []int64{1, 2, 3}},
			{"committed after Through", audit.Window{From: mins(0), To: mins(120), After: 0, Through: 3}, []int64{1, 2, 3}},
			{"empty", audit.Window{From: mins(200), To: mins(300), After: 7, Through: 7}, nil},
		}
		for _, tc := range cases {
			entries, err := s.AuditEntries(ctx, tc.w)
			if err != nil {
				t.Fatalf("%s: %v", tc.name, err)
			}
			var got []int64
			for _, e := range entries {
				got = append(got, e.Seq)
				if e.RequestID == 0 || e.Kind == "" || e.At.IsZero() {
					t.Errorf("%s: entry %d = %+v, want its request, kind and time", tc.name, e.Seq, e)
				}
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("%s: got entries %v, want %v", tc.name, got, tc.want)
			}
		}
	})
}

// TestAuditWindowsChainUnderConcurrentAppends has several stores (replicas
// on PostgreSQL, connections on SQLite) append entries stamped just before
// their transaction while a reader cuts the log into windows the way the
// digest does, after each append, while the other writers' are in flight:
// each window ends at the time it is cut and at the head it read then, and
// starts where the one before ended. Every entry must be in exactly one
// window, whenever it committed.
func TestAuditWindowsChainUnderConcurrentAppends(t *testing.T) {
	const writers, appends = 4, 50
	testdb.Each(t, func(t *testing.T, url string) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		testdb.Store(t, url)
		start := time.Now()
		var wg sync.WaitGroup
		errs := make(chan error, writers)
		var appended atomic.Int64
		var sig changes.Signal
		for w := range writers {
			s := testdb.Open(t, url)
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer sig.Notify()
				for i := range appends {
					if err := s.AppendAudit(ctx, time.Now(), int64(w*appends+i+1), "requested", "alice", nil); err != nil {
						errs <- fmt.Errorf("writer %d: %w", w, err)
						return
					}
					appended.Add(1)
					sig.Notify()
				}
			}()
		}
		done := make(chan struct{})
		go func() { wg.Wait(); close(done); sig.Notify() }()
		finished := func() bool {
			select {
			case <-done:
				return true
			default:
				return false
			}
		}

		reader := testdb.Open(t, url)
		seen := map[int64]int{}
		prev := audit.Window{To: start}
		windows, late := 0, 0
		cut := func(to time.Time) {
			t.Helper()
			head, _, err := reader.AuditHead(ctx)
			if err != nil {
				t.Fatal(err)
			}
			w := audit.Window{From: prev.To, To: to, After: prev.Through, Through: head}
			entries, err := reader.AuditEntries(ctx, w)
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range entries {
				seen[e.Seq]++
				if e.At.Before(w.From) {
					late++
				}
			}
			windows++
			prev = w
		}
		for cuts := int64(0); !finished(); {
			if err := sig.Wait(ctx, func() bool { return appended.Load() > cuts || finished() }); err != nil {
				t.Fatal(err)
			}
			cuts = appended.Load()
			cut(time.Now())
		}
		select {
		case err := <-errs:
			t.Fatal(err)
		default:
		}
		cut(time.Now().Add(time.Hour)) // after the last append: takes the rest
		for seq := int64(1); seq <= writers*appends; seq++ {
			if seen[seq] != 1 {
				t.Errorf("entry %d was in %d windows, want 1", seq, seen[seq])
			}
		}
		if len(seen) != writers*appends {
			t.Errorf("the windows hold %d entries, want %d", len(seen), writers*appends)
		}
		t.Logf("%d entries in %d windows, %d of them committed after the window of their time was read", len(seen), windows, late)
	})
}
