package store_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/countersign/countersign/internal/store"
	"github.com/countersign/countersign/internal/testdb"
)

func TestPeriodicSlotsRunAtMostOnce(t *testing.T) {
	testdb.Each(t, func(t *testing.T, url string) {
		ctx := context.Background()
		s := testdb.Store(t, url)
		slot := func(i int) time.Time { return t0.Add(time.Duration(i) * time.Hour) }
		claim := func(name string, i int, wantClaimed bool, want store.LastRun) {
			t.Helper()
			last, ok, err := s.ClaimPeriodic(ctx, name, slot(i), slot(i), slot(i))
			if err != nil {
				t.Fatalf("ClaimPeriodic(%s, %d): %v", name, i, err)
			}
			if ok != wantClaimed || (ok && (!last.Slot.Equal(want.Slot) || last.Mark != want.Mark || last.Marked != want.Marked)) {
				t.Fatalf("ClaimPeriodic(%s, %d) = %+v, %v; want %+v, %v", name, i, last, ok, want, wantClaimed)
			}
		}
		done := func(i int, mark int64) store.LastRun { return store.LastRun{Slot: slot(i), Mark: mark, Marked: true} }
		none := store.LastRun{}
		claim("digest", 1, true, none)
		claim("digest", 1, false, none)
		if err := s.FinishPeriodic(ctx, "digest", slot(1), "", 17, slot(1)); err != nil {
			t.Fatal(err)
		}
		if err := s.FinishPeriodic(ctx, "digest", slot(1), "", 18, slot(1)); err == nil {
			t.Fatal("finishing a finished slot again: got nil, want an error")
		}
		claim("digest", 1, false, none)       // done slots stay claimed
		claim("digest", 2, true, done(1, 17)) // then crashes: never finished
		claim("digest", 3, true, done(1, 17)) // slot 2 did not complete
		if err := s.FinishPeriodic(ctx, "digest", slot(3), "chat unavailable", 30, slot(3)); err != nil {
			t.Fatal(err)
		}
		claim("digest", 4, true, done(1, 17)) // nor did slot 3: its mark is not kept
		if err := s.FinishPeriodic(ctx, "digest", slot(4), "", 0, slot(4)); err != nil {
			t.Fatal(err)
		}
		claim("digest", 5, true, done(4, 0)) // a mark of 0 is a mark
		claim("expire_sweep", 5, true, none) // names are independent

		// A run completed before marks existed has none.
		claim("legacy", 1, true, none)
		if err := s.FinishPeriodic(ctx, "legacy", slot(1), "", 5, slot(1)); err != nil {
			t.Fatal(err)
		}
		scalar(t, url, `UPDATE periodic_runs SET mark = NULL WHERE name = 'legacy' RETURNING name`)
		claim("legacy", 2, true, store.LastRun{Slot: slot(1)})

		// Two replicas claiming one slot at once: one wins.
		other := testdb.Open(t, url)
		wins := make(chan bool, 2)
		errs := clickTogether(
			func() error {
				_, ok, err := s.ClaimPeriodic(ctx, "race", slot(9), slot(9), slot(9))
				wins <- ok
				return err
			},
			func() error {
				_, ok, err := other.ClaimPeriodic(ctx, "race", slot(9), slot(9), slot(9))
				wins <- ok
				return err
			},
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

// Runs of one job never overlap: a slot waits while the slot before it is
// still running (unless that claim is older than a run can last: it
// crashed), and a slot whose successor was claimed never runs, as the
// successor covers it. Otherwise two windows would start at the same
// completed run and count its successor's events twice.
func TestPeriodicRunsDoNotOverlap(t *testing.T) {
	testdb.Each(t, func(t *testing.T, url string) {
		ctx := context.Background()
		s := testdb.Store(t, url)
		slot := func(i int) time.Time { return t0.Add(time.Duration(i) * time.Minute) }
		lease := slot(0) // claims started before this are crashed runs
		if _, ok, err := s.ClaimPeriodic(ctx, "digest", slot(1), slot(1), lease); err != nil || !ok {
			t.Fatalf("claiming slot 1: %v, %v", ok, err)
		}
		if _, ok, err := s.ClaimPeriodic(ctx, "digest", slot(2), slot(2), lease); !errors.Is(err, store.ErrPeriodicBusy) || ok {
			t.Fatalf("claiming slot 2 while slot 1 runs = %v, %v; want ErrPeriodicBusy", ok, err)
		}
		if err := s.FinishPeriodic(ctx, "digest", slot(1), "", 11, slot(2)); err != nil {
			t.Fatal(err)
		}
		last, ok, err := s.ClaimPeriodic(ctx, "digest", slot(2), slot(2), lease)
		if err != nil || !ok || !last.Slot.Equal(slot(1)) || last.Mark != 11 {
			t.Fatalf("claiming slot 2 after slot 1 finished = %+v, %v, %v; want slot 1's run and mark", last, ok, err)
		}
		// A late job for an earlier slot never runs once a later slot was claimed.
		if _, ok, err := s.ClaimPeriodic(ctx, "other", slot(5), slot(5), lease); err != nil || !ok {
			t.Fatal(ok, err)
		}
		if _, ok, err := s.ClaimPeriodic(ctx, "other", slot(4), slot(6), lease); err != nil || ok {
			t.Fatalf("claiming slot 4 after slot 5 = %v, %v; want not claimed", ok, err)
		}
		// A running claim older than the lease is a crash: the next slot runs.
		if _, ok, err := s.ClaimPeriodic(ctx, "digest", slot(3), slot(3), slot(3).Add(time.Second)); err != nil || !ok {
			t.Fatalf("claiming slot 3 with slot 2 crashed = %v, %v; want claimed", ok, err)
		}
	})
}
