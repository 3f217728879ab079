package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/countersign/countersign/approvals"
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

func actor(name string) approvals.Actor {
	return approvals.Actor{Person: name, Platform: "console", Account: name, Name: name}
}

func testPolicy(required int) approvals.Policy {
	return approvals.Policy{
		ApprovalsRequired: required,
		RequestTTL:        time.Hour,
		MaxTargets:        100,
		RequireReason:     true,
		Approvers:         []string{"bob", "carol", "dave"},
	}
}

// file stores a new disable request by alice.
func file(t testing.TB, s *store.Store, p approvals.Policy, target string, now time.Time) approvals.Request {
	t.Helper()
	spec := approvals.Spec{Action: approvals.ActionDisable, Provider: "tmcas", Targets: []string{target}, Reason: "phish"}
	items := []approvals.Item{{Key: target, Target: target, Display: target, Before: "enabled", Identity: approvals.Identity{ID: target}}}
	r, err := p.File(spec, items, actor("alice"), now)
	if err != nil {
		t.Fatalf("File: %v", err)
	}
	r, err = s.Create(context.Background(), r, items)
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	return r
}

func approve(person, hash string) approvals.Event {
	return approvals.Event{Kind: approvals.EventApprove, Actor: actor(person), Hash: hash}
}
