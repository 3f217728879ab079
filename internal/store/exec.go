package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/countersign/countersign/approvals"
	"github.com/countersign/countersign/internal/audit"
)

// Execution is a request as the engine sees it after claiming it.
type Execution struct {
	Request approvals.Request
	// Fence is this claim's token. Every later write passes it and is
	// refused with approvals.ErrStaleAttempt once a newer claim exists, so
	// a worker that lost the job (a paused replica) cannot write.
	Fence int64
	// Step is the submission step in flight, or the next one to make.
	Step int
	// InFlight is set when the provider call of Step may have been made but
	// its result was never recorded: a crash inside the submit window. The
	// engine must not call again; the request needs a human.
	InFlight bool
	// Submissions holds the recorded provider submissions by step, as the
	// engine stored them.
	Submissions map[int][]byte
}

// Claim takes ownership of a request's execution with a new fence. An
// approved request is moved to running (audited); a request in any other
// state is returned as it is for the engine to decide.
func (s *Store) Claim(ctx context.Context, id int64, now time.Time) (Execution, error) {
	var x Execution
	err := s.inTx(ctx, func(t txn) error {
		r, err := s.lock(ctx, t, id)
		if err != nil {
			return err
		}
		var inflight int
		if err := t.queryRow(ctx, `UPDATE requests SET exec_fence = exec_fence + 1 WHERE id = $1 RETURNING exec_fence, submit_step, inflight`, id).
			Scan(&x.Fence, &x.Step, &inflight); err != nil {
			return fmt.Errorf("fencing request %d: %w", id, err)
		}
		if r.State == approvals.StateApproved {
			ev := approvals.Event{Kind: approvals.EventStart}
			next, err := approvals.Transition(r, ev, now)
			if err != nil {
				return err
			}
			if err := s.write(ctx, t, r, next, ev, now); err != nil {
				return err
			}
			r = next
		}
		x.Request = r
		x.InFlight = inflight == 1
		x.Submissions, err = s.submissions(ctx, t, id)
		return err
	})
	return x, err
}

// stepState is the submission cursor of a locked request.
type stepState struct {
	step     int
	inflight bool
}

// fenced locks the request for a write by the holder of fence.
func (s *Store) fenced(ctx context.Context, t txn, id, fence int64) (approvals.Request, stepState, error) {
	var st stepState
	r, err := s.lock(ctx, t, id)
	if err != nil {
		return r, st, err
	}
	var current int64
	var inflight int
	if err := t.queryRow(ctx, `SELECT exec_fence, submit_step, inflight FROM requests WHERE id = $1`, id).Scan(&current, &st.step, &inflight); err != nil {
		return r, st, fmt.Errorf("reading fence of request %d: %w", id, err)
	}
	if current != fence {
		return r, st, fmt.Errorf("request %d: fence %d, current %d: %w", id, fence, current, approvals.ErrStaleAttempt)
	}
	st.inflight = inflight == 1
	return r, st, nil
}

// errStep refuses a step operation out of order.
func errStep(id int64, op string, step int, st stepState) error {
	return fmt.Errorf("%w: request %d: %s step %d while the cursor is at %d (in flight: %v)",
		approvals.ErrInvalidTransition, id, op, step, st.step, st.inflight)
}

func (s *Store) submissions(ctx context.Context, q querier, id int64) (map[int][]byte, error) {
	type submission struct {
		step int
		body string
	}
	subs, err := collect(ctx, q, fmt.Sprintf("reading submissions of request %d", id), func(row scanner) (submission, error) {
		var sub submission
		return sub, row.Scan(&sub.step, &sub.body)
	}, `SELECT step, body FROM submissions WHERE request_id = $1`, id)
	if err != nil {
		return nil, err
	}
	out := make(map[int][]byte, len(subs))
	for _, sub := range subs {
		out[sub.step] = []byte(sub.body)
	}
	return out, nil
}

// MarkSubmitting records, before the provider call of step is made, that
// it may be in flight. step must be the cursor's next step.
func (s *Store) MarkSubmitting(ctx context.Context, id, fence int64, step int, now time.Time) error {
	return s.inTx(ctx, func(t txn) error {
		r, st, err := s.fenced(ctx, t, id, fence)
		if err != nil {
			return err
		}
		ev := approvals.Event{Kind: approvals.EventSubmitting}
		next, err := approvals.Transition(r, ev, now)
		if err != nil {
			return err
		}
		if st.inflight || step != st.step {
			return errStep(id, "marking", step, st)
		}
		if _, err := t.exec(ctx, `UPDATE requests SET inflight = 1 WHERE id = $1`, id); err != nil {
			return fmt.Errorf("marking step of request %d in flight: %w", id, err)
		}
		return s.writeWith(ctx, t, r, next, ev, now, map[string]any{"step": step})
	})
}

// ReleaseStep records that the provider refused the call of step without
// acting on it (throttled, unavailable): nothing is in flight, and the step
// may be made again later.
func (s *Store) ReleaseStep(ctx context.Context, id, fence int64, step int, cause string, now time.Time) error {
	return s.inTx(ctx, func(t txn) error {
		_, st, err := s.fenced(ctx, t, id, fence)
		if err != nil {
			return err
		}
		if !st.inflight || step != st.step {
			return errStep(id, "releasing", step, st)
		}
		if _, err := t.exec(ctx, `UPDATE requests SET inflight = 0 WHERE id = $1`, id); err != nil {
			return fmt.Errorf("releasing step of request %d: %w", id, err)
		}
		return s.appendAudit(ctx, t, audit.Entry{At: now, RequestID: id, Kind: "not_sent", Actor: "system",
			Detail: detail(map[string]any{"step": step, "cause": cause})})
	})
}

// Submitted is the outcome of one provider call, to record.
type Submitted struct {
	Step int
	Body []byte // the provider submission, as JSON; empty when Failed
	// Items maps the key of every item the call carried to the provider's
	// reference for it.
	Items map[string]string
	// Failed, when set, says why the provider definitely refused the call:
	// nothing was done and its items fail with this cause.
	Failed string
	// Unknown maps the keys of items the call may or may not have acted
	// on, and the provider cannot tell, to what a person should check. They
	// become unknown in the same transaction, so none is ever sent again.
	Unknown map[string]string
	// Uncertain, when set, says why the call's outcome was uncertain (the
	// provider's answer); Body and Unknown are then what the provider
	// showed when asked afterwards.
	Uncertain string
	Last      bool   // no more steps: the request moves to submitted
	Provider  string // for the audit entry
	ID        string // provider batch or bulk id, for the audit entry
}

// RecordSubmission stores the outcome of the in-flight step in one
// transaction with the step cursor and the status of its items.
func (s *Store) RecordSubmission(ctx context.Context, id, fence int64, sub Submitted, now time.Time) error {
	return s.inTx(ctx, func(t txn) error {
		r, st, err := s.fenced(ctx, t, id, fence)
		if err != nil {
			return err
		}
		if r.State != approvals.StateRunning || r.Phase != approvals.PhaseSubmitting {
			return fmt.Errorf("%w: recording a submission while %s", approvals.ErrInvalidTransition, describeState(r))
		}
		if !st.inflight || sub.Step != st.step {
			return errStep(id, "recording", sub.Step, st)
		}
		if _, err := t.exec(ctx, `INSERT INTO submissions (request_id, step, fence, body, created_at) VALUES ($1, $2, $3, $4, $5)`,
			id, sub.Step, fence, string(sub.Body), micros(now)); err != nil {
			return fmt.Errorf("recording submission of request %d: %w", id, err)
		}
		if _, err := t.exec(ctx, `UPDATE requests SET submit_step = $2, inflight = 0 WHERE id = $1`, id, sub.Step+1); err != nil {
			return fmt.Errorf("advancing step of request %d: %w", id, err)
		}
		status, detailText := approvals.ItemSubmitted, ""
		if sub.Failed != "" {
			status, detailText = approvals.ItemFailed, sub.Failed
		}
		mark := func(key string, status approvals.ItemStatus, ref, detailText string) error {
			n, err := t.exec(ctx, `UPDATE items SET status = $3, ref = $4, detail = $5, updated_at = $6 WHERE request_id = $1 AND key = $2`,
				id, key, string(status), ref, detailText, micros(now))
			if err != nil {
				return fmt.Errorf("marking item %q %s: %w", key, status, err)
			}
			if n != 1 {
				return fmt.Errorf("request %d has no item %q", id, key)
			}
			return nil
		}
		for key, ref := range sub.Items {
			if err := mark(key, status, ref, detailText); err != nil {
				return err
			}
		}
		for key, note := range sub.Unknown {
			if _, both := sub.Items[key]; both {
				return fmt.Errorf("request %d: item %q is both submitted and unknown", id, key)
			}
			if err := mark(key, approvals.ItemUnknown, "", note); err != nil {
				return err
			}
		}
		d := map[string]any{"step": sub.Step, "provider": sub.Provider, "provider_id": sub.ID, "items": len(sub.Items)}
		if sub.Failed != "" {
			d["failed"] = sub.Failed
		}
		if sub.Uncertain != "" {
			d["uncertain"] = sub.Uncertain
		}
		if len(sub.Unknown) > 0 {
			d["unknown"] = len(sub.Unknown)
		}
		if !sub.Last {
			return s.appendAudit(ctx, t, audit.Entry{At: now, RequestID: id, Kind: "submission", Actor: "system", Detail: detail(d)})
		}
		ev := approvals.Event{Kind: approvals.EventSubmitted}
		next, err := approvals.Transition(r, ev, now)
		if err != nil {
			return err
		}
		return s.writeWith(ctx, t, r, next, ev, now, d)
	})
}

// ItemUpdate is a new status for one item.
type ItemUpdate struct {
	Key    string
	Status approvals.ItemStatus
	Detail string
	Ref    string // kept when empty
}

// UpdateItems stores item statuses that changed and audits them in one
// entry. It returns how many items changed.
func (s *Store) UpdateItems(ctx context.Context, id, fence int64, updates []ItemUpdate, now time.Time) (int, error) {
	changed := 0
	err := s.inTx(ctx, func(t txn) error {
		if _, _, err := s.fenced(ctx, t, id, fence); err != nil {
			return err
		}
		current, err := s.items(ctx, t, id)
		if err != nil {
			return err
		}
		byKey := make(map[string]approvals.Item, len(current))
		for _, it := range current {
			byKey[it.Key] = it
		}
		var log []map[string]string
		for _, u := range updates {
			it, ok := byKey[u.Key]
			if !ok {
				return fmt.Errorf("request %d has no item %q", id, u.Key)
			}
			ref := it.Ref
			if u.Ref != "" {
				ref = u.Ref
			}
			// A terminal item keeps its outcome: providers re-report it.
			if it.Status.Terminal() || (it.Status == u.Status && it.Detail == u.Detail && it.Ref == ref) {
				continue
			}
			if _, err := t.exec(ctx, `UPDATE items SET status = $3, detail = $4, ref = $5, updated_at = $6 WHERE request_id = $1 AND key = $2`,
				id, u.Key, string(u.Status), u.Detail, ref, micros(now)); err != nil {
				return fmt.Errorf("updating item %q: %w", u.Key, err)
			}
			changed++
			log = append(log, map[string]string{"key": u.Key, "status": string(u.Status), "detail": u.Detail, "ref": ref})
		}
		if changed == 0 {
			return errNoChange
		}
		return s.appendAudit(ctx, t, audit.Entry{At: now, RequestID: id, Kind: "progress", Actor: "system", Detail: detail(map[string]any{"items": log})})
	})
	if errors.Is(err, errNoChange) {
		return 0, nil
	}
	return changed, err
}

// errNoChange rolls back a transaction that would only bump a version.
var errNoChange = errors.New("no change")

// Finish moves a running request to its final state (EventFinish) or to
// needs_attention (EventAttention).
func (s *Store) Finish(ctx context.Context, id, fence int64, ev approvals.Event, now time.Time) (approvals.Request, error) {
	if ev.Kind != approvals.EventFinish && ev.Kind != approvals.EventAttention {
		return approvals.Request{}, fmt.Errorf("%w: Finish takes finish or attention, not %s", approvals.ErrInvalidTransition, ev.Kind)
	}
	var out approvals.Request
	err := s.inTx(ctx, func(t txn) error {
		r, _, err := s.fenced(ctx, t, id, fence)
		if err != nil {
			return err
		}
		next, err := approvals.Transition(r, ev, now)
		if err != nil {
			return err
		}
		out = next
		return s.write(ctx, t, r, next, ev, now)
	})
	return out, err
}
