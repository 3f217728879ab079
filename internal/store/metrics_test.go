package store_test

import (
	"context"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/countersign/countersign/approvals"
	"github.com/countersign/countersign/internal/jobs"
	"github.com/countersign/countersign/internal/store"
	"github.com/countersign/countersign/internal/store/storetest"
)

func TestCountByStateAndJobCounts(t *testing.T) {
	eachStore(t, func(ctx context.Context, t *testing.T, s *store.Store) {

		empty, err := s.CountByState(ctx)
		if err != nil {
			t.Fatalf("CountByState on an empty store: %v", err)
		}
		if len(empty) != 0 {
			t.Errorf("CountByState on an empty store = %v, want none", empty)
		}
		noJobs, err := s.JobCounts(ctx)
		if err != nil {
			t.Fatalf("JobCounts on an empty store: %v", err)
		}
		if len(noJobs) != 0 {
			t.Errorf("JobCounts on an empty store = %v, want none", noJobs)
		}

		p := storetest.Policy(1)
		approved := storetest.File(t, s, p, "tmcas", t0, "a@contoso.com")
		if _, err := s.Apply(ctx, approved.ID, storetest.Approval("bob", approved.Hash), t0); err != nil {
			t.Fatalf("approving: %v", err)
		}
		denied := storetest.File(t, s, p, "tmcas", t0, "b@contoso.com")
		deny := approvals.Event{Kind: approvals.EventDeny, Actor: storetest.Actor("bob"), Hash: denied.Hash, Reason: "no"}
		if _, err := s.Apply(ctx, denied.ID, deny, t0); err != nil {
			t.Fatalf("denying: %v", err)
		}
		storetest.File(t, s, p, "tmcas", t0, "c@contoso.com")
		storetest.File(t, s, p, "tmcas", t0, "d@contoso.com")

		got, err := s.CountByState(ctx)
		if err != nil {
			t.Fatalf("CountByState: %v", err)
		}
		want := []store.StateCount{
			{Action: "disable", Provider: "tmcas", State: approvals.StateApproved, N: 1},
			{Action: "disable", Provider: "tmcas", State: approvals.StateDenied, N: 1},
			{Action: "disable", Provider: "tmcas", State: approvals.StatePending, N: 2},
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("CountByState (-want +got):\n%s", diff)
		}

		gotJobs, err := s.JobCounts(ctx)
		if err != nil {
			t.Fatalf("JobCounts: %v", err)
		}
		wantJobs := []store.JobCount{{Queue: jobs.QueueExecute, State: "available", N: 1}}
		if diff := cmp.Diff(wantJobs, gotJobs); diff != "" {
			t.Errorf("JobCounts (-want +got):\n%s", diff)
		}
	})
}
