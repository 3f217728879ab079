package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"

	"github.com/riverqueue/river"

	"github.com/countersign/countersign/approvals"
	"github.com/countersign/countersign/internal/store"
	"github.com/countersign/countersign/providers"
)

// poll asks the provider once about every submission with items still
// open, stores what changed, and finishes the request when every item is
// terminal.
func (a *attempt) poll(ctx context.Context, items []approvals.Item) error {
	byKey := make(map[string]approvals.Item, len(items))
	for _, it := range items {
		byKey[it.Key] = it
	}
	steps := make([]int, 0, len(a.x.Submissions))
	for step := range a.x.Submissions {
		steps = append(steps, step)
	}
	slices.Sort(steps)
	var updates []store.ItemUpdate
	for _, step := range steps {
		body := a.x.Submissions[step]
		if len(body) == 0 {
			continue // refused: its items failed when it was recorded
		}
		var sub providers.Submission
		if err := json.Unmarshal(body, &sub); err != nil {
			return a.attention(ctx, fmt.Sprintf("the stored submission of step %d cannot be read: %v", step+1, err))
		}
		if !slices.ContainsFunc(sub.Items, func(si providers.SubmittedItem) bool {
			it, ok := byKey[si.Key]
			return ok && !it.Status.Terminal()
		}) {
			continue
		}
		if a.lowOnTime(ctx) {
			break // the next attempt polls the rest
		}
		prog, err := a.p.Poll(ctx, sub)
		if err != nil {
			a.log.WarnContext(ctx, "polling the provider failed; trying again later", "step", step, "provider_id", sub.ID, "error", err)
			continue
		}
		updates = append(updates, a.progress(ctx, sub, prog, byKey)...)
	}
	wctx, cancel := detached(ctx)
	defer cancel()
	if err := a.update(wctx, updates); err != nil {
		return err
	}
	items, err := a.e.store.Items(wctx, a.id())
	if err != nil {
		return err
	}
	if allTerminal(items) {
		return a.finish(wctx, items)
	}
	if a.pastDeadline() {
		return a.attention(wctx, fmt.Sprintf("%s did not finish within %s of approval", a.p.Name(), a.e.cfg.PollDeadline))
	}
	return river.JobSnooze(a.e.cfg.PollInterval)
}

// progress turns one poll into item updates for the items sub carried.
func (a *attempt) progress(ctx context.Context, sub providers.Submission, prog providers.Progress, byKey map[string]approvals.Item) []store.ItemUpdate {
	carried := make(map[string]bool, len(sub.Items))
	for _, si := range sub.Items {
		if _, ok := byKey[si.Key]; ok {
			carried[si.Key] = true
		}
	}
	reported := make(map[string]bool, len(prog.Items))
	var out []store.ItemUpdate
	for _, st := range prog.Items {
		if !carried[st.Key] {
			a.log.WarnContext(ctx, "the provider reported an item this submission did not carry; ignoring it", "provider_id", sub.ID)
			continue
		}
		status := st.Status
		switch status {
		case approvals.ItemPending, "":
			// Sent is sent: pending would mean "not yet sent" here, and a
			// pending item is submitted again.
			status = approvals.ItemSubmitted
		case approvals.ItemSubmitted, approvals.ItemRunning, approvals.ItemSucceeded, approvals.ItemFailed, approvals.ItemSkipped:
		default:
			a.log.WarnContext(ctx, "the provider reported an unknown item status; ignoring it", "provider_id", sub.ID, "status", status)
			continue
		}
		reported[st.Key] = true
		out = append(out, store.ItemUpdate{Key: st.Key, Status: status, Detail: st.Detail, Ref: st.Ref})
	}
	if prog.Done {
		for key := range carried {
			if !reported[key] && !byKey[key].Status.Terminal() {
				out = append(out, store.ItemUpdate{Key: key, Status: approvals.ItemSkipped, Detail: "the provider finished without reporting this item"})
			}
		}
	}
	return out
}
