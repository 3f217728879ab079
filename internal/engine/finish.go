package engine

import (
	"context"
	"fmt"

	"github.com/countersign/countersign/approvals"
	"github.com/countersign/countersign/internal/store"
)

// unknownReason is the note of a request that ends needs_attention because
// the outcome of some items is unknown.
func unknownReason(items []approvals.Item) string {
	counts := newTally(items)
	return fmt.Sprintf("%d of %d items may or may not have been performed and the provider cannot tell; each says what to check. "+
		"Countersign does not resend them. %s.", counts[approvals.ItemUnknown], len(items), counts)
}

// tally counts items by status.
type tally map[approvals.ItemStatus]int

func newTally(items []approvals.Item) tally {
	t := tally{}
	for _, it := range items {
		t[it.Status]++
	}
	return t
}

// String is the summary a final note gives.
func (t tally) String() string {
	return fmt.Sprintf("%d succeeded, %d failed, %d skipped", t[approvals.ItemSucceeded], t[approvals.ItemFailed], t[approvals.ItemSkipped])
}

// failPending fails every item not yet sent, then finishes the request.
// Only for requests that never sent anything, so every item is terminal.
func (a *attempt) failPending(ctx context.Context, items []approvals.Item, reason string) error {
	var updates []store.ItemUpdate
	for i, it := range items {
		if it.Status == approvals.ItemPending {
			updates = append(updates, store.ItemUpdate{Key: it.Key, Status: approvals.ItemFailed, Detail: reason})
			items[i].Status, items[i].Detail = approvals.ItemFailed, reason
		}
	}
	if err := a.update(ctx, updates); err != nil {
		return err
	}
	if !allTerminal(items) {
		return a.attention(ctx, reason)
	}
	return a.finish(ctx, items)
}

// finish moves the request to its outcome.
func (a *attempt) finish(ctx context.Context, items []approvals.Item) error {
	outcome := approvals.Outcome(items)
	if outcome == approvals.StateNeedsAttention {
		return a.attention(ctx, unknownReason(items))
	}
	counts := newTally(items)
	reason := ""
	if outcome != approvals.StateSucceeded {
		reason = counts.String()
	}
	ev := approvals.Event{Kind: approvals.EventFinish, Outcome: outcome, Reason: reason}
	if _, err := a.e.store.Finish(ctx, a.id(), a.x.Fence, ev, a.e.now()); err != nil {
		return a.storeErr(ctx, err)
	}
	a.observe(outcome)
	a.log.InfoContext(ctx, "request finished", "outcome", outcome, "succeeded", counts[approvals.ItemSucceeded],
		"failed", counts[approvals.ItemFailed], "skipped", counts[approvals.ItemSkipped])
	a.e.notify.Changed(a.id())
	return errJobDone
}

// observe records the execution time of a request that reached outcome,
// measured from its approval.
func (a *attempt) observe(outcome approvals.State) {
	if a.e.cfg.Metrics == nil {
		return
	}
	r := a.x.Request
	a.e.cfg.Metrics.ObserveExecution(string(r.Spec.Action), r.Spec.Provider, string(outcome), a.e.now().Sub(r.ApprovedAt))
}

// attention moves the request to needs_attention and alerts: an error line
// in the log and a notification.
func (a *attempt) attention(ctx context.Context, reason string) error {
	ev := approvals.Event{Kind: approvals.EventAttention, Reason: reason}
	if _, err := a.e.store.Finish(ctx, a.id(), a.x.Fence, ev, a.e.now()); err != nil {
		return a.storeErr(ctx, err)
	}
	a.observe(approvals.StateNeedsAttention)
	a.log.ErrorContext(ctx, "request needs attention", "reason", reason)
	a.e.notify.Changed(a.id())
	return errJobDone
}
