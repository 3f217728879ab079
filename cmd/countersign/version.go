package main

import (
	"context"
	"flag"
	"fmt"
	"runtime"
)

func versionFlags(*flag.FlagSet) command {
	return command{run: func(_ context.Context, c *call) error {
		_, err := fmt.Fprintf(c.stdout, "countersign %s (%s, %s/%s)\n", version, runtime.Version(), runtime.GOOS, runtime.GOARCH)
		return err
	}}
}
