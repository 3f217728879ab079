// Package testdb gives tests their own database: a SQLite file in a
// temporary directory, or a fresh database on the PostgreSQL server named by
// CS_TEST_POSTGRES (default: the local server,
// postgres://postgres@127.0.0.1:5432/postgres).
//
// When PostgreSQL cannot be reached, PostgreSQL tests are skipped with the
// reason, unless CS_TEST_POSTGRES_REQUIRED=1 (set by CI), which
// turns the skip into a failure.
//
// Store opens a migrated store on such a database; Exec and QueryRow reach
// the database directly, around the store. Package store's own
// tests are in package store_test, so they may use it too; a test in
// package store itself could not (import cycle).
package testdb

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" database/sql driver, for Exec and QueryRow

	"github.com/countersign/countersign/internal/store"
)

// Env names the tests read.
const (
	EnvPostgres         = "CS_TEST_POSTGRES"
	EnvPostgresRequired = "CS_TEST_POSTGRES_REQUIRED"
	defaultPostgres     = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"
)

// AuditKey is the audit key of the stores Store and Open open. Tests
// that run the countersign command on such a store pass it as
// COUNTERSIGN_AUDIT_KEY.
const AuditKey = "test-audit-key-0123456789abcdef-0123456789"

// Store opens the store at url with AuditKey and migrates it; it is
// closed when the test ends.
func Store(t testing.TB, url string) *store.Store {
	t.Helper()
	s := Open(t, url)
	if err := s.Migrate(context.Background()); err != nil {
		t.Fatalf("testdb: migrating the store: %v", err)
	}
	return s
}

// Open opens the store at url with AuditKey without migrating it, as a
// second replica on a migrated database does; it is closed when the test
// ends.
func Open(t testing.TB, url string) *store.Store {
	t.Helper()
	s, err := store.Open(context.Background(), url, store.Options{AuditKey: []byte(AuditKey)})
	if err != nil {
		t.Fatalf("testdb: opening the store: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Logf("testdb: closing the store: %v", err)
		}
	})
	return s
}

// Dialects names the databases Each runs a test on.
var dialects = []string{"sqlite", "postgres"}

// runner is a test or a benchmark: what Each runs its subtests on.
type runner[T any] interface {
	testing.TB
	Run(name string, f func(T)) bool
}

// Each runs fn as a subtest (or sub-benchmark) once per dialect with a
// fresh database URL.
func Each[T runner[T]](t T, fn func(t T, url string)) {
	t.Helper()
	for _, d := range dialects {
		t.Run(d, func(t T) {
			fn(t, URL(t, d))
		})
	}
}

// URL returns a fresh database of dialect "sqlite" or "postgres", dropped
// when the test ends.
func URL(t testing.TB, dialect string) string {
	t.Helper()
	switch dialect {
	case "sqlite":
		return SQLite(t)
	case "postgres":
		return Postgres(t)
	}
	t.Fatalf("testdb: unknown dialect %q", dialect)
	return ""
}

// SQLite returns the URL of a new SQLite database file.
func SQLite(t testing.TB) string {
	t.Helper()
	return "sqlite:" + filepath.Join(t.TempDir(), "countersign.db")
}

// Postgres creates a database on the test server and returns its URL.
func Postgres(t testing.TB) string {
	t.Helper()
	admin := os.Getenv(EnvPostgres)
	if admin == "" {
		admin = defaultPostgres
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		msg := fmt.Sprintf("PostgreSQL not reachable at %s (set %s to a server URL): %v", redact(admin), EnvPostgres, err)
		if os.Getenv(EnvPostgresRequired) == "1" {
			t.Fatalf("%s; %s=1 forbids skipping", msg, EnvPostgresRequired)
		}
		t.Skip(msg)
	}
	defer conn.Close(ctx)
	name := "cs_test_" + randHex(6)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("creating test database: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		c, err := pgx.Connect(ctx, admin)
		if err != nil {
			t.Logf("dropping test database %s: %v", name, err)
			return
		}
		defer c.Close(ctx)
		if _, err := c.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Logf("dropping test database %s: %v", name, err)
		}
	})
	u, err := url.Parse(admin)
	if err != nil {
		t.Fatalf("parsing %s: %v", EnvPostgres, err)
	}
	u.Path = "/" + name
	return u.String()
}

// Exec runs q on the database at url directly, on a connection of its own
// outside any store, as someone with access to the database would.
func Exec(ctx context.Context, url, q string, args ...any) error {
	db, err := direct(url)
	if err != nil {
		return err
	}
	defer db.Close()
	_, err = db.ExecContext(ctx, q, args...)
	return err
}

// QueryRow runs q on the database at url directly, as Exec does, and
// scans its first row into dest; sql.ErrNoRows when there is none.
func QueryRow(ctx context.Context, url, q string, args []any, dest ...any) error {
	db, err := direct(url)
	if err != nil {
		return err
	}
	defer db.Close()
	return db.QueryRowContext(ctx, q, args...).Scan(dest...)
}

// direct opens the database at url with database/sql: the store's SQLite
// driver, or pgx's for PostgreSQL.
func direct(url string) (*sql.DB, error) {
	if path, ok := strings.CutPrefix(url, "sqlite:"); ok {
		return sql.Open("sqlite", path)
	}
	return sql.Open("pgx", url)
}

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparseable URL)"
	}
	return u.Redacted()
}
