// Package digest builds the scheduled digest of the actions Countersign
// took: what was filed, decided and run in a window of time, what is still
// waiting, and what went wrong. Build reads the store once per window;
// Message renders the digest for Slack and Discord within their limits, and
// Text renders the full plain-text report for the CLI. Job wires Build and a
// chat post into the engine's leader-only "digest" periodic job.
//
// What a digest counts is chosen by the audit log: an event (a request
// filed, approved, denied, cancelled, expired or finished) is in the digest
// whose window holds its audit entry (see Window), so events committed late
// are counted by the next digest instead of by none.
package digest

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/countersign/countersign/approvals"
	"github.com/countersign/countersign/internal/audit"
)

// Source is what Build and Job read; *store.Store implements it.
type Source interface {
	List(ctx context.Context, f approvals.Filter) ([]approvals.Request, error)
	AuditEntries(ctx context.Context, w audit.Window) ([]audit.Entry, error)
	AuditHead(ctx context.Context) (seq int64, hash string, err error)
}

// Window is what a digest covers: the events stamped before To whose audit
// entries were committed by the time the head of the log read Through,
// less those the digest before covered: the ones stamped before From and
// committed by the time it read After. The scheduled digests chain their
// windows (From and After are the To and Through of the digest before), so
// each event is in exactly one of them; one stamped before From that
// committed after the digest before read the log is counted here, as late.
//
// With After = Through, a window holds the events stamped in [From, To)
// that were committed when the head read Through, as an ad-hoc digest
// wants.
type Window struct {
	From, To       time.Time
	After, Through int64
}

// Committed returns the window [From, To) of the events committed now, as
// an ad-hoc digest wants it: After and Through are src's audit head.
func Committed(ctx context.Context, src Source, from, to time.Time) (Window, error) {
	head, _, err := src.AuditHead(ctx)
	if err != nil {
		return Window{}, fmt.Errorf("reading the audit head: %w", err)
	}
	return Window{From: from, To: to, After: head, Through: head}, nil
}

// eventKinds are the audit kinds of the events a digest counts, as the
// store writes them.
var eventKinds = []string{string(requested), string(approvals.EventApprove), string(approvals.EventDeny),
	string(approvals.EventCancel), string(approvals.EventExpire), string(approvals.EventFinish), string(approvals.EventAttention)}

// Digest is what happened in its window (see Window), nominally [From, To):
// every request that was filed, approved, denied, cancelled, expired or
// finished in it, and every request still pending at To. States are as
// Build found them.
type Digest struct {
	From     time.Time `json:"from"`
	To       time.Time `json:"to"`
	Location string    `json:"location"` // IANA name of the time zone days and times are shown in
	// AfterSeq and ThroughSeq are the audit sequence bounds of the window
	// (Window.After and Window.Through).
	AfterSeq   int64 `json:"afterSeq"`
	ThroughSeq int64 `json:"throughSeq"`
	// Late counts the events in the digest stamped before From: they were
	// committed after the digest before this one read the log.
	Late int `json:"late,omitempty"`

	// Total counts the requests in the window; Filed those of them
	// created in it.
	Total int `json:"total"`
	Filed int `json:"filed"`

	ByAction   []Count `json:"byAction"`   // requests in the window per action, most first
	ByProvider []Count `json:"byProvider"` // requests in the window per provider, most first
	ByOutcome  []Count `json:"byOutcome"`  // requests in the window per current state, in approvals.States order

	// Problems are the failed, partially failed and needs-attention
	// requests that finished in the window, with their cause.
	Problems []Entry `json:"problems"`
	// Pending are all requests pending at To, oldest first, with their age
	// at To.
	Pending []Entry `json:"pending"`
	// Denied, Expired and Cancelled are the requests that ended so in the
	// window, in the order they did.
	Denied    []Entry `json:"denied"`
	Expired   []Entry `json:"expired"`
	Cancelled []Entry `json:"cancelled"`

	// ToApproval is the time from filing to approval of the requests
	// approved in the window; ToCompletion the time from approval to the
	// end of the run of those that finished running in it.
	ToApproval   Timing `json:"toApproval"`
	ToCompletion Timing `json:"toCompletion"`

	TopRequesters []Count `json:"topRequesters"` // people who filed the most requests in the window, at most TopPeople
	TopApprovers  []Count `json:"topApprovers"`  // people who gave the most approvals in the window, at most TopPeople

	// Days counts the requests filed on each calendar day (in Location)
	// that the window touches, from the earliest late one's, in order.
	Days []Day `json:"days"`

	loc *time.Location
}

// Count is a number of requests (or approvals) for one key.
type Count struct {
	Key   string `json:"key"`
	Count int    `json:"count"`
}

// Timing is the median of a set of durations.
type Timing struct {
	Median time.Duration `json:"medianNs"`
	Of     int           `json:"of"` // how many durations; 0 means no median
}

// Day is the number of requests filed on one calendar day.
type Day struct {
	Date  string `json:"date"` // 2006-01-02 in Location
	Filed int    `json:"filed"`
}

// Entry is one request listed in the digest. Strings are plain text with
// control characters removed, not yet cut to length.
type Entry struct {
	ID        int64            `json:"id"`
	Action    approvals.Action `json:"action"`
	Provider  string           `json:"provider"`
	Targets   []string         `json:"targets"`     // the first MaxTargets targets
	NTargets  int              `json:"targetCount"` // all targets
	Requester string           `json:"requester"`
	State     approvals.State  `json:"state"`
	// At is when the request reached State: finished, denied, cancelled or
	// expired; for pending requests, when it was filed.
	At time.Time `json:"at"`
	// Age is how long a pending request had waited at To.
	Age time.Duration `json:"ageNs,omitempty"`
	// By is who denied or cancelled it.
	By string `json:"by,omitempty"`
	// Reason is the denial or cancellation reason, or the cause of a
	// failure (Request.Note).
	Reason string `json:"reason,omitempty"`
	// Waiting lists who may still approve a pending request.
	Waiting []string `json:"waiting,omitempty"`
}

// Limits of what a Digest keeps.
const (
	TopPeople  = 5 // entries of TopRequesters and TopApprovers
	MaxTargets = 3 // targets kept per Entry
	// maxDays bounds the days of a window, so a mistaken from cannot
	// build millions of rows.
	maxDays = 3660
)

// ErrWindow is returned by Build for an empty, reversed or unbounded window.
var ErrWindow = errors.New("digest: the window must have from < to, both set, at most ten years apart")

// Build reads the requests of window w from src and summarises them,
// showing days and times in loc (nil: UTC).
func Build(ctx context.Context, src Source, w Window, loc *time.Location) (Digest, error) {
	if loc == nil {
		loc = time.UTC
	}
	from, to := w.From, w.To
	if from.IsZero() || to.IsZero() || !from.Before(to) || to.Sub(from) > maxDays*24*time.Hour {
		return Digest{}, fmt.Errorf("%w: [%s, %s)", ErrWindow, from.Format(time.RFC3339), to.Format(time.RFC3339))
	}
	entries, err := src.AuditEntries(ctx, audit.Window{From: from, To: to, After: w.After, Through: w.Through, Kinds: eventKinds})
	if err != nil {
		return Digest{}, fmt.Errorf("reading the audit log of the window: %w", err)
	}
	events := make(map[event]bool, len(entries))
	earliest, late := from, 0
	for _, e := range entries {
		events[event{e.RequestID, e.Kind, e.At.UnixMicro()}] = true
		if e.At.Before(from) {
			late++
			if e.At.Before(earliest) {
				earliest = e.At
			}
		}
	}
	// A request's last change is at or after its last event in the window.
	changed, err := src.List(ctx, approvals.Filter{UpdatedSince: earliest})
	if err != nil {
		return Digest{}, fmt.Errorf("listing requests changed since %s: %w", earliest.Format(time.RFC3339), err)
	}
	pending, err := src.List(ctx, approvals.Filter{States: []approvals.State{approvals.StatePending}})
	if err != nil {
		return Digest{}, fmt.Errorf("listing pending requests: %w", err)
	}
	b := newBuilder(from, to, earliest, loc, events)
	b.d.AfterSeq, b.d.ThroughSeq, b.d.Late = w.After, w.Through, late
	seenPending := make(map[int64]bool, len(pending))
	for _, r := range pending {
		if r.CreatedAt.Before(to) {
			seenPending[r.ID] = true
			b.d.Pending = append(b.d.Pending, b.pendingEntry(r))
		}
	}
	for _, r := range changed {
		// Decided since To, but pending at To.
		if !seenPending[r.ID] && r.CreatedAt.Before(to) && !r.CreatedAt.IsZero() {
			if left, ok := leftPending(r); ok && !left.Before(to) {
				seenPending[r.ID] = true
				b.d.Pending = append(b.d.Pending, b.pendingEntry(r))
			}
		}
		b.add(r)
	}
	return b.finish(), nil
}

// event is an audit entry in the window: what happened to which request
// when (Unix microseconds, as stored).
type event struct {
	requestID int64
	kind      string
	at        int64
}

// leftPending returns when r stopped being pending, if it has.
func leftPending(r approvals.Request) (time.Time, bool) {
	switch {
	case !r.ApprovedAt.IsZero():
		return r.ApprovedAt, true
	case r.Denial != nil:
		return r.Denial.At, true
	case r.Cancel != nil:
		return r.Cancel.At, true
	case r.State == approvals.StateExpired:
		return r.UpdatedAt, true
	}
	return time.Time{}, false
}

// builder accumulates a Digest.
type builder struct {
	d                     Digest
	from, to              time.Time
	events                map[event]bool
	actions, providers    map[string]int
	outcomes              map[approvals.State]int
	requesters, approvers map[string]int
	toApproval, toFinish  []time.Duration
	days                  []time.Time // midnights in loc, the last one after to
}

// newBuilder starts the digest of [from, to) with the events of its
// window, whose days start on the day of firstDay.
func newBuilder(from, to, firstDay time.Time, loc *time.Location, events map[event]bool) *builder {
	b := &builder{
		d:    Digest{From: from, To: to, Location: loc.String(), loc: loc},
		from: from, to: to, events: events,
		actions: map[string]int{}, providers: map[string]int{}, outcomes: map[approvals.State]int{},
		requesters: map[string]int{}, approvers: map[string]int{},
	}
	f := firstDay.In(loc)
	day := time.Date(f.Year(), f.Month(), f.Day(), 0, 0, 0, 0, loc)
	for day.Before(to) {
		b.days = append(b.days, day)
		b.d.Days = append(b.d.Days, Day{Date: day.Format(time.DateOnly)})
		day = day.AddDate(0, 0, 1)
	}
	b.days = append(b.days, day)
	return b
}

// in reports whether the window holds an event of one of kinds that
// happened to request id at t. Each time field of a request is the time of
// the audit entry written with it.
func (b *builder) in(id int64, t time.Time, kinds ...approvals.EventKind) bool {
	if t.IsZero() {
		return false
	}
	for _, k := range kinds {
		if b.events[event{id, string(k), t.UnixMicro()}] {
			return true
		}
	}
	return false
}

// requested is the audit kind of a new request.
const requested approvals.EventKind = "requested"

// add counts r when something happened to it in the window.
func (b *builder) add(r approvals.Request) {
	created := b.in(r.ID, r.CreatedAt, requested)
	approved := b.in(r.ID, r.ApprovedAt, approvals.EventApprove)
	finished := b.in(r.ID, r.FinishedAt, approvals.EventFinish, approvals.EventAttention, approvals.EventCancel)
	denied := r.Denial != nil && b.in(r.ID, r.Denial.At, approvals.EventDeny)
	cancelled := r.Cancel != nil && b.in(r.ID, r.Cancel.At, approvals.EventCancel)
	expired := r.State == approvals.StateExpired && b.in(r.ID, r.UpdatedAt, approvals.EventExpire)
	for _, a := range r.Approvals {
		if b.in(r.ID, a.At, approvals.EventApprove) {
			b.approvers[person(a.Actor)]++
		}
	}
	if !created && !approved && !finished && !denied && !cancelled && !expired {
		return
	}
	b.d.Total++
	b.actions[string(r.Spec.Action)]++
	b.providers[r.Spec.Provider]++
	b.outcomes[r.State]++
	if created {
		b.d.Filed++
		b.requesters[person(r.Requester)]++
		// The day of r: the last midnight not after it.
		i, found := slices.BinarySearchFunc(b.days, r.CreatedAt, func(d, t time.Time) int { return d.Compare(t) })
		if !found {
			i--
		}
		b.d.Days[i].Filed++
	}
	if approved {
		b.toApproval = append(b.toApproval, r.ApprovedAt.Sub(r.CreatedAt))
	}
	switch {
	case finished && ranToEnd(r.State):
		if !r.ApprovedAt.IsZero() {
			b.toFinish = append(b.toFinish, r.FinishedAt.Sub(r.ApprovedAt))
		}
		if r.State != approvals.StateSucceeded {
			b.d.Problems = append(b.d.Problems, b.entry(r, r.FinishedAt, "", r.Note))
		}
	case denied && r.State == approvals.StateDenied:
		b.d.Denied = append(b.d.Denied, b.entry(r, r.Denial.At, person(r.Denial.Actor), r.Denial.Reason))
	case cancelled && r.State == approvals.StateCancelled:
		b.d.Cancelled = append(b.d.Cancelled, b.entry(r, r.Cancel.At, person(r.Cancel.Actor), r.Cancel.Reason))
	case expired:
		b.d.Expired = append(b.d.Expired, b.entry(r, r.UpdatedAt, "", ""))
	}
}

// ranToEnd reports whether s ends a run: the states of Problems and
// succeeded.
func ranToEnd(s approvals.State) bool {
	switch s {
	case approvals.StateSucceeded, approvals.StatePartiallyFailed, approvals.StateFailed, approvals.StateNeedsAttention:
		return true
	}
	return false
}

func (b *builder) entry(r approvals.Request, at time.Time, by, reason string) Entry {
	e := Entry{
		ID: r.ID, Action: approvals.Action(clean(string(r.Spec.Action))), Provider: clean(r.Spec.Provider),
		NTargets: len(r.Spec.Targets), Requester: clean(person(r.Requester)), State: r.State, At: at,
		By: clean(by), Reason: clean(reason),
	}
	for _, t := range r.Spec.Targets[:min(len(r.Spec.Targets), MaxTargets)] {
		e.Targets = append(e.Targets, cut(clean(t), maxTargetRunes))
	}
	return e
}

func (b *builder) pendingEntry(r approvals.Request) Entry {
	e := b.entry(r, r.CreatedAt, "", "")
	e.State = approvals.StatePending // a request decided since To was pending at To
	e.Age = b.to.Sub(r.CreatedAt)
	for _, p := range r.Waiting() {
		e.Waiting = append(e.Waiting, clean(p))
	}
	return e
}

// person names the person behind an actor.
func person(a approvals.Actor) string {
	return cmp.Or(a.Person, a.Name, a.Account, "unknown")
}

func (b *builder) finish() Digest {
	d := b.d
	d.ByAction = counts(b.actions, 0)
	d.ByProvider = counts(b.providers, 0)
	for _, s := range approvals.States() {
		if n := b.outcomes[s]; n > 0 {
			d.ByOutcome = append(d.ByOutcome, Count{Key: string(s), Count: n})
		}
	}
	d.TopRequesters = counts(b.requesters, TopPeople)
	d.TopApprovers = counts(b.approvers, TopPeople)
	d.ToApproval = median(b.toApproval)
	d.ToCompletion = median(b.toFinish)
	byAt := func(a, b Entry) int { return cmp.Or(a.At.Compare(b.At), cmp.Compare(a.ID, b.ID)) }
	for _, l := range [][]Entry{d.Problems, d.Pending, d.Denied, d.Expired, d.Cancelled} {
		slices.SortFunc(l, byAt)
	}
	return d
}

// counts returns m's entries, most first then by key, at most limit of
// them (0: all).
func counts(m map[string]int, limit int) []Count {
	out := make([]Count, 0, len(m))
	for k, n := range m {
		out = append(out, Count{Key: clean(k), Count: n})
	}
	slices.SortFunc(out, func(a, b Count) int { return cmp.Or(cmp.Compare(b.Count, a.Count), cmp.Compare(a.Key, b.Key)) })
	if limit > 0 && len(out) > limit {
		out = out[:limit]
	}
	return out
}

// median returns the median of ds (the lower middle one of an even
// count, so it is always an observed duration).
func median(ds []time.Duration) Timing {
	if len(ds) == 0 {
		return Timing{}
	}
	slices.Sort(ds)
	return Timing{Median: ds[(len(ds)-1)/2], Of: len(ds)}
}

// location returns the time zone to render d in.
func (d Digest) location() *time.Location {
	if d.loc != nil {
		return d.loc
	}
	if l, err := time.LoadLocation(d.Location); err == nil {
		return l
	}
	return time.UTC
}

// MarshalJSON writes empty lists as [] rather than null, so that readers of
// `countersign digest --format json` need not tell the two apart.
func (d Digest) MarshalJSON() ([]byte, error) {
	type plain Digest // without this method
	p := plain(d)
	for _, cs := range []*[]Count{&p.ByAction, &p.ByProvider, &p.ByOutcome, &p.TopRequesters, &p.TopApprovers} {
		*cs = orEmpty(*cs)
	}
	for _, es := range []*[]Entry{&p.Problems, &p.Pending, &p.Denied, &p.Expired, &p.Cancelled} {
		*es = slices.Clone(orEmpty(*es)) // the targets below are set on a copy
		for i := range *es {
			(*es)[i].Targets = orEmpty((*es)[i].Targets)
		}
	}
	p.Days = orEmpty(p.Days)
	return json.Marshal(p)
}

// orEmpty is s, or an empty slice for nil.
func orEmpty[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}
