package main

import (
	"context"
	"flag"
	"fmt"
)

// configCheckFlags: config check validates the configuration and prints it
// with every secret redacted. An invalid configuration exits 1 with one
// line per problem. A valid one is confirmed on stderr, followed by its
// warnings (config.Warnings), one "warning: " line each; they do not change
// the exit code, so scripts that check only validity keep working.
func configCheckFlags(*flag.FlagSet) command {
	return command{run: func(_ context.Context, c *call) error {
		out, err := c.cfg.Redacted()
		if err != nil {
			return fmt.Errorf("printing configuration: %w", err)
		}
		if _, err := c.stdout.Write(out); err != nil {
			return err
		}
		warnings := c.cfg.Warnings()
		switch len(warnings) {
		case 0:
			fmt.Fprintln(c.stderr, "countersign config check: OK, the configuration is valid")
		case 1:
			fmt.Fprintln(c.stderr, "countersign config check: OK, the configuration is valid, with 1 warning:")
		default:
			fmt.Fprintf(c.stderr, "countersign config check: OK, the configuration is valid, with %d warnings:\n", len(warnings))
		}
		for _, w := range warnings {
			fmt.Fprintf(c.stderr, "warning: %s\n", w)
		}
		return nil
	}}
}
