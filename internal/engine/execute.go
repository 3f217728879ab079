package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/riverqueue/river"

	"github.com/countersign/countersign/approvals"
	"github.com/countersign/countersign/internal/jobs"
	"github.com/countersign/countersign/internal/store"
	"github.com/countersign/countersign/providers"
)

type executeWorker struct {
	river.WorkerDefaults[jobs.Execute]
	e *Engine
}

// Work runs one attempt of a request's execution.
func (w *executeWorker) Work(ctx context.Context, job *river.Job[jobs.Execute]) error {
	return w.e.execute(ctx, job.Args.RequestID)
}

// NextRetry backs off an attempt that failed (the database was unreachable)
// and a job rescued from a dead replica: 1 s, doubling, at most a minute.
// River schedules on the wall clock, so this does too.
func (w *executeWorker) NextRetry(job *river.Job[jobs.Execute]) time.Time {
	d := time.Second << min(max(job.Attempt-1, 0), 6)
	return time.Now().Add(min(d, time.Minute))
}

// errJobDone ends an attempt with nothing left to do for the job: the
// request is final, or must not run.
var errJobDone = errors.New("job done")

// execute runs one attempt for request id. It returns nil when the job is
// done, a river.JobSnooze to come back later, or an error for River to
// retry with backoff.
func (e *Engine) execute(ctx context.Context, id int64) error {
	log := e.log.With("request_id", id)
	x, err := e.store.Claim(ctx, id, e.now())
	if errors.Is(err, approvals.ErrNotFound) {
		log.ErrorContext(ctx, "execution job for a request that does not exist")
		return river.JobCancel(err)
	}
	if err != nil {
		return fmt.Errorf("claiming request %d: %w", id, err)
	}
	if r := x.Request; r.State != approvals.StateRunning {
		// Cancelled, denied or expired requests never run; finished ones
		// are done. Claim moves only approved requests to running.
		log.InfoContext(ctx, "nothing to execute", "state", r.State)
		return nil
	}
	a := &attempt{e: e, x: x, log: log.With("provider", x.Request.Spec.Provider, "action", x.Request.Spec.Action)}
	if err := a.run(ctx); !errors.Is(err, errJobDone) {
		return err
	}
	return nil
}

// attempt is one run of a request's job, holding its claim.
type attempt struct {
	e   *Engine
	x   store.Execution
	p   providers.Provider
	log *slog.Logger
}

func (a *attempt) id() int64 { return a.x.Request.ID }

func (a *attempt) run(ctx context.Context) error {
	r := a.x.Request
	if r.Phase == approvals.PhaseNone && len(a.x.Submissions) == 0 {
		a.e.notify.Changed(r.ID) // running now
	}
	if a.x.InFlight {
		return a.attention(ctx, fmt.Sprintf("execution stopped while step %d was being sent to %s: it may or may not have taken effect. "+
			"Check %s before acting again; Countersign does not resend it.", a.x.Step+1, r.Spec.Provider, r.Spec.Provider))
	}
	items, err := a.e.store.Items(ctx, r.ID)
	if err != nil {
		return err
	}
	p, ok := a.e.providers.Provider(r.Spec.Provider)
	if !ok {
		reason := fmt.Sprintf("provider %s is not configured", r.Spec.Provider)
		if len(a.x.Submissions) == 0 {
			return a.failPending(ctx, items, reason+"; nothing was sent")
		}
		return a.attention(ctx, reason+": its submissions cannot be followed")
	}
	a.p = p
	if slices.ContainsFunc(items, func(it approvals.Item) bool { return it.Status == approvals.ItemPending }) {
		if a.pastDeadline() {
			reason := fmt.Sprintf("%s could not be reached within %s of approval", r.Spec.Provider, a.e.cfg.PollDeadline)
			if len(a.x.Submissions) == 0 {
				return a.failPending(ctx, items, reason+"; nothing was sent")
			}
			return a.attention(ctx, reason+"; some items were sent, the rest were not")
		}
		if err := a.submit(ctx, items); err != nil {
			return err
		}
		if items, err = a.e.store.Items(ctx, r.ID); err != nil {
			return err
		}
		if allTerminal(items) {
			return a.finish(ctx, items)
		}
		return river.JobSnooze(a.e.cfg.PollInterval)
	}
	return a.poll(ctx, items)
}

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
	size := providers.MaxItems(a.p, spec.Action)
	if size <= 0 {
		size = len(todo)
	}
	for len(todo) > 0 {
		n := min(size, len(todo))
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

// Why an approved item is not acted on.
const (
	skipGone      = "no longer resolves to the account or mailbox that was approved; nothing was sent"
	skipOther     = "now resolves to a different account than the one approved; nothing was sent"
	skipUnbound   = "was filed without a recorded identity, so what was approved cannot be verified; nothing was sent"
	skipProtected = "is protected (%s); nothing was sent"
)

// plan decides, for the items still pending, which fresh resolutions to
// send: only an item whose target resolves now to the very identity that
// was approved, and that no protected entry matches, either as approved or
// as it is now. Every other pending item is skipped with the reason. What
// the provider finds beyond the approved items is never acted on; ignored
// counts it.
func plan(items []approvals.Item, fresh []providers.Resolved, policy approvals.Policy) (todo []providers.Resolved, skips []store.ItemUpdate, ignored int) {
	found := make(map[string]providers.Resolved, len(fresh))
	for _, r := range fresh {
		found[r.Key] = r
	}
	approved := make(map[string]bool, len(items))
	for _, it := range items {
		approved[it.Key] = true
		if it.Status != approvals.ItemPending {
			continue
		}
		skip := func(detail string) {
			skips = append(skips, store.ItemUpdate{Key: it.Key, Status: approvals.ItemSkipped, Detail: detail})
		}
		r, ok := found[it.Key]
		pat, protectedNow := policy.ProtectsIdentity(r.Identity)
		if p, ok := policy.ProtectsIdentity(it.Identity); ok {
			pat, protectedNow = p, true
		}
		switch {
		case !it.Identity.Known():
			skip(skipUnbound)
		case !ok || !r.Identity.Known():
			skip(skipGone)
		case !it.Identity.Same(r.Identity):
			skip(skipOther)
		case protectedNow:
			skip(fmt.Sprintf(skipProtected, pat))
		case r.Problem != "":
			skip(r.Problem)
		default:
			todo = append(todo, r)
		}
	}
	for _, r := range fresh {
		if !approved[r.Key] {
			ignored++
		}
	}
	return todo, skips, ignored
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

// unknownReason is the note of a request that ends needs_attention because
// the outcome of some items is unknown.
func unknownReason(items []approvals.Item) string {
	counts := map[approvals.ItemStatus]int{}
	for _, it := range items {
		counts[it.Status]++
	}
	return fmt.Sprintf("%d of %d items may or may not have been performed and the provider cannot tell; each says what to check. "+
		"Countersign does not resend them. %d succeeded, %d failed, %d skipped.", counts[approvals.ItemUnknown], len(items),
		counts[approvals.ItemSucceeded], counts[approvals.ItemFailed], counts[approvals.ItemSkipped])
}

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

// update stores item changes and tells the notifier.
func (a *attempt) update(ctx context.Context, updates []store.ItemUpdate) error {
	if len(updates) == 0 {
		return nil
	}
	n, err := a.e.store.UpdateItems(ctx, a.id(), a.x.Fence, updates, a.e.now())
	if err != nil {
		return a.storeErr(ctx, err)
	}
	if n > 0 {
		a.e.notify.Changed(a.id())
	}
	return nil
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
	counts := map[approvals.ItemStatus]int{}
	for _, it := range items {
		counts[it.Status]++
	}
	reason := ""
	if outcome != approvals.StateSucceeded {
		reason = fmt.Sprintf("%d succeeded, %d failed, %d skipped", counts[approvals.ItemSucceeded], counts[approvals.ItemFailed], counts[approvals.ItemSkipped])
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

// storeErr decides what a refused store write means for the attempt.
func (a *attempt) storeErr(ctx context.Context, err error) error {
	switch {
	case errors.Is(err, approvals.ErrStaleAttempt):
		// This attempt lost its claim (it ran too long and the job was
		// rescued). Come back later; the next attempt claims afresh.
		a.log.WarnContext(ctx, "a newer attempt owns the request; leaving it", "error", err)
		return river.JobSnooze(a.e.cfg.PollInterval)
	case errors.Is(err, approvals.ErrAlreadyDecided):
		a.log.InfoContext(ctx, "the request was decided meanwhile", "error", err)
		return errJobDone
	}
	return err
}

func (a *attempt) pastDeadline() bool {
	at := a.x.Request.ApprovedAt
	return !at.IsZero() && a.e.now().Sub(at) > a.e.cfg.PollDeadline
}

// lowOnTime reports whether less than half of the attempt's time is left.
func (a *attempt) lowOnTime(ctx context.Context) bool {
	dl, ok := ctx.Deadline()
	return ok && time.Until(dl) < a.e.cfg.JobTimeout/2
}

func allTerminal(items []approvals.Item) bool {
	for _, it := range items {
		if !it.Status.Terminal() {
			return false
		}
	}
	return true
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
