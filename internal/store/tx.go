package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/riverqueue/river"
)

// querier runs SQL written with $n placeholders, which both SQLite and
// PostgreSQL accept, on a transaction or directly on the database.
type querier interface {
	exec(ctx context.Context, q string, args ...any) (int64, error)
	query(ctx context.Context, q string, args ...any) (rowIter, error)
	queryRow(ctx context.Context, q string, args ...any) scanner
}

// txn is a querier inside a transaction that can also enqueue River jobs.
type txn interface {
	querier
	insertJob(ctx context.Context, args river.JobArgs) error
}

type scanner interface{ Scan(dest ...any) error }

// collect runs query on q and scans every row with scan. Errors, including
// one that ends the rows early, say what was being read.
func collect[T any](ctx context.Context, q querier, what string, scan func(scanner) (T, error), query string, args ...any) ([]T, error) {
	rows, err := q.query(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", what, err)
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	return out, nil
}

type rowIter interface {
	Next() bool
	Scan(dest ...any) error
	Err() error
	Close()
}

// errNoRows is returned by scanner.Scan for both drivers.
func isNoRows(err error) bool {
	return errors.Is(err, sql.ErrNoRows) || errors.Is(err, pgx.ErrNoRows)
}

// inTx runs fn in a transaction and commits it when fn returns nil.
func (s *Store) inTx(ctx context.Context, fn func(t txn) error) error {
	if s.pool != nil {
		tx, err := s.pool.Begin(ctx)
		if err != nil {
			return fmt.Errorf("beginning transaction: %w", err)
		}
		if err := fn(pgTxn{tx: tx, jobs: s.pgJobs}); err != nil {
			_ = tx.Rollback(context.WithoutCancel(ctx))
			return err
		}
		if err := tx.Commit(ctx); err != nil {
			return fmt.Errorf("committing: %w", err)
		}
		return nil
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("beginning transaction: %w", err)
	}
	if err := fn(sqlTxn{sqlQuerier: sqlQuerier{db: s.db, tx: tx, cache: &s.stmts}, jobs: s.sqliteJobs}); err != nil {
		_ = tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("committing: %w", err)
	}
	s.stmts.prepareMissed(ctx, s.db)
	return nil
}

// q returns a querier outside any transaction, for reads.
func (s *Store) q() querier {
	if s.pool != nil {
		return pgQuerier{s.pool}
	}
	return sqlQuerier{db: s.db, cache: &s.stmts}
}

// database/sql (SQLite)

// sqlQuerier runs statements on SQLite through a cache of prepared
// statements: modernc parses SQL on every call otherwise, which was a third
// of the time of an approval.
type sqlQuerier struct {
	db    *sql.DB
	tx    *sql.Tx // nil outside a transaction
	cache *stmtCache
}

// stmt returns the prepared statement for sqlText, bound to the
// transaction if there is one, or nil when it is not prepared yet.
func (q sqlQuerier) stmt(ctx context.Context, sqlText string) (*sql.Stmt, error) {
	if q.tx != nil {
		// Preparing on the database now would wait for the only connection,
		// which this transaction holds: run unprepared and prepare it later.
		st := q.cache.lookup(sqlText)
		if st == nil {
			return nil, nil
		}
		// On the single connection this reuses the prepared statement.
		return q.tx.StmtContext(ctx, st), nil
	}
	return q.cache.get(ctx, q.db, sqlText)
}

func (q sqlQuerier) exec(ctx context.Context, sqlText string, args ...any) (int64, error) {
	st, err := q.stmt(ctx, sqlText)
	if err != nil {
		return 0, err
	}
	var res sql.Result
	if st != nil {
		res, err = st.ExecContext(ctx, args...)
	} else {
		res, err = q.tx.ExecContext(ctx, sqlText, args...)
	}
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

func (q sqlQuerier) query(ctx context.Context, sqlText string, args ...any) (rowIter, error) {
	st, err := q.stmt(ctx, sqlText)
	if err != nil {
		return nil, err
	}
	var rows *sql.Rows
	if st != nil {
		rows, err = st.QueryContext(ctx, args...)
	} else {
		rows, err = q.tx.QueryContext(ctx, sqlText, args...)
	}
	if err != nil {
		return nil, err
	}
	return sqlRows{rows}, nil
}

func (q sqlQuerier) queryRow(ctx context.Context, sqlText string, args ...any) scanner {
	st, err := q.stmt(ctx, sqlText)
	if err != nil {
		return errRow{err}
	}
	if st == nil {
		return q.tx.QueryRowContext(ctx, sqlText, args...)
	}
	return st.QueryRowContext(ctx, args...)
}

type errRow struct{ err error }

func (r errRow) Scan(...any) error { return r.err }

// stmtCache holds prepared statements by text. The store's statements are a
// fixed set, plus List's few filter combinations, so it stays small.
type stmtCache struct {
	mu     sync.Mutex
	m      map[string]*sql.Stmt
	missed map[string]bool // seen inside a transaction, to prepare after it
}

// lookup returns the prepared statement or nil, noting the miss.
func (c *stmtCache) lookup(sqlText string) *sql.Stmt {
	c.mu.Lock()
	defer c.mu.Unlock()
	if st, ok := c.m[sqlText]; ok {
		return st
	}
	if c.missed == nil {
		c.missed = map[string]bool{}
	}
	c.missed[sqlText] = true
	return nil
}

// prepareMissed prepares the statements transactions ran unprepared. It is
// called when no transaction of this store holds the connection.
func (c *stmtCache) prepareMissed(ctx context.Context, db *sql.DB) {
	c.mu.Lock()
	missed := c.missed
	c.missed = nil
	c.mu.Unlock()
	for q := range missed {
		// A failure only means the statement stays unprepared.
		_, _ = c.get(ctx, db, q)
	}
}

func (c *stmtCache) get(ctx context.Context, db *sql.DB, sqlText string) (*sql.Stmt, error) {
	c.mu.Lock()
	st, ok := c.m[sqlText]
	c.mu.Unlock()
	if ok {
		return st, nil
	}
	// Prepare without holding mu: preparing waits for the connection, and
	// the transaction holding it may need mu for lookup.
	st, err := db.PrepareContext(ctx, sqlText)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if prev, ok := c.m[sqlText]; ok {
		st.Close()
		return prev, nil
	}
	if c.m == nil {
		c.m = map[string]*sql.Stmt{}
	}
	c.m[sqlText] = st
	return st, nil
}

func (c *stmtCache) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, st := range c.m {
		st.Close()
	}
	c.m = nil
}

type sqlRows struct{ *sql.Rows }

func (r sqlRows) Close() { _ = r.Rows.Close() }

type sqlTxn struct {
	sqlQuerier
	jobs *river.Client[*sql.Tx]
}

func (t sqlTxn) insertJob(ctx context.Context, args river.JobArgs) error {
	if _, err := t.jobs.InsertTx(ctx, t.tx, args, nil); err != nil {
		return fmt.Errorf("enqueueing %s: %w", args.Kind(), err)
	}
	return nil
}

// pgx (PostgreSQL)

type pgQuerier struct {
	r interface {
		Exec(ctx context.Context, q string, args ...any) (pgconn.CommandTag, error)
		Query(ctx context.Context, q string, args ...any) (pgx.Rows, error)
		QueryRow(ctx context.Context, q string, args ...any) pgx.Row
	}
}

func (q pgQuerier) exec(ctx context.Context, sqlText string, args ...any) (int64, error) {
	tag, err := q.r.Exec(ctx, sqlText, args...)
	if err != nil {
		return 0, err
	}
	return tag.RowsAffected(), nil
}

func (q pgQuerier) query(ctx context.Context, sqlText string, args ...any) (rowIter, error) {
	rows, err := q.r.Query(ctx, sqlText, args...)
	if err != nil {
		return nil, err
	}
	return rows, nil
}

func (q pgQuerier) queryRow(ctx context.Context, sqlText string, args ...any) scanner {
	return q.r.QueryRow(ctx, sqlText, args...)
}

type pgTxn struct {
	tx   pgx.Tx
	jobs *river.Client[pgx.Tx]
}

func (t pgTxn) exec(ctx context.Context, q string, args ...any) (int64, error) {
	return pgQuerier{t.tx}.exec(ctx, q, args...)
}

func (t pgTxn) query(ctx context.Context, q string, args ...any) (rowIter, error) {
	return pgQuerier{t.tx}.query(ctx, q, args...)
}

func (t pgTxn) queryRow(ctx context.Context, q string, args ...any) scanner {
	return pgQuerier{t.tx}.queryRow(ctx, q, args...)
}

func (t pgTxn) insertJob(ctx context.Context, args river.JobArgs) error {
	if _, err := t.jobs.InsertTx(ctx, t.tx, args, nil); err != nil {
		return fmt.Errorf("enqueueing %s: %w", args.Kind(), err)
	}
	return nil
}
