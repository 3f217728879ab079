package store

import (
	"context"
	"fmt"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/riverdriver/riversqlite"
	"github.com/riverqueue/river/rivertype"
)

// RiverClient is the part of a River client the engine drives. Both the
// SQLite and the PostgreSQL client satisfy it, which keeps River's
// transaction type parameter out of the engine.
type RiverClient interface {
	Start(ctx context.Context) error
	Stop(ctx context.Context) error
	StopAndCancel(ctx context.Context) error
	Stopped() <-chan struct{}
	Insert(ctx context.Context, args river.JobArgs, opts *river.InsertOpts) (*rivertype.JobInsertResult, error)
	Subscribe(kinds ...river.EventKind) (<-chan *river.Event, func())
	JobList(ctx context.Context, params *river.JobListParams) (*river.JobListResult, error)
}

// NewRiverClient returns a River client on the store's database, for the
// engine to run workers and periodic jobs with.
func (s *Store) NewRiverClient(cfg *river.Config) (RiverClient, error) {
	if s.pool != nil {
		c, err := river.NewClient(riverpgxv5.New(s.pool), cfg)
		if err != nil {
			return nil, fmt.Errorf("creating river client: %w", err)
		}
		return c, nil
	}
	c, err := river.NewClient(riversqlite.New(s.db), cfg)
	if err != nil {
		return nil, fmt.Errorf("creating river client: %w", err)
	}
	return c, nil
}

// ReleaseRiverClient frees what a process that ran a River client with
// clientID left behind when it died: its leadership, and the jobs it was
// running, which become available again at once instead of waiting for the
// leader's rescuer (RescueStuckJobsAfter plus up to 30 s). It returns how
// many jobs it released.
//
// Call it only before starting a River client with clientID. River requires
// client ids to be unique among running processes, so anything still held
// by clientID at that point belongs to a process that is gone.
func (s *Store) ReleaseRiverClient(ctx context.Context, clientID string) (int, error) {
	if clientID == "" {
		return 0, nil
	}
	var released int64
	err := s.inTx(ctx, func(t txn) error {
		if _, err := t.exec(ctx, `DELETE FROM river_leader WHERE leader_id = $1`, clientID); err != nil {
			return fmt.Errorf("releasing river leadership: %w", err)
		}
		last := `attempted_by[array_upper(attempted_by, 1)]`
		if s.dialect == SQLite {
			last = `json_extract(attempted_by, '$[#-1]')`
		}
		n, err := t.exec(ctx, `UPDATE river_job SET state = 'available' WHERE state = 'running' AND `+last+` = $1`, clientID)
		if err != nil {
			return fmt.Errorf("releasing river jobs: %w", err)
		}
		released = n
		return nil
	})
	return int(released), err
}
