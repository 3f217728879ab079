package store

import (
	"context"
	"fmt"
	"time"
)

// ClaimPeriodic records that the run of the periodic job name for the
// schedule slot starts now. claimed is false when the slot was claimed
// before, by another replica or by an earlier attempt that may have crashed
// half-way: the run must then not happen, so a slot runs at most once.
// previous is the latest earlier slot whose run completed, zero when none
// did; a slot that crashed or was missed is covered by the next run.
func (s *Store) ClaimPeriodic(ctx context.Context, name string, slot, now time.Time) (previous time.Time, claimed bool, err error) {
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
		if err := t.queryRow(ctx, `SELECT COALESCE(MAX(slot), 0) FROM periodic_runs WHERE name = $1 AND state = 'done' AND slot < $2`,
			name, micros(slot)).Scan(&prev); err != nil {
			return fmt.Errorf("reading last %s run: %w", name, err)
		}
		previous = fromMicros(prev)
		return nil
	})
	return previous, claimed, err
}

// FinishPeriodic records how a claimed run ended: done when cause is empty,
// failed with cause otherwise. A failed slot is not run again; the next
// run's previous slot still points before it.
func (s *Store) FinishPeriodic(ctx context.Context, name string, slot time.Time, cause string, now time.Time) error {
	state := "done"
	if cause != "" {
		state = "failed"
	}
	n, err := s.q().exec(ctx, `UPDATE periodic_runs SET state = $3, finished_at = $4, detail = $5 WHERE name = $1 AND slot = $2 AND state = 'running'`,
		name, micros(slot), state, micros(now), cause)
	if err != nil {
		return fmt.Errorf("finishing %s slot %s: %w", name, slot.Format(time.RFC3339), err)
	}
	if n != 1 {
		return fmt.Errorf("finishing %s slot %s: no running claim", name, slot.Format(time.RFC3339))
	}
	return nil
}
