package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/countersign/countersign/internal/config"
	"github.com/countersign/countersign/internal/store"
)

// OpenStore opens the configured store. It does not migrate.
func OpenStore(ctx context.Context, cfg *config.Config, log *slog.Logger) (*store.Store, error) {
	st, err := store.Open(ctx, cfg.Store.URL, store.Options{AuditKey: []byte(cfg.Audit.Key), Logger: log})
	if err != nil {
		return nil, fmt.Errorf("opening store %s: %w", config.RedactURL(cfg.Store.URL), err)
	}
	return st, nil
}

// OpenCurrentStore opens the store and refuses a database whose schema is
// behind this binary, naming the command that fixes it.
func OpenCurrentStore(ctx context.Context, cfg *config.Config, log *slog.Logger) (*store.Store, error) {
	st, err := OpenStore(ctx, cfg, log)
	if err != nil {
		return nil, err
	}
	ok, err := st.MigrationsCurrent(ctx)
	if err != nil {
		st.Close()
		return nil, err // the store names what it was checking
	}
	if !ok {
		st.Close()
		return nil, errors.New("the database schema is not current: run `countersign migrate` first")
	}
	return st, nil
}
