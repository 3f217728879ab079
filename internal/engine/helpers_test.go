package engine

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/riverqueue/river"

	"github.com/countersign/countersign/approvals"
	"github.com/countersign/countersign/internal/changes"
	"github.com/countersign/countersign/internal/store"
	"github.com/countersign/countersign/internal/store/storetest"
	"github.com/countersign/countersign/internal/testdb"
	"github.com/countersign/countersign/providers"
	"github.com/countersign/countersign/providers/tmcas/tmcastest"
)

var t0 = time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)

// fileRequest stores a pending request by alice for the targets, with one
// item per target as the preview, under a policy of one approval.
func fileRequest(t testing.TB, s *store.Store, provider string, now time.Time, targets ...string) approvals.Request {
	t.Helper()
	return storetest.File(t, s, storetest.Policy(1), provider, now, targets...)
}

// approvedRequest files a request and has bob approve it, which enqueues
// its execution job.
func approvedRequest(t testing.TB, s *store.Store, provider string, now time.Time, targets ...string) approvals.Request {
	t.Helper()
	return storetest.Approve(t, s, fileRequest(t, s, provider, now, targets...), now)
}

// slowEach runs fn once per dialect with a context that ends after a
// minute, in parallel with the other slow tests: those that mostly wait on
// the provider, River or a schedule.
func slowEach(t *testing.T, fn func(ctx context.Context, t *testing.T, url string)) {
	t.Parallel()
	testdb.Each(t, func(t *testing.T, url string) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		fn(ctx, t, url)
	})
}

// started builds an engine from cfg and starts it.
func started(ctx context.Context, t testing.TB, cfg Config) *Engine {
	t.Helper()
	e, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Start(ctx); err != nil {
		t.Fatal(err)
	}
	return e
}

// getRequest reads a request or fails the test.
func getRequest(t testing.TB, s *store.Store, id int64) approvals.Request {
	t.Helper()
	r, err := s.Get(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// sentTargets counts, per lower-cased account, the actions a fake TMCAS
// received.
func sentTargets(fake *tmcastest.Server) map[string]int {
	sent := map[string]int{}
	for _, b := range fake.BatchIDs() {
		for _, a := range fake.Actions(b) {
			sent[strings.ToLower(a.Target)]++
		}
	}
	return sent
}

// waitFor waits until cond holds, checking it again each time one of
// signals tells of a change; it fails the test when ctx ends first.
func waitFor(ctx context.Context, t testing.TB, what string, cond func() bool, signals ...*changes.Signal) {
	t.Helper()
	if err := changes.Wait(ctx, cond, signals...); err != nil {
		t.Fatalf("waiting for %s: %v", what, err)
	}
}

// signalling is a Notifier that passes each call on to next (if any) and
// then tells its signal: the engine calls it after every change it stores,
// and after the last change of a request always, so tests wait on the
// store with it.
type signalling struct {
	next    Notifier
	changes changes.Signal
}

func (s *signalling) Changed(ctx context.Context, id int64) {
	if s.next != nil {
		s.next.Changed(ctx, id)
	}
	s.changes.Notify()
}

// watched returns cfg with its Notifier wrapped so that the signal
// returned is told of every change the engine stores. A zero
// NotifyInterval becomes 1 ms, so that waits do not wait for the
// production interval.
func watched(cfg Config) (Config, *changes.Signal) {
	n := &signalling{next: cfg.Notifier}
	cfg.Notifier = n
	cfg.NotifyInterval = cmp.Or(cfg.NotifyInterval, time.Millisecond)
	return cfg, &n.changes
}

// itemStates returns key → status, detail.
func itemStates(t testing.TB, s *store.Store, id int64) map[string]string {
	t.Helper()
	items, err := s.Items(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, it := range items {
		out[it.Key] = string(it.Status)
		if it.Detail != "" {
			out[it.Key] += ": " + it.Detail
		}
	}
	return out
}

func auditKinds(t testing.TB, s *store.Store, id int64) []string {
	t.Helper()
	entries, err := s.RequestAudit(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		out = append(out, e.Kind)
	}
	return out
}

// snooze returns the duration of a river.JobSnooze error.
func snooze(err error) (time.Duration, bool) {
	var se *river.JobSnoozeError
	if errors.As(err, &se) {
		return se.Duration, true
	}
	return 0, false
}

// fakeProvider is an in-process provider with switches. Batches finish
// after pollsToFinish polls.
type fakeProvider struct {
	mu            sync.Mutex
	maxItems      int
	missing       map[string]bool   // keys Resolve no longer finds
	problems      map[string]string // key → Problem at execution
	extra         []string          // keys Resolve finds beyond the preview
	moved         map[string]string // key → the other identity it now resolves to
	resolveErr    error
	submitErrs    []error // consumed one per Submit
	pollErrs      int     // the next polls fail with ErrTemporary
	pollsToFinish int
	fail          map[string]bool           // keys whose action fails
	onSubmit      func()                    // called inside Submit
	onPoll        func(ctx context.Context) // called inside Poll, before it answers

	resolves int
	submits  [][]string // keys of each accepted or attempted Submit
	polls    int
	batches  map[string]*fakeBatch
}

type fakeBatch struct {
	keys  []string
	polls int
}

func newFakeProvider() *fakeProvider {
	return &fakeProvider{batches: map[string]*fakeBatch{}, pollsToFinish: 1}
}

func (f *fakeProvider) Name() string                                    { return "fake" }
func (f *fakeProvider) Supports(approvals.Action) bool                  { return true }
func (f *fakeProvider) MaxItems(approvals.Action) int                   { return f.maxItems }
func (f *fakeProvider) Provider(name string) (providers.Provider, bool) { return f, name == "fake" }

func (f *fakeProvider) Resolve(_ context.Context, spec approvals.Spec) ([]providers.Resolved, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.resolves++
	if f.resolveErr != nil {
		return nil, f.resolveErr
	}
	var out []providers.Resolved
	for _, tg := range append(append([]string(nil), spec.Targets...), f.extra...) {
		key := strings.ToLower(tg)
		if f.missing[key] {
			continue
		}
		id := storetest.Mailbox(key)
		if other, ok := f.moved[key]; ok {
			id.ID = other
		}
		out = append(out, providers.Resolved{Key: key, Target: tg, Display: tg, State: "enabled", Problem: f.problems[key],
			Identity: id, Data: json.RawMessage(`{"id":"` + id.ID + `"}`)})
	}
	return out, nil
}

func (f *fakeProvider) Submit(_ context.Context, b providers.Batch) (providers.Submission, error) {
	if f.onSubmit != nil {
		f.onSubmit()
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	var keys []string
	for _, it := range b.Items {
		keys = append(keys, it.Key)
	}
	f.submits = append(f.submits, keys)
	if len(f.submitErrs) > 0 {
		err := f.submitErrs[0]
		f.submitErrs = f.submitErrs[1:]
		if err != nil {
			return providers.Submission{}, err
		}
	}
	id := fmt.Sprintf("b%d", len(f.batches)+1)
	f.batches[id] = &fakeBatch{keys: keys}
	sub := providers.Submission{Provider: "fake", ID: id, Data: json.RawMessage(`{"batch":"` + id + `"}`), SubmittedAt: t0}
	for _, k := range keys {
		sub.Items = append(sub.Items, providers.SubmittedItem{Key: k, Ref: "ref-" + k})
	}
	return sub, nil
}

func (f *fakeProvider) Poll(ctx context.Context, sub providers.Submission) (providers.Progress, error) {
	if f.onPoll != nil {
		f.onPoll(ctx)
		if err := ctx.Err(); err != nil {
			return providers.Progress{}, err
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.polls++
	if f.pollErrs > 0 {
		f.pollErrs--
		return providers.Progress{}, fmt.Errorf("HTTP 503: %w", providers.ErrTemporary)
	}
	var d struct{ Batch string }
	if err := json.Unmarshal(sub.Data, &d); err != nil || f.batches[d.Batch] == nil || d.Batch != sub.ID {
		return providers.Progress{}, fmt.Errorf("fake: unknown submission %q (%v)", sub.ID, err)
	}
	b := f.batches[d.Batch]
	b.polls++
	var p providers.Progress
	done := b.polls >= f.pollsToFinish
	for _, k := range b.keys {
		st := providers.ItemStatus{Key: k, Status: approvals.ItemRunning}
		if done {
			st.Status = approvals.ItemSucceeded
			if f.fail[k] {
				st.Status, st.Detail = approvals.ItemFailed, "account is locked"
			}
		}
		p.Items = append(p.Items, st)
	}
	p.Done = done
	return p, nil
}

// submitted returns the keys of every Submit, attempted or not.
func (f *fakeProvider) submitted() [][]string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([][]string(nil), f.submits...)
}

// taken is a list that the code under test adds to, from any goroutine,
// and the test takes from.
type taken[T any] struct {
	mu    sync.Mutex
	items []T
}

func (l *taken[T]) add(v T) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.items = append(l.items, v)
}

// take returns what was added since the last take.
func (l *taken[T]) take() []T {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := l.items
	l.items = nil
	return out
}

// recorder is a Notifier that records calls.
type recorder struct {
	mu    sync.Mutex
	calls map[int64]int
}

func (r *recorder) Changed(_ context.Context, id int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.calls == nil {
		r.calls = map[int64]int{}
	}
	r.calls[id]++
}

func (r *recorder) count(id int64) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.calls[id]
}

// logBuffer captures log lines for assertions, and tells changes of
// each write.
type logBuffer struct {
	mu      sync.Mutex
	buf     bytes.Buffer
	changes changes.Signal
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.changes.Notify()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func (b *logBuffer) logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(b, &slog.HandlerOptions{Level: slog.LevelDebug}))
}
