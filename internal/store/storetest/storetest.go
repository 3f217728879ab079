// Package storetest files requests on a real store for tests, through the
// calls the bot makes: the same people, policy and items in the tests of
// every package that works on the store. It opens no database; testdb does.
package storetest

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/riverqueue/river"

	"github.com/countersign/countersign/approvals"
	"github.com/countersign/countersign/internal/jobs"
	"github.com/countersign/countersign/internal/store"
)

// Actor returns the console person name.
func Actor(name string) approvals.Actor {
	return approvals.Actor{Person: name, Platform: "console", Account: name, Name: name}
}

// Policy needs required approvals from bob, carol or dave, a reason, at
// most 100 targets, and expires requests after an hour.
func Policy(required int) approvals.Policy {
	return approvals.Policy{
		ApprovalsRequired: required,
		RequestTTL:        time.Hour,
		MaxTargets:        100,
		RequireReason:     true,
		Approvers:         []string{"bob", "carol", "dave"},
	}
}

// Mailbox is the identity of a target that stands for itself, as a TMCAS
// mailbox does; File gives it to every item.
func Mailbox(key string) approvals.Identity {
	return approvals.Identity{ID: key, Addresses: []string{key}}
}

// Approval is person's approval of the preview that hashes to hash.
func Approval(person, hash string) approvals.Event {
	return approvals.Event{Kind: approvals.EventApprove, Actor: Actor(person), Hash: hash}
}

// Create has alice file spec under p at now with items as its preview, and
// stores the request.
func Create(t testing.TB, s *store.Store, p approvals.Policy, spec approvals.Spec, items []approvals.Item, now time.Time) approvals.Request {
	t.Helper()
	r, err := p.File(spec, items, Actor("alice"), now)
	if err != nil {
		t.Fatalf("File: %v", err)
	}
	r, err = s.Create(context.Background(), r, items)
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	return r
}

// File stores a pending request by alice to disable targets on provider,
// with one enabled item per target as the preview (keyed by the lower-cased
// target, with its Mailbox identity).
func File(t testing.TB, s *store.Store, p approvals.Policy, provider string, now time.Time, targets ...string) approvals.Request {
	t.Helper()
	spec := approvals.Spec{Action: approvals.ActionDisable, Provider: provider, Targets: targets, Reason: "phish"}
	var items []approvals.Item
	for _, tg := range spec.Canonical().Targets {
		key := strings.ToLower(tg)
		items = append(items, approvals.Item{Key: key, Target: tg, Display: tg, Before: "enabled", Identity: Mailbox(key)})
	}
	return Create(t, s, p, spec, items, now)
}

// Approve records bob's approval of r at now; with a quorum of one that
// approves r and enqueues its execution job.
func Approve(t testing.TB, s *store.Store, r approvals.Request, now time.Time) approvals.Request {
	t.Helper()
	r, err := s.Apply(context.Background(), r.ID, Approval("bob", r.Hash), now)
	if err != nil {
		t.Fatalf("approve: %v", err)
	}
	return r
}

// ExecuteJobs counts the River execution jobs of each request, in any
// state.
func ExecuteJobs(t testing.TB, s *store.Store) map[int64]int {
	t.Helper()
	c, err := s.NewRiverClient(&river.Config{})
	if err != nil {
		t.Fatal(err)
	}
	res, err := c.JobList(context.Background(), river.NewJobListParams().Kinds(jobs.Execute{}.Kind()).First(10_000))
	if err != nil {
		t.Fatalf("JobList: %v", err)
	}
	out := map[int64]int{}
	for _, j := range res.Jobs {
		var a jobs.Execute
		if err := json.Unmarshal(j.EncodedArgs, &a); err != nil {
			t.Fatal(err)
		}
		out[a.RequestID]++
	}
	return out
}
