package store

import (
	"context"
	"database/sql"
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

// ClaimPeriodic records that the run of the periodic job name for the
// schedule slot starts now. claimed is false when the slot was claimed
// before, by another replica or by an earlier attempt that may have crashed
// half-way: the run must then not happen, so a slot runs at most once.
// last is the latest earlier run that completed, zero when none did; a
// slot that crashed or was missed is covered by the next run.
func (s *Store) ClaimPeriodic(ctx context.Context, name string, slot, now time.Time) (last LastRun, claimed bool, err error) {
	err = s.inTx(ctx, func(t txn) error {
		n, err := t.exec(ctx, `INSERT INTO periodic_runs (name, slot, state, started_at) VALUES ($1, $2, 'running', $3)
			ON CONFLICT (name, slot) DO NOTHING`, name, micros(slot), micros(now))
		if err != nil {
			return fmt.Errorf("claiming %s slot %s: %w", name, slot.Format(time.RFC3339), err)
		}
		if n == 0 {
			return nil
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
