package store_test

import (
	"context"
	"errors"
	"testing"

	"github.com/countersign/countersign/approvals"
	"github.com/countersign/countersign/internal/store"
	"github.com/countersign/countersign/internal/store/storetest"
)

func TestLifecycle(t *testing.T) {
	eachStore(t, func(ctx context.Context, t *testing.T, s *store.Store) {
		r := storetest.File(t, s, storetest.Policy(2), "tmcas", t0, "mallory@contoso.com")

		got, err := s.Get(ctx, r.ID)
		if err != nil {
			t.Fatalf("Get: %v", err)
		}
		if got.State != approvals.StatePending || got.Hash != r.Hash || got.Requester.Person != "alice" {
			t.Fatalf("got %+v, want pending request by alice with hash %s", got, r.Hash)
		}
		if _, err := s.Apply(ctx, r.ID, storetest.Approval("alice", r.Hash), t0); !errors.Is(err, approvals.ErrSelfApproval) {
			t.Fatalf("self approval: got %v, want ErrSelfApproval", err)
		}
		if _, err := s.Apply(ctx, r.ID, storetest.Approval("bob", "000000000000"), t0); !errors.Is(err, approvals.ErrHashMismatch) {
			t.Fatalf("stale card: got %v, want ErrHashMismatch", err)
		}
		got, err = s.Apply(ctx, r.ID, storetest.Approval("bob", approvals.ShortHash(r.Hash)), t0)
		if err != nil || got.State != approvals.StatePending || len(got.Approvals) != 1 {
			t.Fatalf("first approval: got %v %+v, want pending with 1 approval", err, got)
		}
		if _, err := s.Apply(ctx, r.ID, storetest.Approval("bob", r.Hash), t0); !errors.Is(err, approvals.ErrAlreadyApproved) {
			t.Fatalf("repeat approval: got %v, want ErrAlreadyApproved", err)
		}
		got, err = s.Apply(ctx, r.ID, storetest.Approval("carol", r.Hash), t0)
		if err != nil || got.State != approvals.StateApproved {
			t.Fatalf("second approval: got %v %+v, want approved", err, got)
		}
		got, err = s.Get(ctx, r.ID)
		if err != nil {
			t.Fatal(err)
		}
		if n := len(got.Approvals); n != 2 || got.Approvals[0].Actor.Person != "bob" || got.Approvals[1].Actor.Person != "carol" {
			t.Fatalf("stored approvals = %+v, want bob then carol", got.Approvals)
		}
		if n := storetest.ExecuteJobs(t, s)[r.ID]; n != 1 {
			t.Fatalf("execution jobs for request = %d, want 1", n)
		}
		n, err := s.VerifyAudit(ctx)
		if err != nil || n != 3 {
			t.Fatalf("VerifyAudit = %d, %v; want 3 entries (requested, approve, approve), no error", n, err)
		}
	})
}
