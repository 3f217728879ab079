package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/countersign/countersign/approvals"
	"github.com/countersign/countersign/internal/audit"
	"github.com/countersign/countersign/internal/jobs"
)

const requestCols = `id, action, provider, spec, hash, requester, state, phase, approvals_required, approvers,
	denial, cancel, note, created_at, expires_at, updated_at, approved_at, finished_at, version`

// requestRow holds the columns of requests as scanned.
type requestRow struct {
	r                                 approvals.Request
	action                            string
	spec, requester, approvers        string
	denial, cancel                    string
	created, expires, updated, apprAt int64
	finished                          int64
}

func (rr *requestRow) dest() []any {
	return []any{&rr.r.ID, &rr.action, &rr.r.Spec.Provider, &rr.spec, &rr.r.Hash, &rr.requester, &rr.r.State,
		&rr.r.Phase, &rr.r.ApprovalsRequired, &rr.approvers, &rr.denial, &rr.cancel, &rr.r.Note,
		&rr.created, &rr.expires, &rr.updated, &rr.apprAt, &rr.finished, &rr.r.Version}
}

func (rr *requestRow) request() (approvals.Request, error) {
	r := rr.r
	if err := json.Unmarshal([]byte(rr.spec), &r.Spec); err != nil {
		return r, fmt.Errorf("decoding spec of request %d: %w", r.ID, err)
	}
	if err := json.Unmarshal([]byte(rr.requester), &r.Requester); err != nil {
		return r, fmt.Errorf("decoding requester of request %d: %w", r.ID, err)
	}
	if err := json.Unmarshal([]byte(rr.approvers), &r.Approvers); err != nil {
		return r, fmt.Errorf("decoding approvers of request %d: %w", r.ID, err)
	}
	for _, d := range []struct {
		raw string
		dst **approvals.Decision
	}{{rr.denial, &r.Denial}, {rr.cancel, &r.Cancel}} {
		if d.raw == "" {
			continue
		}
		var dec approvals.Decision
		if err := json.Unmarshal([]byte(d.raw), &dec); err != nil {
			return r, fmt.Errorf("decoding decision of request %d: %w", r.ID, err)
		}
		*d.dst = &dec
	}
	r.CreatedAt, r.ExpiresAt, r.UpdatedAt = fromMicros(rr.created), fromMicros(rr.expires), fromMicros(rr.updated)
	r.ApprovedAt, r.FinishedAt = fromMicros(rr.apprAt), fromMicros(rr.finished)
	return r, nil
}

func micros(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMicro()
}

func fromMicros(us int64) time.Time {
	if us == 0 {
		return time.Time{}
	}
	return time.UnixMicro(us).UTC()
}

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("store: encoding %T: %v", v, err)) // only plain structs reach here
	}
	return string(b)
}

func decisionJSON(d *approvals.Decision) string {
	if d == nil {
		return ""
	}
	return mustJSON(d)
}

// Create stores a new pending request (from approvals.Policy.File) and the
// items of its preview, and audits "requested", in one transaction.
func (s *Store) Create(ctx context.Context, r approvals.Request, items []approvals.Item) (approvals.Request, error) {
	if r.State != approvals.StatePending {
		return r, fmt.Errorf("%w: a new request must be pending, not %s", approvals.ErrInvalidTransition, r.State)
	}
	if r.Hash != approvals.ContentHash(r.Spec, items) {
		return r, fmt.Errorf("%w: hash does not cover the spec and these items", approvals.ErrHashMismatch)
	}
	err := s.inTx(ctx, func(t txn) error {
		err := t.queryRow(ctx, `INSERT INTO requests (action, provider, spec, hash, requester, requester_person, state,
			phase, approvals_required, approvers, created_at, expires_at, updated_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) RETURNING id`,
			string(r.Spec.Action), r.Spec.Provider, mustJSON(r.Spec), r.Hash, mustJSON(r.Requester), r.Requester.Person,
			string(r.State), string(r.Phase), r.ApprovalsRequired, mustJSON(r.Approvers),
			micros(r.CreatedAt), micros(r.ExpiresAt), micros(r.UpdatedAt)).Scan(&r.ID)
		if err != nil {
			return fmt.Errorf("inserting request: %w", err)
		}
		for i, it := range items {
			if it.Status == "" {
				it.Status = approvals.ItemPending
			}
			if _, err := t.exec(ctx, `INSERT INTO items (request_id, idx, key, target, display, before, status, detail, ref, updated_at, identity)
				VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
				r.ID, i, it.Key, it.Target, it.Display, it.Before, string(it.Status), it.Detail, it.Ref, micros(r.CreatedAt),
				mustJSON(it.Identity.Normalize())); err != nil {
				return fmt.Errorf("inserting item %q: %w", it.Key, err)
			}
		}
		return s.appendAudit(ctx, t, audit.Entry{
			At: r.CreatedAt, RequestID: r.ID, Kind: "requested", Actor: r.Requester.Person,
			Detail: detail(map[string]any{
				"spec": r.Spec, "hash": r.Hash, "requester": r.Requester, "approvals_required": r.ApprovalsRequired,
				"approvers": r.Approvers, "expires_at": r.ExpiresAt, "items": len(items), "identities": identities(items),
			}),
		})
	})
	return r, err
}

// identities lists, for the audit log, the identity each item is bound to.
func identities(items []approvals.Item) []map[string]any {
	out := make([]map[string]any, 0, len(items))
	for _, it := range items {
		id := it.Identity.Normalize()
		out = append(out, map[string]any{"key": it.Key, "id": id.ID, "accounts": id.Accounts})
	}
	return out
}

// Get returns a request with its approvals.
func (s *Store) Get(ctx context.Context, id int64) (approvals.Request, error) {
	return s.get(ctx, s.q(), id)
}

func (s *Store) get(ctx context.Context, q querier, id int64) (approvals.Request, error) {
	var rr requestRow
	if err := q.queryRow(ctx, `SELECT `+requestCols+` FROM requests WHERE id = $1`, id).Scan(rr.dest()...); err != nil {
		if isNoRows(err) {
			return approvals.Request{}, fmt.Errorf("request %d: %w", id, approvals.ErrNotFound)
		}
		return approvals.Request{}, fmt.Errorf("reading request %d: %w", id, err)
	}
	return s.withApprovals(ctx, q, rr)
}

// lock takes the request's row lock before anything else in the
// transaction (DESIGN §5.1) and returns the row as it is now. On
// PostgreSQL under READ COMMITTED this is what serialises two approvers
// clicking at once; on SQLite the immediate transaction already does.
func (s *Store) lock(ctx context.Context, t txn, id int64) (approvals.Request, error) {
	var rr requestRow
	err := t.queryRow(ctx, `UPDATE requests SET version = version + 1 WHERE id = $1 RETURNING `+requestCols, id).Scan(rr.dest()...)
	if err != nil {
		if isNoRows(err) {
			return approvals.Request{}, fmt.Errorf("request %d: %w", id, approvals.ErrNotFound)
		}
		return approvals.Request{}, fmt.Errorf("locking request %d: %w", id, err)
	}
	return s.withApprovals(ctx, t, rr)
}

func (s *Store) withApprovals(ctx context.Context, q querier, rr requestRow) (approvals.Request, error) {
	r, err := rr.request()
	if err != nil {
		return r, err
	}
	r.Approvals, err = collect(ctx, q, fmt.Sprintf("reading approvals of request %d", r.ID),
		func(row scanner) (approvals.Decision, error) { return scanDecision(row) },
		`SELECT actor, at FROM approvals WHERE request_id = $1 ORDER BY pos`, r.ID)
	return r, err
}

// Apply applies one event to a request in a lock-first transaction: lock
// the row, run approvals.Transition, write the result, record a new
// approval, enqueue execution when the request becomes approved, and append
// exactly one audit entry. An approval or denial that arrives after the TTL
// expires the request instead and returns approvals.ErrExpired.
func (s *Store) Apply(ctx context.Context, id int64, ev approvals.Event, now time.Time) (approvals.Request, error) {
	var out approvals.Request
	var expiredErr error
	err := s.inTx(ctx, func(t txn) error {
		r, err := s.lock(ctx, t, id)
		if err != nil {
			return err
		}
		next, err := approvals.Transition(r, ev, now)
		if errors.Is(err, approvals.ErrExpired) {
			// Record the expiry the click discovered; the caller still
			// gets ErrExpired.
			expiredErr = err
			ev = approvals.Event{Kind: approvals.EventExpire}
			next, err = approvals.Transition(r, ev, now)
		}
		if err != nil {
			return err
		}
		if err := s.write(ctx, t, r, next, ev, now); err != nil {
			return err
		}
		out = next
		return nil
	})
	if err != nil {
		return approvals.Request{}, err
	}
	return out, expiredErr
}

// write stores next (the result of an event on r, which is locked), its
// new approval if any, the execution job when it became approved, and the
// event's audit entry.
func (s *Store) write(ctx context.Context, t txn, r, next approvals.Request, ev approvals.Event, now time.Time) error {
	return s.writeWith(ctx, t, r, next, ev, now, nil)
}

// writeWith is write with extra facts for the audit entry.
func (s *Store) writeWith(ctx context.Context, t txn, r, next approvals.Request, ev approvals.Event, now time.Time, extra map[string]any) error {
	n, err := t.exec(ctx, `UPDATE requests SET state = $2, phase = $3, denial = $4, cancel = $5, note = $6,
		updated_at = $7, approved_at = $8, finished_at = $9 WHERE id = $1 AND version = $10`,
		r.ID, string(next.State), string(next.Phase), decisionJSON(next.Denial), decisionJSON(next.Cancel), next.Note,
		micros(next.UpdatedAt), micros(next.ApprovedAt), micros(next.FinishedAt), r.Version)
	if err != nil {
		return fmt.Errorf("updating request %d: %w", r.ID, err)
	}
	if n != 1 {
		return fmt.Errorf("updating request %d: row changed under its lock", r.ID)
	}
	if len(next.Approvals) > len(r.Approvals) {
		d := next.Approvals[len(next.Approvals)-1]
		if _, err := t.exec(ctx, `INSERT INTO approvals (request_id, person, pos, actor, at) VALUES ($1, $2, $3, $4, $5)`,
			r.ID, d.Actor.Person, len(r.Approvals), mustJSON(d.Actor), micros(d.At)); err != nil {
			return fmt.Errorf("recording approval of request %d: %w", r.ID, err)
		}
	}
	if next.State == approvals.StateApproved && r.State != approvals.StateApproved {
		if err := t.insertJob(ctx, jobs.Execute{RequestID: r.ID}); err != nil {
			return err
		}
	}
	d := map[string]any{"from": describeState(r), "to": describeState(next)}
	for k, v := range extra {
		d[k] = v
	}
	if ev.Reason != "" {
		d["reason"] = ev.Reason
	}
	switch ev.Kind {
	case approvals.EventApprove:
		d["hash"] = r.Hash
		d["approvals"] = len(next.Approvals)
		d["required"] = next.ApprovalsRequired
	case approvals.EventDeny:
		d["hash"] = r.Hash
	case approvals.EventCancel:
		d["admin"] = ev.Admin && ev.Actor.Person != r.Requester.Person
	}
	if ev.Actor.Person != "" {
		d["account"] = ev.Actor.Platform + ":" + ev.Actor.Account
	}
	return s.appendAudit(ctx, t, audit.Entry{
		At: now, RequestID: r.ID, Kind: string(ev.Kind), Actor: actorOf(ev), Detail: detail(d),
	})
}

func describeState(r approvals.Request) string {
	if r.Phase != approvals.PhaseNone {
		return string(r.State) + "/" + string(r.Phase)
	}
	return string(r.State)
}

// scanDecision reads an approval's actor and time, after the columns
// scanned into lead.
func scanDecision(row scanner, lead ...any) (approvals.Decision, error) {
	var actor string
	var at int64
	if err := row.Scan(append(lead, &actor, &at)...); err != nil {
		return approvals.Decision{}, err
	}
	d := approvals.Decision{At: fromMicros(at)}
	if err := json.Unmarshal([]byte(actor), &d.Actor); err != nil {
		return d, fmt.Errorf("decoding approval: %w", err)
	}
	return d, nil
}

func actorOf(ev approvals.Event) string {
	if ev.Actor.Person != "" {
		return ev.Actor.Person
	}
	return "system"
}

func detail(v any) json.RawMessage { return json.RawMessage(mustJSON(v)) }

// Items returns the items of a request in preview order.
func (s *Store) Items(ctx context.Context, id int64) ([]approvals.Item, error) {
	return s.items(ctx, s.q(), id)
}

func (s *Store) items(ctx context.Context, q querier, id int64) ([]approvals.Item, error) {
	n := 0 // the item's place, to name it without its key
	return collect(ctx, q, fmt.Sprintf("reading items of request %d", id), func(row scanner) (approvals.Item, error) {
		var it approvals.Item
		var status string
		var updated int64
		var identity string
		if err := row.Scan(&it.Key, &it.Target, &it.Display, &it.Before, &status, &it.Detail, &it.Ref, &updated, &identity); err != nil {
			return it, err
		}
		if err := json.Unmarshal([]byte(identity), &it.Identity); err != nil {
			return it, fmt.Errorf("decoding identity of item %d: %w", n, err)
		}
		n++
		it.Status, it.Updated = approvals.ItemStatus(status), fromMicros(updated)
		return it, nil
	}, `SELECT key, target, display, before, status, detail, ref, updated_at, identity
		FROM items WHERE request_id = $1 ORDER BY idx`, id)
}

// List returns the requests matching f, with their approvals.
func (s *Store) List(ctx context.Context, f approvals.Filter) ([]approvals.Request, error) {
	var where []string
	var args []any
	arg := func(v any) string {
		args = append(args, v)
		return fmt.Sprintf("$%d", len(args))
	}
	if len(f.States) > 0 {
		ph := make([]string, len(f.States))
		for i, st := range f.States {
			ph[i] = arg(string(st))
		}
		where = append(where, "state IN ("+strings.Join(ph, ", ")+")")
	}
	if !f.CreatedSince.IsZero() {
		where = append(where, "created_at >= "+arg(micros(f.CreatedSince)))
	}
	if !f.CreatedBefore.IsZero() {
		where = append(where, "created_at < "+arg(micros(f.CreatedBefore)))
	}
	if !f.UpdatedSince.IsZero() {
		where = append(where, "updated_at >= "+arg(micros(f.UpdatedSince)))
	}
	if f.Requester != "" {
		where = append(where, "requester_person = "+arg(f.Requester))
	}
	cond := ""
	if len(where) > 0 {
		cond = " WHERE " + strings.Join(where, " AND ")
	}
	order := " ORDER BY id"
	if f.Newest {
		order = " ORDER BY id DESC"
	}
	limit := ""
	if f.Limit > 0 {
		limit = " LIMIT " + arg(f.Limit)
	}
	q := s.q()
	out, err := collect(ctx, q, "listing requests", func(row scanner) (approvals.Request, error) {
		var rr requestRow
		if err := row.Scan(rr.dest()...); err != nil {
			return approvals.Request{}, err
		}
		return rr.request()
	}, `SELECT `+requestCols+` FROM requests`+cond+order+limit, args...)
	if err != nil || len(out) == 0 {
		return out, err
	}
	index := make(map[int64]int, len(out))
	for i, r := range out {
		index[r.ID] = i
	}
	// One query for the approvals of every listed request.
	type approval struct {
		id int64
		d  approvals.Decision
	}
	as, err := collect(ctx, q, "listing approvals", func(row scanner) (approval, error) {
		var a approval
		var err error
		a.d, err = scanDecision(row, &a.id)
		return a, err
	}, `SELECT request_id, actor, at FROM approvals WHERE request_id IN (SELECT id FROM requests`+cond+order+limit+`) ORDER BY request_id, pos`, args...)
	if err != nil {
		return nil, err
	}
	for _, a := range as {
		if i, ok := index[a.id]; ok {
			out[i].Approvals = append(out[i].Approvals, a.d)
		}
	}
	return out, nil
}

// DueForExpiry returns the ids of pending requests whose TTL has passed.
func (s *Store) DueForExpiry(ctx context.Context, now time.Time, limit int) ([]int64, error) {
	return collect(ctx, s.q(), "finding expired requests", func(row scanner) (int64, error) {
		var id int64
		return id, row.Scan(&id)
	}, `SELECT id FROM requests WHERE state = $1 AND expires_at <= $2 ORDER BY expires_at LIMIT $3`,
		string(approvals.StatePending), micros(now), limit)
}
