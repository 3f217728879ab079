package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// LastRun is the latest completed run of a periodic job before a slot.
type LastRun struct {
	// Slot is its slot; zero when no run completed.
	Slot time.Time
	// Mark is what it recorded as its mark (FinishPeriodic), when Marked;
	// runs made before marks existed have none.
	Mark   int64
	Marked bool
}

// ErrPeriodicBusy means an earlier slot of the same periodic job is still
// running: this slot must wait for it, as its window starts where that run
// ends. Try again later.
var ErrPeriodicBusy = errors.New("an earlier run of this periodic job is still running")

// ClaimPeriodic records that the run of the periodic job name for the
// schedule slot starts now. Runs of one job never overlap, so each starts
// exactly where the one before ended:
//
//   - claimed is false when the slot was claimed before (by another
//     replica, or by an earlier attempt that may have crashed half-way), or
//     when a later slot was: that run covers this one. The run must then
//     not happen, so a slot runs at most once.
//   - ErrPeriodicBusy when an earlier slot is still running and was claimed
//     after staleBefore. A claim older than that is a crashed run (runs are
//     bounded by a timeout shorter than the lease the caller derives
//     staleBefore from); the next run covers its slot.
//
// last is the latest earlier run that completed, zero when none did.
func (s *Store) ClaimPeriodic(ctx context.Context, name string, slot, now, staleBefore time.Time) (last LastRun, claimed bool, err error) {
	err = s.inTx(ctx, func(t txn) error {
		if s.dialect == Postgres {
			// Claims of one job are decided one at a time; SQLite's
			// immediate transactions already are.
			if _, err := t.exec(ctx, `SELECT pg_advisory_xact_lock(hashtext('periodic_runs:' || $1))`, name); err != nil {
				return fmt.Errorf("locking %s claims: %w", name, err)
			}
		}
		var later, running int64
		err := t.queryRow(ctx, `SELECT
				(SELECT COUNT(*) FROM periodic_runs WHERE name = $1 AND slot >= $2),
				(SELECT COUNT(*) FROM periodic_runs WHERE name = $1 AND slot < $2 AND state = 'running' AND started_at >= $3)`,
			name, micros(slot), micros(staleBefore)).Scan(&later, &running)
		switch {
		case err != nil:
			return fmt.Errorf("checking %s claims: %w", name, err)
		case later > 0:
			return nil
		case running > 0:
			return ErrPeriodicBusy
		}
		if _, err := t.exec(ctx, `INSERT INTO periodic_runs (name, slot, state, started_at) VALUES ($1, $2, 'running', $3)`,
			name, micros(slot), micros(now)); err != nil {
			return fmt.Errorf("claiming %s slot %s: %w", name, slot.Format(time.RFC3339), err)
		}
		claimed = true
		var prev int64
		var mark sql.NullInt64
		err = t.queryRow(ctx, `SELECT slot, mark FROM periodic_runs WHERE name = $1 AND state = 'done' AND slot < $2
			ORDER BY slot DESC LIMIT 1`, name, micros(slot)).Scan(&prev, &mark)
		switch {
		case isNoRows(err):
			return nil
		case err != nil:
			return fmt.Errorf("reading last %s run: %w", name, err)
		}
		last = LastRun{Slot: fromMicros(prev), Mark: mark.Int64, Marked: mark.Valid}
		return nil
	})
	return last, claimed, err
}

// FinishPeriodic records how a claimed run ended: done with mark when cause
// is empty, failed with cause otherwise. A failed slot is not run again;
// the next run's last run is still the one before it.
func (s *Store) FinishPeriodic(ctx context.Context, name string, slot time.Time, cause string, mark int64, now time.Time) error {
	state, m := "done", sql.NullInt64{Int64: mark, Valid: true}
	if cause != "" {
		state, m = "failed", sql.NullInt64{}
	}
	n, err := s.q().exec(ctx, `UPDATE periodic_runs SET state = $3, finished_at = $4, detail = $5, mark = $6
		WHERE name = $1 AND slot = $2 AND state = 'running'`,
		name, micros(slot), state, micros(now), cause, m)
	if err != nil {
		return fmt.Errorf("finishing %s slot %s: %w", name, slot.Format(time.RFC3339), err)
	}
	if n != 1 {
		return fmt.Errorf("finishing %s slot %s: no running claim", name, slot.Format(time.RFC3339))
	}
	return nil
}
