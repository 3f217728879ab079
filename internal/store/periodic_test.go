package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/countersign/countersign/internal/testdb"
)

func TestPeriodicSlotsRunAtMostOnce(t *testing.T) {
	testdb.Each(t, func(t *testing.T, url string) {
		ctx := context.Background()
		s := testdb.Store(t, url)
		slot := func(i int) time.Time { return t0.Add(time.Duration(i) * time.Hour) }
		claim := func(name string, i int, wantClaimed bool, wantPrev time.Time) {
			t.Helper()
			prev, ok, err := s.ClaimPeriodic(ctx, name, slot(i), slot(i))
			if err != nil {
				t.Fatalf("ClaimPeriodic(%s, %d): %v", name, i, err)
			}
			if ok != wantClaimed || (ok && !prev.Equal(wantPrev)) {
				t.Fatalf("ClaimPeriodic(%s, %d) = %v, %v; want %v, %v", name, i, prev, ok, wantPrev, wantClaimed)
			}
		}
		claim("digest", 1, true, time.Time{})
		claim("digest", 1, false, time.Time{})
		if err := s.FinishPeriodic(ctx, "digest", slot(1), "", slot(1)); err != nil {
			t.Fatal(err)
		}
		if err := s.FinishPeriodic(ctx, "digest", slot(1), "", slot(1)); err == nil {
			t.Fatal("finishing a finished slot again: got nil, want an error")
		}
		claim("digest", 1, false, time.Time{}) // done slots stay claimed
		claim("digest", 2, true, slot(1))      // then crashes: never finished
		claim("digest", 3, true, slot(1))      // slot 2 did not complete
		if err := s.FinishPeriodic(ctx, "digest", slot(3), "chat unavailable", slot(3)); err != nil {
			t.Fatal(err)
		}
		claim("digest", 4, true, slot(1)) // nor did slot 3
		if err := s.FinishPeriodic(ctx, "digest", slot(4), "", slot(4)); err != nil {
			t.Fatal(err)
		}
		claim("digest", 5, true, slot(4))
		claim("expire_sweep", 5, true, time.Time{}) // names are independent

		// Two replicas claiming one slot at once: one wins.
		other := testdb.Open(t, url)
		wins := make(chan bool, 2)
		errs := clickTogether(
			func() error { _, ok, err := s.ClaimPeriodic(ctx, "race", slot(9), slot(9)); wins <- ok; return err },
			func() error { _, ok, err := other.ClaimPeriodic(ctx, "race", slot(9), slot(9)); wins <- ok; return err },
		)
		for _, err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		if a, b := <-wins, <-wins; a == b {
			t.Fatalf("concurrent claims = %v, %v; want exactly one", a, b)
		}
	})
}
