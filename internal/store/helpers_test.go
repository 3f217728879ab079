package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/countersign/countersign/internal/store"
	"github.com/countersign/countersign/internal/testdb"
)

// testKey and open are testdb's key and helper under the names
// audit_test.go uses.
var testKey = []byte(testdb.AuditKey)

func open(t testing.TB, url string) *store.Store {
	t.Helper()
	return testdb.Store(t, url)
}

var t0 = time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)

// eachStore runs fn once per dialect with a fresh migrated store.
func eachStore(t *testing.T, fn func(ctx context.Context, t *testing.T, s *store.Store)) {
	t.Helper()
	testdb.Each(t, func(t *testing.T, url string) {
		fn(context.Background(), t, testdb.Store(t, url))
	})
}
