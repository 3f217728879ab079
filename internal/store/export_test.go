package store

import (
	"context"
	"fmt"
)

// MigrateUpTo applies our migrations up to version only (not River's), to
// build a database as an older release left it.
func (s *Store) MigrateUpTo(ctx context.Context, version int64) error {
	p, err := s.goose()
	if err != nil {
		return err
	}
	if _, err := p.UpTo(ctx, version); err != nil {
		return fmt.Errorf("migrating to %d: %w", version, err)
	}
	return nil
}
