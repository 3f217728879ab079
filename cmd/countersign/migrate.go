package main

import (
	"context"
	"flag"
	"fmt"
)

// migrateFlags: migrate applies Countersign's and River's migrations. It is
// safe to run from several replicas at once: PostgreSQL migrations take an
// advisory lock.
func migrateFlags(*flag.FlagSet) command {
	return command{run: func(ctx context.Context, c *call) error {
		if err := c.st.Migrate(ctx); err != nil {
			return fmt.Errorf("migrating: %w", err)
		}
		fmt.Fprintln(c.stdout, "migrations are current")
		return nil
	}}
}
