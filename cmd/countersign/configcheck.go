package main

import (
	"context"
	"flag"
	"fmt"
)

// configCheckFlags: config check validates the configuration and prints it
// with every secret redacted. An invalid configuration exits 1 with one
// line per problem.
func configCheckFlags(*flag.FlagSet) command {
	return command{run: func(_ context.Context, c *call) error {
		out, err := c.cfg.Redacted()
		if err != nil {
			return fmt.Errorf("printing configuration: %w", err)
		}
		_, err = c.stdout.Write(out)
		return err
	}}
}
