package store_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/countersign/countersign/approvals"
	"github.com/countersign/countersign/bot/chat"
	"github.com/countersign/countersign/internal/store"
	"github.com/countersign/countersign/internal/store/storetest"
)

func approvedRequest(t *testing.T, s *store.Store) approvals.Request {
	t.Helper()
	return storetest.Approve(t, s, storetest.File(t, s, storetest.Policy(1), "tmcas", t0, "mallory@contoso.com"), t0)
}

// claimed files a request for targets, has it approved and claims its
// execution, as the engine's first attempt does.
func claimed(t *testing.T, s *store.Store, provider string, targets ...string) (approvals.Request, store.Execution) {
	t.Helper()
	r := storetest.Approve(t, s, storetest.File(t, s, storetest.Policy(1), provider, t0, targets...), t0)
	x, err := s.Claim(context.Background(), r.ID, t0)
	if err != nil {
		t.Fatal(err)
	}
	return r, x
}

func TestExecutionIsFenced(t *testing.T) {
	eachStore(t, func(ctx context.Context, t *testing.T, s *store.Store) {
		r := approvedRequest(t, s)

		first, err := s.Claim(ctx, r.ID, t0)
		if err != nil {
			t.Fatal(err)
		}
		if first.Request.State != approvals.StateRunning || first.Step != 0 || len(first.Submissions) != 0 {
			t.Fatalf("first claim = %+v, want running at step 0 with no submissions", first)
		}
		if err := s.MarkSubmitting(ctx, r.ID, first.Fence, 0, t0); err != nil {
			t.Fatal(err)
		}
		// A second worker takes over (the first one is presumed dead).
		second, err := s.Claim(ctx, r.ID, t0)
		if err != nil {
			t.Fatal(err)
		}
		if second.Fence <= first.Fence || second.Request.Phase != approvals.PhaseSubmitting || second.Step != 0 || !second.InFlight {
			t.Fatalf("second claim = fence %d phase %q step %d in flight %v, want a newer fence, submitting, step 0 in flight",
				second.Fence, second.Request.Phase, second.Step, second.InFlight)
		}
		// The first worker's late writes are refused.
		sub := store.Submitted{Step: 0, Body: []byte(`{"id":"b1"}`), Items: map[string]string{"mallory@contoso.com": "a1"}, Last: true}
		if err := s.RecordSubmission(ctx, r.ID, first.Fence, sub, t0); !errors.Is(err, approvals.ErrStaleAttempt) {
			t.Fatalf("stale RecordSubmission: got %v, want ErrStaleAttempt", err)
		}
		if _, err := s.UpdateItems(ctx, r.ID, first.Fence, []store.ItemUpdate{{Key: "mallory@contoso.com", Status: approvals.ItemFailed}}, t0); !errors.Is(err, approvals.ErrStaleAttempt) {
			t.Fatalf("stale UpdateItems: got %v, want ErrStaleAttempt", err)
		}
		if _, err := s.Finish(ctx, r.ID, first.Fence, approvals.Event{Kind: approvals.EventFinish, Outcome: approvals.StateFailed}, t0); !errors.Is(err, approvals.ErrStaleAttempt) {
			t.Fatalf("stale Finish: got %v, want ErrStaleAttempt", err)
		}
		// The current owner's writes land.
		if err := s.RecordSubmission(ctx, r.ID, second.Fence, sub, t0); err != nil {
			t.Fatal(err)
		}
		third, err := s.Claim(ctx, r.ID, t0)
		if err != nil {
			t.Fatal(err)
		}
		if third.Request.Phase != approvals.PhaseSubmitted || third.Step != 1 || third.InFlight || string(third.Submissions[0]) != `{"id":"b1"}` {
			t.Fatalf("after submission: phase %q step %d submission %q, want submitted, 1, the body", third.Request.Phase, third.Step, third.Submissions[0])
		}
		items, err := s.Items(ctx, r.ID)
		if err != nil {
			t.Fatal(err)
		}
		if items[0].Status != approvals.ItemSubmitted || items[0].Ref != "a1" {
			t.Fatalf("item after submission = %+v, want submitted with ref a1", items[0])
		}
		n, err := s.UpdateItems(ctx, r.ID, third.Fence, []store.ItemUpdate{{Key: "mallory@contoso.com", Status: approvals.ItemRunning}}, t0)
		if err != nil || n != 1 {
			t.Fatalf("UpdateItems = %d, %v; want 1 change", n, err)
		}
		n, err = s.UpdateItems(ctx, r.ID, third.Fence, []store.ItemUpdate{{Key: "mallory@contoso.com", Status: approvals.ItemRunning}}, t0)
		if err != nil || n != 0 {
			t.Fatalf("repeated UpdateItems = %d, %v; want 0 changes", n, err)
		}
		n, err = s.UpdateItems(ctx, r.ID, third.Fence, []store.ItemUpdate{{Key: "mallory@contoso.com", Status: approvals.ItemSucceeded, Detail: "done"}}, t0)
		if err != nil || n != 1 {
			t.Fatalf("UpdateItems to succeeded = %d, %v; want 1 change", n, err)
		}
		n, err = s.UpdateItems(ctx, r.ID, third.Fence, []store.ItemUpdate{{Key: "mallory@contoso.com", Status: approvals.ItemFailed}}, t0)
		if err != nil || n != 0 {
			t.Fatalf("UpdateItems after terminal = %d, %v; want 0 changes: outcomes are final", n, err)
		}
		done, err := s.Finish(ctx, r.ID, third.Fence, approvals.Event{Kind: approvals.EventFinish, Outcome: approvals.StateSucceeded}, t0)
		if err != nil || done.State != approvals.StateSucceeded {
			t.Fatalf("Finish = %v, %v; want succeeded", done.State, err)
		}
		if _, err := s.VerifyAudit(ctx); err != nil {
			t.Fatal(err)
		}
	})
}

func TestCancelAfterApprovalStopsExecution(t *testing.T) {
	eachStore(t, func(ctx context.Context, t *testing.T, s *store.Store) {
		r := approvedRequest(t, s)
		if _, err := s.Apply(ctx, r.ID, approvals.Event{Kind: approvals.EventCancel, Actor: storetest.Actor("alice")}, t0); err != nil {
			t.Fatal(err)
		}
		x, err := s.Claim(ctx, r.ID, t0)
		if err != nil {
			t.Fatal(err)
		}
		if x.Request.State != approvals.StateCancelled {
			t.Fatalf("claimed a cancelled request as %s, want it left cancelled", x.Request.State)
		}
		if err := s.MarkSubmitting(ctx, r.ID, x.Fence, 0, t0); !errors.Is(err, approvals.ErrAlreadyDecided) {
			t.Fatalf("MarkSubmitting on cancelled: got %v, want ErrAlreadyDecided", err)
		}
	})
}

func TestApproveAfterTTLExpires(t *testing.T) {
	eachStore(t, func(ctx context.Context, t *testing.T, s *store.Store) {
		r := storetest.File(t, s, storetest.Policy(1), "tmcas", t0, "mallory@contoso.com")
		due, err := s.DueForExpiry(ctx, t0.Add(59*time.Minute), 10)
		if err != nil || len(due) != 0 {
			t.Fatalf("DueForExpiry before TTL = %v, %v; want none", due, err)
		}
		due, err = s.DueForExpiry(ctx, t0.Add(time.Hour), 10)
		if err != nil || len(due) != 1 || due[0] != r.ID {
			t.Fatalf("DueForExpiry at TTL = %v, %v; want [%d]", due, err, r.ID)
		}
		if _, err := s.Apply(ctx, r.ID, storetest.Approval("bob", r.Hash), t0.Add(time.Hour)); !errors.Is(err, approvals.ErrExpired) {
			t.Fatalf("late approval: got %v, want ErrExpired", err)
		}
		got, err := s.Get(ctx, r.ID)
		if err != nil || got.State != approvals.StateExpired || len(got.Approvals) != 0 {
			t.Fatalf("after late approval: %s with %d approvals (%v), want expired with none", got.State, len(got.Approvals), err)
		}
		if n := storetest.ExecuteJobs(t, s)[r.ID]; n != 0 {
			t.Fatalf("execution jobs = %d, want 0", n)
		}
	})
}

func TestMessagesAndFirstSeen(t *testing.T) {
	eachStore(t, func(ctx context.Context, t *testing.T, s *store.Store) {
		r := storetest.File(t, s, storetest.Policy(1), "tmcas", t0, "mallory@contoso.com")
		m := chat.Location{RequestID: r.ID, Platform: "slack", Channel: "C0SOC", MessageID: "1700000000.000100"}
		if err := s.SaveMessage(ctx, m, t0); err != nil {
			t.Fatal(err)
		}
		m.ProgressID = "1700000001.000200"
		if err := s.SaveMessage(ctx, m, t0); err != nil {
			t.Fatal(err)
		}
		got, err := s.Messages(ctx, r.ID)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff([]chat.Location{m}, got); diff != "" {
			t.Fatalf("Messages mismatch (-want +got):\n%s", diff)
		}

		for i, want := range []bool{true, false} {
			fresh, err := s.FirstSeen(ctx, "slack:sig", 5*time.Minute, t0)
			if err != nil || fresh != want {
				t.Fatalf("FirstSeen #%d = %v, %v; want %v", i+1, fresh, err, want)
			}
		}
		fresh, err := s.FirstSeen(ctx, "slack:sig", 5*time.Minute, t0.Add(6*time.Minute))
		if err != nil || !fresh {
			t.Fatalf("FirstSeen after its TTL = %v, %v; want true", fresh, err)
		}
	})
}

func TestList(t *testing.T) {
	eachStore(t, func(ctx context.Context, t *testing.T, s *store.Store) {
		a := storetest.File(t, s, storetest.Policy(1), "tmcas", t0, "a@contoso.com")
		b := storetest.File(t, s, storetest.Policy(1), "tmcas", t0.Add(time.Minute), "b@contoso.com")
		if _, err := s.Apply(ctx, b.ID, storetest.Approval("bob", b.Hash), t0.Add(time.Minute)); err != nil {
			t.Fatal(err)
		}
		pending, err := s.List(ctx, approvals.Filter{States: []approvals.State{approvals.StatePending}})
		if err != nil || len(pending) != 1 || pending[0].ID != a.ID {
			t.Fatalf("pending = %v, %v; want only request %d", ids(pending), err, a.ID)
		}
		newest, err := s.List(ctx, approvals.Filter{Newest: true, Limit: 1})
		if err != nil || len(newest) != 1 || newest[0].ID != b.ID || len(newest[0].Approvals) != 1 {
			t.Fatalf("newest = %+v, %v; want request %d with its approval", newest, err, b.ID)
		}
		window, err := s.List(ctx, approvals.Filter{CreatedSince: t0.Add(30 * time.Second)})
		if err != nil || len(window) != 1 || window[0].ID != b.ID {
			t.Fatalf("created since = %v, %v; want only %d", ids(window), err, b.ID)
		}
	})
}

func ids(rs []approvals.Request) []int64 {
	var out []int64
	for _, r := range rs {
		out = append(out, r.ID)
	}
	return out
}

func TestSubmissionSteps(t *testing.T) {
	eachStore(t, func(ctx context.Context, t *testing.T, s *store.Store) {
		r, x := claimed(t, s, "graph", "a@x.io", "b@x.io", "c@x.io")
		var err error
		if err := s.MarkSubmitting(ctx, r.ID, x.Fence, 1, t0); !errors.Is(err, approvals.ErrInvalidTransition) {
			t.Fatalf("skipping a step: got %v, want ErrInvalidTransition", err)
		}
		// Step 0: throttled, nothing sent; released and made again.
		if err := s.MarkSubmitting(ctx, r.ID, x.Fence, 0, t0); err != nil {
			t.Fatal(err)
		}
		if err := s.ReleaseStep(ctx, r.ID, x.Fence, 0, "429", t0); err != nil {
			t.Fatal(err)
		}
		if x, err = s.Claim(ctx, r.ID, t0); err != nil || x.InFlight || x.Step != 0 {
			t.Fatalf("after release: step %d in flight %v (%v), want step 0 not in flight", x.Step, x.InFlight, err)
		}
		if err := s.MarkSubmitting(ctx, r.ID, x.Fence, 0, t0); err != nil {
			t.Fatal(err)
		}
		if err := s.RecordSubmission(ctx, r.ID, x.Fence, store.Submitted{Step: 0, Body: []byte("{}"), Items: map[string]string{"a@x.io": "c1"}}, t0); err != nil {
			t.Fatal(err)
		}
		// A crash between steps is not a crash inside the submit window.
		if x, err = s.Claim(ctx, r.ID, t0); err != nil || x.InFlight || x.Step != 1 || x.Request.Phase != approvals.PhaseSubmitting {
			t.Fatalf("between steps: step %d in flight %v phase %q (%v), want step 1, not in flight, submitting", x.Step, x.InFlight, x.Request.Phase, err)
		}
		// Step 1: definitely refused; its item fails.
		if err := s.MarkSubmitting(ctx, r.ID, x.Fence, 1, t0); err != nil {
			t.Fatal(err)
		}
		if err := s.RecordSubmission(ctx, r.ID, x.Fence, store.Submitted{Step: 1, Items: map[string]string{"b@x.io": ""}, Failed: "403 accessDenied"}, t0); err != nil {
			t.Fatal(err)
		}
		if err := s.MarkSubmitting(ctx, r.ID, x.Fence, 2, t0); err != nil {
			t.Fatal(err)
		}
		if err := s.RecordSubmission(ctx, r.ID, x.Fence, store.Submitted{Step: 2, Body: []byte("{}"), Items: map[string]string{"c@x.io": "c3"}, Last: true}, t0); err != nil {
			t.Fatal(err)
		}
		got, err := s.Items(ctx, r.ID)
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]approvals.ItemStatus{"a@x.io": approvals.ItemSubmitted, "b@x.io": approvals.ItemFailed, "c@x.io": approvals.ItemSubmitted}
		for _, it := range got {
			if it.Status != want[it.Key] {
				t.Errorf("item %s = %s, want %s", it.Key, it.Status, want[it.Key])
			}
		}
		if x, err = s.Claim(ctx, r.ID, t0); err != nil || x.Request.Phase != approvals.PhaseSubmitted || len(x.Submissions) != 3 {
			t.Fatalf("after last step: phase %q, %d submissions (%v); want submitted, 3", x.Request.Phase, len(x.Submissions), err)
		}
	})
}

func TestUncertainSubmissionRecordsUnknownItems(t *testing.T) {
	eachStore(t, func(ctx context.Context, t *testing.T, s *store.Store) {
		r, x := claimed(t, s, "tmcas", "a@x.io", "b@x.io")
		if err := s.MarkSubmitting(ctx, r.ID, x.Fence, 0, t0); err != nil {
			t.Fatal(err)
		}
		both := store.Submitted{Step: 0, Body: []byte(`{"id":"b1"}`), Items: map[string]string{"a@x.io": ""},
			Unknown: map[string]string{"a@x.io": "check"}, Last: true}
		if err := s.RecordSubmission(ctx, r.ID, x.Fence, both, t0); err == nil {
			t.Fatal("an item both submitted and unknown was recorded")
		}
		sub := store.Submitted{Step: 0, Body: []byte(`{"id":"b1"}`), ID: "b1", Items: map[string]string{"a@x.io": ""},
			Unknown: map[string]string{"b@x.io": "check the console for b@x.io"}, Uncertain: "HTTP 503", Last: true}
		if err := s.RecordSubmission(ctx, r.ID, x.Fence, sub, t0); err != nil {
			t.Fatal(err)
		}
		items, err := s.Items(ctx, r.ID)
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]string{}
		for _, it := range items {
			got[it.Key] = string(it.Status) + ": " + it.Detail
		}
		want := map[string]string{"a@x.io": "submitted: ", "b@x.io": "unknown: check the console for b@x.io"}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("items (-want +got):\n%s", diff)
		}
		x, err = s.Claim(ctx, r.ID, t0)
		if err != nil || x.InFlight || x.Step != 1 || x.Request.Phase != approvals.PhaseSubmitted {
			t.Fatalf("after the record: step %d in flight %v phase %q (%v), want 1, no, submitted", x.Step, x.InFlight, x.Request.Phase, err)
		}
		entries, err := s.RequestAudit(ctx, r.ID)
		if err != nil {
			t.Fatal(err)
		}
		last := string(entries[len(entries)-1].Detail)
		for _, want := range []string{`"uncertain":"HTTP 503"`, `"unknown":1`, `"provider_id":"b1"`} {
			if !strings.Contains(last, want) {
				t.Errorf("audit detail %s lacks %s", last, want)
			}
		}
	})
}
