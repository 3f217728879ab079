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

	"github.com/countersign/countersign/internal/config"
	"github.com/countersign/countersign/internal/store"
)

// defaultConfigPath is read when --config is not given and the file exists.
const defaultConfigPath = "countersign.yaml"

// newFlags returns a flag set for a subcommand that reports errors instead
// of exiting and prints its usage to e.stderr.
func newFlags(name string, e env) *flag.FlagSet {
	fs := flag.NewFlagSet("countersign "+name, flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	return fs
}

// configFlag adds --config to fs.
func configFlag(fs *flag.FlagSet) *string {
	return fs.String("config", "", "configuration file (default "+defaultConfigPath+" if it exists)")
}

// parseFlags parses args, turning flag errors into usage errors and -h into
// a clean exit.
func parseFlags(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitError{code: 0}
		}
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: unexpected argument %q", errUsage, fs.Arg(0))
	}
	return nil
}

// loadConfig loads the file named by --config, or countersign.yaml when it
// exists, or nothing, and applies the environment.
func loadConfig(path string, e env, opts ...config.Option) (*config.Config, error) {
	if path == "" {
		if _, err := os.Stat(defaultConfigPath); err == nil {
			path = defaultConfigPath
		} else if !errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("reading %s: %w", defaultConfigPath, err)
		}
	}
	cfg, err := config.Load(path, e.environ, opts...)
	if err != nil {
		return nil, fmt.Errorf("invalid configuration:\n%w", err)
	}
	return cfg, nil
}

// newLogger returns the process logger the configuration asks for.
func newLogger(cfg *config.Config, w io.Writer) *slog.Logger {
	return slog.New(cfg.Log.Handler(w))
}

// openStore opens the configured store. It does not migrate.
func openStore(ctx context.Context, cfg *config.Config, log *slog.Logger) (*store.Store, error) {
	st, err := store.Open(ctx, cfg.Store.URL, store.Options{AuditKey: []byte(cfg.Audit.Key), Logger: log})
	if err != nil {
		return nil, fmt.Errorf("opening store %s: %w", config.RedactURL(cfg.Store.URL), err)
	}
	return st, nil
}

// openCurrentStore opens the store and refuses a database whose schema is
// behind this binary, naming the command that fixes it.
func openCurrentStore(ctx context.Context, cfg *config.Config, log *slog.Logger) (*store.Store, error) {
	st, err := openStore(ctx, cfg, log)
	if err != nil {
		return nil, err
	}
	ok, err := st.MigrationsCurrent(ctx)
	if err != nil {
		st.Close()
		return nil, fmt.Errorf("checking migrations: %w", err)
	}
	if !ok {
		st.Close()
		return nil, errors.New("the database schema is not current: run `countersign migrate` first")
	}
	return st, nil
}
