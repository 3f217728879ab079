package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/riverqueue/river"

	"github.com/countersign/countersign/approvals"
	"github.com/countersign/countersign/internal/store"
	"github.com/countersign/countersign/providers"
)

// submit resolves the targets again and sends the approved items that are
// still pending, one fenced step per chunk. It returns nil once every
// pending item was sent, refused or skipped.
func (a *attempt) submit(ctx context.Context, items []approvals.Item) error {
	spec := a.x.Request.Spec
	resolved, err := a.p.Resolve(ctx, spec)
	if errors.Is(err, providers.ErrUnsupported) {
		return a.failPending(ctx, items, err.Error())
	}
	if err != nil {
		a.log.WarnContext(ctx, "resolving targets again failed; trying again later", "error", err)
		return river.JobSnooze(a.e.cfg.PollInterval)
	}
	todo, skips, ignored := plan(items, resolved, approvals.Policy{Protected: a.e.cfg.Protected})
	if ignored > 0 {
		// Counted, not named: target keys are personal data.
		a.log.InfoContext(ctx, "the provider now finds targets that were not in the approved preview; they are not acted on", "ignored", ignored)
	}
	if len(skips) > 0 {
		a.log.WarnContext(ctx, "approved items not acted on: they no longer resolve to the approved identity, or are protected", "skipped", len(skips))
	}
	if err := a.update(ctx, skips); err != nil {
		return err
	}
	for len(todo) > 0 {
		n := providers.Fit(a.p, spec.Action, todo)
		if err := a.step(ctx, todo[:n], n == len(todo)); err != nil {
			return err
		}
		todo = todo[n:]
		if len(todo) > 0 && a.lowOnTime(ctx) {
			return river.JobSnooze(0) // the next attempt sends the rest
		}
	}
	return nil
}

// step sends one chunk as the fenced step at the cursor: marked in flight
// before the call, recorded with the provider's ids in one transaction
// after it.
func (a *attempt) step(ctx context.Context, chunk []providers.Resolved, last bool) error {
	r, step := a.x.Request, a.x.Step
	if err := a.e.store.MarkSubmitting(ctx, r.ID, a.x.Fence, step, a.e.now()); err != nil {
		if errors.Is(err, approvals.ErrAlreadyDecided) {
			a.log.InfoContext(ctx, "request was cancelled before submission; nothing was sent")
			return errJobDone
		}
		return a.storeErr(ctx, err)
	}
	batch := providers.Batch{
		RequestID: r.ID,
		Spec:      r.Spec,
		Items:     chunk,
		Label:     fmt.Sprintf("Countersign request %d", r.ID),
		Note:      note(r),
	}
	sentAt := a.e.now()
	sub, err := a.p.Submit(ctx, batch)
	// What the provider did is recorded even if the attempt just timed out.
	wctx, cancel := detached(ctx)
	defer cancel()
	refs := make(map[string]string, len(chunk))
	for _, it := range chunk {
		refs[it.Key] = ""
	}
	rec := store.Submitted{Step: step, Items: refs, Last: last, Provider: a.p.Name()}
	switch {
	case err == nil:
		for _, si := range sub.Items {
			if _, ok := refs[si.Key]; ok {
				refs[si.Key] = si.Ref
			}
		}
		body, merr := json.Marshal(sub)
		if merr != nil {
			return a.attention(wctx, fmt.Sprintf("%s accepted step %d (id %s) but its answer cannot be stored: %v", a.p.Name(), step+1, sub.ID, merr))
		}
		rec.Body, rec.ID = body, sub.ID
		if err := a.e.store.RecordSubmission(wctx, r.ID, a.x.Fence, rec, a.e.now()); err != nil {
			// Left in flight: the next attempt raises needs_attention
			// rather than sending it again.
			a.log.ErrorContext(ctx, "the provider accepted a step that could not be recorded", "step", step, "provider_id", sub.ID, "error", err)
			return a.storeErr(ctx, err)
		}
		a.log.InfoContext(ctx, "submitted", "step", step, "items", len(chunk), "provider_id", sub.ID)
	case errors.Is(err, providers.ErrUncertain):
		// Never sent again: the provider is asked what it did instead.
		if err := a.reconcile(ctx, batch, sentAt, err, rec); err != nil {
			return err
		}
	case errors.Is(err, providers.ErrTemporary) || ctx.Err() != nil:
		if rerr := a.e.store.ReleaseStep(wctx, r.ID, a.x.Fence, step, err.Error(), a.e.now()); rerr != nil {
			return a.storeErr(ctx, rerr)
		}
		a.log.WarnContext(ctx, "the provider refused for now and nothing was sent; trying again later", "step", step, "error", err)
		if ctx.Err() != nil {
			return river.JobSnooze(0) // stopping: resume at once elsewhere
		}
		return river.JobSnooze(a.e.cfg.PollInterval)
	default:
		rec.Failed = err.Error()
		if err := a.e.store.RecordSubmission(wctx, r.ID, a.x.Fence, rec, a.e.now()); err != nil {
			return a.storeErr(ctx, err)
		}
		a.log.WarnContext(ctx, "the provider refused a step; its items failed", "step", step, "items", len(chunk), "error", err)
	}
	a.x.Step++
	a.e.notify.Changed(r.ID)
	return nil
}

// note is the human description a provider shows with a batch.
func note(r approvals.Request) string {
	var by []string
	for _, d := range r.Approvals {
		by = append(by, d.Actor.Person)
	}
	n := r.Spec.Reason
	if len(by) > 0 {
		n = strings.TrimPrefix(n+" — approved by "+strings.Join(by, ", "), " — ")
	}
	return n
}
