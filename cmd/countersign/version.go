package main

import (
	"context"
	"fmt"
	"runtime"
)

func runVersion(_ context.Context, e env, args []string) error {
	fs := newFlags("version", e)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "countersign %s (%s, %s/%s)\n", version, runtime.Version(), runtime.GOOS, runtime.GOARCH)
	return nil
}
