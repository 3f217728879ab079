package engine

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
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
