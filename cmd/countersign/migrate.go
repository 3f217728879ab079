package main

import (
	"context"
	"flag"
	"fmt"
)

// migrateFlags: migrate applies Countersign's and River's migrations and
// says what it applied. It is safe to run from several replicas at once:
// PostgreSQL migrations take an advisory lock.
func migrateFlags(*flag.FlagSet) command {
	return command{run: func(ctx context.Context, c *call) error {
		done, err := c.st.MigrateReport(ctx)
		if err != nil {
			return err // the store says which step failed
		}
		if len(done.Versions) == 0 && done.River == 0 {
			fmt.Fprintln(c.stdout, "migrations are current: nothing to apply")
			return nil
		}
		fmt.Fprintf(c.stdout, "applied %s and %s; the schema is now current\n",
			plural(len(done.Versions), "Countersign migration"), plural(done.River, "River migration"))
		if n := len(done.Versions); n > 0 {
			fmt.Fprintf(c.stdout, "Countersign schema: version %d → %d\n", done.Versions[0]-1, done.Versions[n-1])
		}
		return nil
	}}
}

// plural is "1 thing" or "n things".
func plural(n int, thing string) string {
	if n == 1 {
		return "1 " + thing
	}
	return fmt.Sprintf("%d %ss", n, thing)
}
