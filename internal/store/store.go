// Package store keeps requests, approvals, execution progress, chat message
// references and the audit log in SQLite (the default) or PostgreSQL. Every
// change runs in one transaction together with its audit entry, and the
// approval that reaches quorum enqueues the River execution job in that same
// transaction.
package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/riverdriver/riversqlite"
	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver
)

// Dialect is the database behind a Store.
type Dialect string

// Supported dialects.
const (
	SQLite   Dialect = "sqlite"
	Postgres Dialect = "postgres"
)

// Options configure a Store.
type Options struct {
	// AuditKey is the HMAC key of the audit chain (audit.key).
	AuditKey []byte
	// Logger receives store diagnostics; nil discards them.
	Logger *slog.Logger
}

// Store is the persistence of Countersign. It is safe for concurrent use.
type Store struct {
	dialect  Dialect
	db       *sql.DB       // SQLite: the single writer connection. PostgreSQL: a database/sql view of pool, for goose.
	pool     *pgxpool.Pool // PostgreSQL only
	auditKey []byte
	log      *slog.Logger

	stmts stmtCache // SQLite prepared statements

	sqliteJobs *river.Client[*sql.Tx] // insert-only River clients, one per dialect
	pgJobs     *river.Client[pgx.Tx]
}

// Open connects to the database named by rawURL: "sqlite:PATH" or
// "postgres://…". It does not migrate; call Migrate.
func Open(ctx context.Context, rawURL string, opts Options) (*Store, error) {
	if len(opts.AuditKey) == 0 {
		return nil, errors.New("store: audit key is empty")
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	s := &Store{auditKey: opts.AuditKey, log: log}
	switch {
	case strings.HasPrefix(rawURL, "sqlite:"):
		dsn, err := sqliteDSN(strings.TrimPrefix(rawURL, "sqlite:"))
		if err != nil {
			return nil, err
		}
		db, err := sql.Open("sqlite", dsn)
		if err != nil {
			return nil, fmt.Errorf("opening sqlite: %w", err)
		}
		// One connection: SQLite has one writer, River's SQLite driver needs
		// it, and it keeps immediate transactions from waiting on each other
		// inside the process. Other processes wait on busy_timeout.
		db.SetMaxOpenConns(1)
		db.SetConnMaxLifetime(0)
		db.SetConnMaxIdleTime(0)
		s.dialect, s.db = SQLite, db
		jobs, err := river.NewClient(riversqlite.New(db), &river.Config{Logger: log})
		if err != nil {
			db.Close()
			return nil, fmt.Errorf("creating river client: %w", err)
		}
		s.sqliteJobs = jobs
	case strings.HasPrefix(rawURL, "postgres://"), strings.HasPrefix(rawURL, "postgresql://"):
		cfg, err := pgxpool.ParseConfig(rawURL)
		if err != nil {
			return nil, fmt.Errorf("parsing store.url: %s", redactURLError(err))
		}
		pool, err := pgxpool.NewWithConfig(ctx, cfg)
		if err != nil {
			return nil, fmt.Errorf("connecting to postgres: %w", err)
		}
		s.dialect, s.pool, s.db = Postgres, pool, stdlib.OpenDBFromPool(pool)
		jobs, err := river.NewClient(riverpgxv5.New(pool), &river.Config{Logger: log})
		if err != nil {
			pool.Close()
			return nil, fmt.Errorf("creating river client: %w", err)
		}
		s.pgJobs = jobs
	default:
		return nil, fmt.Errorf("store.url must start with sqlite: or postgres:// (got %q)", scheme(rawURL))
	}
	return s, nil
}

// sqliteDSN builds the modernc DSN: WAL, a busy timeout for other
// processes, immediate transactions so a reader never has to upgrade to a
// writer mid-transaction, full sync so a committed approval survives power
// loss, and foreign keys on.
func sqliteDSN(path string) (string, error) {
	if path == "" {
		return "", errors.New("store.url: sqlite: needs a file path, e.g. sqlite:countersign.db")
	}
	if strings.ContainsAny(path, "?#") {
		return "", fmt.Errorf("store.url: sqlite path %q must not contain ? or #", path)
	}
	q := url.Values{}
	for _, p := range []string{"busy_timeout(10000)", "journal_mode(WAL)", "synchronous(FULL)", "foreign_keys(1)"} {
		q.Add("_pragma", p)
	}
	q.Set("_txlock", "immediate")
	return "file:" + path + "?" + q.Encode(), nil
}

func scheme(u string) string {
	if i := strings.Index(u, ":"); i >= 0 {
		return u[:i+1]
	}
	return "no scheme"
}

// redactURLError keeps a password in a malformed URL out of the message.
func redactURLError(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Op + " failed: " + ue.Err.Error()
	}
	return "invalid connection string"
}

// Dialect returns the database kind.
func (s *Store) Dialect() Dialect { return s.dialect }

// Ping checks that the database answers.
func (s *Store) Ping(ctx context.Context) error {
	if s.pool != nil {
		return s.pool.Ping(ctx)
	}
	return s.db.PingContext(ctx)
}

// Close releases the connections.
func (s *Store) Close() error {
	if s.pool != nil {
		err := s.db.Close()
		s.pool.Close()
		return err
	}
	s.stmts.close()
	return s.db.Close()
}
