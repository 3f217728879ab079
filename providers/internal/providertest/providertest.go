// Package providertest drives provider clients in their tests, against
// the fakes: a bounded context, resolve-and-submit, polling to the end, and
// a log recorder for checking what a client logs and that it never logs a
// secret or personal data. Both clients' tests use it, so the two are
// exercised the same way.
package providertest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/countersign/countersign/approvals"
	"github.com/countersign/countersign/providers"
)

// Context returns a context that ends with the test or after 30 s, so a
// hang fails the test instead of the run.
func Context(t testing.TB) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// Batch resolves spec with p and returns the batch of every resolved
// item; the test stops when Resolve fails.
func Batch(t testing.TB, ctx context.Context, p providers.Provider, spec approvals.Spec) providers.Batch {
	t.Helper()
	items, err := p.Resolve(ctx, spec)
	if err != nil {
		t.Fatalf("Resolve: %v", err)
	}
	return providers.Batch{Spec: spec, Items: items}
}

// Submit resolves spec with p and submits every resolved item in one
// batch; the test stops when either fails.
func Submit(t testing.TB, ctx context.Context, p providers.Provider, spec approvals.Spec) providers.Submission {
	t.Helper()
	sub, err := p.Submit(ctx, Batch(t, ctx, p, spec))
	if err != nil {
		t.Fatalf("Submit: %v", err)
	}
	return sub
}

// SubmitUncertain resolves spec into the batch of request 7 and submits it
// while the fake's faults are during, answers after which the provider may
// have acted, then sets them to after. It returns the batch and when it was
// sent by now; the test stops unless Submit says the outcome is uncertain
// and not temporary.
func SubmitUncertain[F any](t testing.TB, p providers.Provider, spec approvals.Spec, now func() time.Time,
	setFaults func(F), during, after F) (providers.Batch, time.Time) {
	t.Helper()
	ctx := Context(t)
	batch := Batch(t, ctx, p, spec)
	batch.RequestID, batch.Label, batch.Note = 7, "Countersign request 7", "phish"
	setFaults(during)
	sentAt := now()
	_, err := p.Submit(ctx, batch)
	setFaults(after)
	if !errors.Is(err, providers.ErrUncertain) || errors.Is(err, providers.ErrTemporary) {
		t.Fatalf("Submit: got %v, want ErrUncertain and not ErrTemporary", err)
	}
	return batch, sentAt
}

// PollToEnd polls sub until every item is terminal; the test stops when a
// poll fails or the items are not done after maxPolls polls.
func PollToEnd(t testing.TB, ctx context.Context, p providers.Provider, sub providers.Submission, maxPolls int) providers.Progress {
	t.Helper()
	for range maxPolls {
		prog, err := p.Poll(ctx, sub)
		if err != nil {
			t.Fatalf("Poll: %v", err)
		}
		if prog.Done {
			return prog
		}
	}
	t.Fatalf("submission %s not done after %d polls", sub.ID, maxPolls)
	return providers.Progress{}
}

// Statuses maps the item keys of a poll to their status.
func Statuses(p providers.Progress) map[string]approvals.ItemStatus {
	m := make(map[string]approvals.ItemStatus, len(p.Items))
	for _, it := range p.Items {
		m[it.Key] = it.Status
	}
	return m
}
