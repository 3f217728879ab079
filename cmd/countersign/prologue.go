package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"

	"github.com/countersign/countersign/internal/app"
	"github.com/countersign/countersign/internal/config"
	"github.com/countersign/countersign/internal/store"
)

// defaultConfigPath is read when --config is not given and the file exists.
const defaultConfigPath = "countersign.yaml"

// needs is what a subcommand has opened for it before its body runs.
type needs int

const (
	// needsNothing: only the command's own flags.
	needsNothing needs = iota
	// needsConfig: --config, then the configuration and the logger.
	needsConfig
	// needsStore: and the store, as it is (migrate, serve).
	needsStore
	// needsCurrentStore: and the store, refused when its schema is behind
	// this binary.
	needsCurrentStore
)

// command is a subcommand's body, returned by its flag declarations.
type command struct {
	// check judges the parsed flags before anything is loaded, so that a
	// wrong call is a usage error whatever the configuration (nil: none).
	check func(e env) error
	// run does the work with what the subcommand needs.
	run func(ctx context.Context, c *call) error
}

// call is what the prologue opened for one run of a subcommand.
type call struct {
	env
	cfg *config.Config
	log *slog.Logger
	st  *store.Store
}

// invoke runs the prologue of subcommand name (flags, with --config when it
// reads the configuration, then the configuration, the logger and the
// store as it needs them), then its body, then closes the store.
func invoke(ctx context.Context, e env, name string, sc subcommand, args []string) error {
	fs := flag.NewFlagSet("countersign "+name, flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	var path *string
	if sc.needs >= needsConfig {
		path = fs.String("config", "", "configuration file (default "+defaultConfigPath+" if it exists)")
	}
	cmd := sc.flags(fs)
	if err := parseFlags(fs, args, e, name, sc.summary); err != nil {
		return err
	}
	if cmd.check != nil {
		if err := cmd.check(e); err != nil {
			return err
		}
	}
	c := &call{env: e}
	if sc.needs >= needsConfig {
		var err error
		if c.cfg, err = loadConfig(*path, e); err != nil {
			return err
		}
		c.log = slog.New(c.cfg.Log.Handler(e.stderr))
	}
	if sc.needs >= needsStore {
		open := app.OpenStore
		if sc.needs == needsCurrentStore {
			open = app.OpenCurrentStore
		}
		var err error
		if c.st, err = open(ctx, c.cfg, c.log); err != nil {
			return err
		}
		defer c.st.Close()
	}
	return cmd.run(ctx, c)
}

// parseFlags parses args, turning flag errors into usage errors (said once,
// by run) and -h into the command's help on stdout and a clean exit.
func parseFlags(fs *flag.FlagSet, args []string, e env, name, summary string) error {
	fs.SetOutput(io.Discard)
	err := fs.Parse(args)
	fs.SetOutput(e.stderr)
	switch {
	case errors.Is(err, flag.ErrHelp):
		commandUsage(e.stdout, fs, name, summary)
		return exitError{code: 0}
	case err != nil:
		return fmt.Errorf("%w: %v", errUsage, err)
	case fs.NArg() > 0:
		return fmt.Errorf("%w: unexpected argument %q", errUsage, fs.Arg(0))
	}
	return nil
}

// commandUsage is the help of one command: what it does, its flags and
// examples.
func commandUsage(w io.Writer, fs *flag.FlagSet, name, summary string) {
	fmt.Fprintf(w, "Usage: countersign %s [flags]\n\n%s\n", name, summary)
	hasFlags := false
	fs.VisitAll(func(*flag.Flag) { hasFlags = true })
	if hasFlags {
		fmt.Fprintln(w, "\nFlags:")
		fs.SetOutput(w)
		fs.PrintDefaults()
	}
	if ex := commandExamples()[name]; len(ex) > 0 {
		fmt.Fprintln(w, "\nExamples:")
		for _, x := range ex {
			fmt.Fprintln(w, "  "+x)
		}
	}
}

// loadConfig loads the file named by --config, or countersign.yaml when it
// exists, or nothing, and applies the environment.
func loadConfig(path string, e env) (*config.Config, error) {
	if path == "" {
		if _, err := os.Stat(defaultConfigPath); err == nil {
			path = defaultConfigPath
		} else if !errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("reading %s: %w", defaultConfigPath, err)
		}
	}
	cfg, err := config.Load(path, e.environ)
	if err != nil {
		return nil, fmt.Errorf("invalid configuration:\n%w", err)
	}
	return cfg, nil
}
