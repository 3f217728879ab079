package main

import (
	"context"
	"fmt"
)

// runMigrate applies Countersign's and River's migrations. It is safe to run
// from several replicas at once: PostgreSQL migrations take an advisory lock.
func runMigrate(ctx context.Context, e env, args []string) error {
	fs := newFlags("migrate", e)
	path := configFlag(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	cfg, err := loadConfig(*path, e)
	if err != nil {
		return err
	}
	log := newLogger(cfg, e.stderr)
	st, err := openStore(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer st.Close()
	if err := st.Migrate(ctx); err != nil {
		return fmt.Errorf("migrating: %w", err)
	}
	fmt.Fprintln(e.stdout, "migrations are current")
	return nil
}
