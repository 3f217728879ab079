package main

import (
	"context"
	"fmt"
)

// runConfigCheck validates the configuration and prints it with every
// secret redacted. An invalid configuration exits 1 with one line per
// problem.
func runConfigCheck(_ context.Context, e env, args []string) error {
	fs := newFlags("config check", e)
	path := configFlag(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	cfg, err := loadConfig(*path, e)
	if err != nil {
		return err
	}
	out, err := cfg.Redacted()
	if err != nil {
		return fmt.Errorf("printing configuration: %w", err)
	}
	_, err = e.stdout.Write(out)
	return err
}
