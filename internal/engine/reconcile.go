package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/countersign/countersign/internal/store"
	"github.com/countersign/countersign/providers"
)

// reconcile records a step whose call was uncertain, in one transaction:
// the items the provider shows it received become a submission polled as
// usual, and the rest become unknown, each with what a person should check.
// The request goes on; it ends needs_attention once everything else is
// done (finish). Nothing is sent again.
func (a *attempt) reconcile(ctx context.Context, batch providers.Batch, sentAt time.Time, cause error, rec store.Submitted) error {
	step := rec.Step
	r := a.ask(ctx, batch, sentAt, cause)
	// Asking may have waited for the provider's rate limit: the record gets
	// its own time, even if the attempt ran out meanwhile.
	wctx, cancel := detached(ctx)
	defer cancel()
	rec.Items, rec.Unknown, rec.Uncertain = map[string]string{}, map[string]string{}, cause.Error()
	chunk := make(map[string]bool, len(batch.Items))
	for _, it := range batch.Items {
		chunk[it.Key] = true
	}
	if sub := r.Submission; sub != nil {
		var carried []providers.SubmittedItem
		for _, si := range sub.Items {
			if chunk[si.Key] && !slices.ContainsFunc(carried, func(c providers.SubmittedItem) bool { return c.Key == si.Key }) {
				carried = append(carried, si)
				rec.Items[si.Key] = si.Ref
			}
		}
		if len(carried) < len(sub.Items) {
			a.log.WarnContext(ctx, "the reconciliation named items the step did not carry; ignoring them", "step", step)
		}
		if len(carried) > 0 {
			sub.Items = carried
			body, err := json.Marshal(sub)
			if err != nil {
				return a.attention(wctx, fmt.Sprintf("%s showed what became of the uncertain step %d (id %s), but it cannot be stored: %v",
					a.p.Name(), step+1, sub.ID, err))
			}
			rec.Body, rec.ID = body, sub.ID
		}
	}
	for _, it := range batch.Items {
		if _, ok := rec.Items[it.Key]; ok {
			continue
		}
		note := r.Unknown[it.Key]
		if note == "" {
			note = fmt.Sprintf("%s did not say what became of this item after an uncertain answer (%v). Countersign did not send it again. "+
				"Check %s for it around %s before acting again.", a.p.Name(), cause, a.p.Name(), sentAt.UTC().Format(time.RFC3339))
		}
		rec.Unknown[it.Key] = note
	}
	if err := a.e.store.RecordSubmission(wctx, a.id(), a.x.Fence, rec, a.e.now()); err != nil {
		// Left in flight: the next attempt raises needs_attention rather
		// than sending it again.
		a.log.ErrorContext(ctx, "an uncertain step could not be recorded", "step", step, "error", err)
		return a.storeErr(ctx, err)
	}
	a.log.WarnContext(ctx, "the provider's answer was uncertain; nothing was sent again", "step", step, "error", cause,
		"received", len(rec.Items), "unknown", len(rec.Unknown), "provider_id", rec.ID)
	return nil
}

// ask asks the provider what became of an uncertain batch. A provider that
// cannot be asked, or whose answer fails, leaves every item unknown.
func (a *attempt) ask(ctx context.Context, batch providers.Batch, sentAt time.Time, cause error) providers.Reconciliation {
	name, at := a.p.Name(), sentAt.UTC().Format(time.RFC3339)
	why := fmt.Sprintf("%s answered uncertainly (%v) and cannot be asked what it did", name, cause)
	if rc, ok := a.p.(providers.Reconciler); ok {
		if ctx.Err() != nil {
			// The attempt ran out during the call; asking is quick, and
			// the record after it has its own time.
			var cancel context.CancelFunc
			ctx, cancel = detached(ctx)
			defer cancel()
		}
		r, err := rc.Reconcile(ctx, batch, sentAt)
		if err == nil {
			return r
		}
		a.log.WarnContext(ctx, "asking the provider about an uncertain step failed", "error", err)
		why = fmt.Sprintf("%s answered uncertainly (%v), and asking it what it did failed (%v)", name, cause, err)
	}
	r := providers.Reconciliation{Unknown: map[string]string{}}
	for _, it := range batch.Items {
		r.Unknown[it.Key] = fmt.Sprintf("%s. Countersign did not send it again. Check %s for this target around %s before acting again.", why, name, at)
	}
	return r
}
