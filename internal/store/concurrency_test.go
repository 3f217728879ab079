package store_test

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"testing"

	"github.com/countersign/countersign/approvals"
	"github.com/countersign/countersign/internal/audit"
	"github.com/countersign/countersign/internal/store"
	"github.com/countersign/countersign/internal/store/storetest"
	"github.com/countersign/countersign/internal/testdb"
)

// clickTogether runs each click at the same moment and returns the errors.
func clickTogether(clicks ...func() error) []error {
	start := make(chan struct{})
	errs := make([]error, len(clicks))
	var wg sync.WaitGroup
	for i, c := range clicks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			errs[i] = c()
		}()
	}
	close(start)
	wg.Wait()
	return errs
}

// approvedEntries counts, per request, audit entries that moved it to approved.
func approvedEntries(t *testing.T, s *store.Store) map[int64]int {
	t.Helper()
	out := map[int64]int{}
	err := s.Audit(context.Background(), t0.Add(-1), func(e audit.Entry) error {
		var d struct{ To string }
		if err := json.Unmarshal(e.Detail, &d); err != nil {
			return err
		}
		if d.To == string(approvals.StateApproved) {
			out[e.RequestID]++
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestConcurrentApprovers(t *testing.T) {
	const requests = 100
	for _, required := range []int{1, 2} {
		t.Run(map[int]string{1: "one-required", 2: "two-required"}[required], func(t *testing.T) {
			testdb.Each(t, func(t *testing.T, url string) {
				ctx := context.Background()
				s1 := testdb.Store(t, url)
				s2 := testdb.Open(t, url)
				p := storetest.Policy(required)
				for i := range requests {
					r := storetest.File(t, s1, p, "tmcas", t0, "user"+string(rune('a'+i%26))+"@contoso.com")
					errs := clickTogether(
						func() error { _, err := s1.Apply(ctx, r.ID, storetest.Approval("bob", r.Hash), t0); return err },
						func() error { _, err := s2.Apply(ctx, r.ID, storetest.Approval("carol", r.Hash), t0); return err },
					)
					ok := 0
					for _, err := range errs {
						switch {
						case err == nil:
							ok++
						case required == 1 && errors.Is(err, approvals.ErrAlreadyDecided):
						default:
							t.Fatalf("request %d: click error %v", r.ID, err)
						}
					}
					if ok != required {
						t.Fatalf("request %d: %d clicks counted, want %d", r.ID, ok, required)
					}
					got, err := s1.Get(ctx, r.ID)
					if err != nil {
						t.Fatal(err)
					}
					if got.State != approvals.StateApproved || len(got.Approvals) != required {
						t.Fatalf("request %d: state %s with %d approvals, want approved with %d", r.ID, got.State, len(got.Approvals), required)
					}
				}
				jobsByRequest := storetest.ExecuteJobs(t, s1)
				approvedBy := approvedEntries(t, s1)
				if len(jobsByRequest) != requests || len(approvedBy) != requests {
					t.Fatalf("%d requests with jobs and %d approved in the audit log, want %d each", len(jobsByRequest), len(approvedBy), requests)
				}
				for id, n := range jobsByRequest {
					if n != 1 || approvedBy[id] != 1 {
						t.Fatalf("request %d: %d execution jobs and %d approved audit entries, want exactly 1 each", id, n, approvedBy[id])
					}
				}
				if _, err := s1.VerifyAudit(ctx); err != nil {
					t.Fatalf("VerifyAudit: %v", err)
				}
			})
		})
	}
}

func TestRepeatedClicksCountOnce(t *testing.T) {
	testdb.Each(t, func(t *testing.T, url string) {
		ctx := context.Background()
		s1 := testdb.Store(t, url)
		s2 := testdb.Open(t, url)
		r := storetest.File(t, s1, storetest.Policy(2), "tmcas", t0, "mallory@contoso.com")
		clicks := make([]func() error, 10)
		for i := range clicks {
			s := s1
			if i%2 == 1 {
				s = s2
			}
			clicks[i] = func() error { _, err := s.Apply(ctx, r.ID, storetest.Approval("bob", r.Hash), t0); return err }
		}
		ok := 0
		for _, err := range clickTogether(clicks...) {
			switch {
			case err == nil:
				ok++
			case errors.Is(err, approvals.ErrAlreadyApproved):
			default:
				t.Fatalf("click: %v", err)
			}
		}
		got, err := s1.Get(ctx, r.ID)
		if err != nil {
			t.Fatal(err)
		}
		if ok != 1 || len(got.Approvals) != 1 || got.State != approvals.StatePending {
			t.Fatalf("%d clicks counted, %d approvals stored, state %s; want 1, 1, pending", ok, len(got.Approvals), got.State)
		}
	})
}
