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
