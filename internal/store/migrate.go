package store

import (
	"context"
	"embed"
	"fmt"
	"io/fs"

	"github.com/pressly/goose/v3"
	"github.com/riverqueue/river/riverdriver"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/riverdriver/riversqlite"
	"github.com/riverqueue/river/rivermigrate"
)

//go:embed migrations
var migrations embed.FS

// migrationLock is the PostgreSQL advisory lock key held while migrating, so
// replicas starting together migrate one at a time.
const migrationLock = 0x636f756e7465 // "counte"

// headMACVersion is the migration that gives the audit head its MAC; the
// run that applies it seals the head.
const headMACVersion = 4

// Migrate brings our schema and River's up to date. It is safe to run from
// several processes at once.
func (s *Store) Migrate(ctx context.Context) error {
	_, err := s.MigrateReport(ctx)
	return err
}

// Applied is what one run of MigrateReport applied.
type Applied struct {
	// Versions are Countersign's migrations applied, in order.
	Versions []int64
	// River counts River's migrations applied.
	River int
}

// MigrateReport is Migrate, reporting what it applied, so that the
// operator's `migrate` can tell a fresh schema from a current one.
func (s *Store) MigrateReport(ctx context.Context) (Applied, error) {
	var done Applied
	if s.pool != nil {
		conn, err := s.pool.Acquire(ctx)
		if err != nil {
			return done, fmt.Errorf("acquiring connection for migration lock: %w", err)
		}
		defer conn.Release()
		if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock($1)", migrationLock); err != nil {
			return done, fmt.Errorf("taking migration lock: %w", err)
		}
		defer conn.Exec(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock($1)", migrationLock) //nolint:errcheck // released with the session anyway
	}
	p, err := s.goose()
	if err != nil {
		return done, err
	}
	applied, err := p.Up(ctx)
	if err != nil {
		return done, fmt.Errorf("migrating: %w", err)
	}
	for _, r := range applied {
		if r.Source == nil {
			continue
		}
		done.Versions = append(done.Versions, r.Source.Version)
		if r.Source.Version == headMACVersion {
			if err := s.sealAuditHead(ctx); err != nil {
				return done, err
			}
		}
	}
	if done.River, err = s.migrateRiver(ctx, false); err != nil {
		return done, fmt.Errorf("migrating river: %w", err)
	}
	return done, nil
}

// MigrationsCurrent reports whether both schemas are fully migrated, for
// /readyz.
func (s *Store) MigrationsCurrent(ctx context.Context) (bool, error) {
	p, err := s.goose()
	if err != nil {
		return false, err
	}
	pending, err := p.HasPending(ctx)
	if err != nil {
		return false, fmt.Errorf("checking migrations: %w", err)
	}
	if pending {
		return false, nil
	}
	n, err := s.migrateRiver(ctx, true)
	if err != nil {
		return false, fmt.Errorf("checking river migrations: %w", err)
	}
	return n == 0, nil
}

func (s *Store) goose() (*goose.Provider, error) {
	dialect, dir := goose.DialectSQLite3, "migrations/sqlite"
	if s.dialect == Postgres {
		dialect, dir = goose.DialectPostgres, "migrations/postgres"
	}
	sub, err := fs.Sub(migrations, dir)
	if err != nil {
		return nil, fmt.Errorf("opening embedded migrations: %w", err)
	}
	p, err := goose.NewProvider(dialect, s.db, sub, goose.WithDisableGlobalRegistry(true))
	if err != nil {
		return nil, fmt.Errorf("loading migrations: %w", err)
	}
	return p, nil
}

// migrateRiver applies River's migrations, or with dryRun only counts the
// pending ones.
func (s *Store) migrateRiver(ctx context.Context, dryRun bool) (pending int, err error) {
	if s.pool != nil {
		return riverMigrate(ctx, riverpgxv5.New(s.pool), dryRun)
	}
	return riverMigrate(ctx, riversqlite.New(s.db), dryRun)
}

func riverMigrate[TTx any](ctx context.Context, d riverdriver.Driver[TTx], dryRun bool) (int, error) {
	m, err := rivermigrate.New(d, nil)
	if err != nil {
		return 0, err
	}
	res, err := m.Migrate(ctx, rivermigrate.DirectionUp, &rivermigrate.MigrateOpts{DryRun: dryRun})
	if err != nil {
		return 0, err
	}
	return len(res.Versions), nil
}
