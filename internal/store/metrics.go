package store

import (
	"context"

	"github.com/countersign/countersign/approvals"
)

// StateCount is how many requests of one action and provider are in one
// state.
type StateCount struct {
	Action   string
	Provider string
	State    approvals.State
	N        int64
}

// CountByState counts the requests by action, provider and state, for the
// metrics gauges read at every scrape. It is one aggregate query over the
// requests table.
func (s *Store) CountByState(ctx context.Context) ([]StateCount, error) {
	return collect(ctx, s.q(), "counting requests", func(row scanner) (StateCount, error) {
		var c StateCount
		var state string
		err := row.Scan(&c.Action, &c.Provider, &state, &c.N)
		c.State = approvals.State(state)
		return c, err
	}, `SELECT action, provider, state, COUNT(*) FROM requests
		GROUP BY action, provider, state ORDER BY action, provider, state`)
}

// JobCount is how many River jobs of one queue are in one state
// (available, running, retryable, scheduled, completed, …).
type JobCount struct {
	Queue string
	State string
	N     int64
}

// JobCounts counts River's jobs by queue and state, for the queue-depth
// gauge. Completed and discarded jobs are included until River prunes them.
func (s *Store) JobCounts(ctx context.Context) ([]JobCount, error) {
	// PostgreSQL keeps the state as an enum; the cast reads both as text.
	return collect(ctx, s.q(), "counting jobs", func(row scanner) (JobCount, error) {
		var c JobCount
		return c, row.Scan(&c.Queue, &c.State, &c.N)
	}, `SELECT queue, CAST(state AS TEXT), COUNT(*) FROM river_job
		GROUP BY queue, state ORDER BY queue, CAST(state AS TEXT)`)
}
