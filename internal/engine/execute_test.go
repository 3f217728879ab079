package engine

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/countersign/countersign/approvals"
	"github.com/countersign/countersign/internal/store"
	"github.com/countersign/countersign/internal/store/storetest"
	"github.com/countersign/countersign/internal/testdb"
	"github.com/countersign/countersign/providers"
)

// testEngine builds an engine that is never started: tests run attempts
// directly, one by one, as River would.
func testEngine(t *testing.T, s *store.Store, ps Providers, now func() time.Time) (*Engine, *recorder, *logBuffer) {
	t.Helper()
	rec, logs := &recorder{}, &logBuffer{}
	e, err := New(Config{Store: s, Providers: ps, Notifier: rec, Logger: logs.logger(), Now: now, NotifyInterval: time.Nanosecond})
	if err != nil {
		t.Fatal(err)
	}
	return e, rec, logs
}

// rig is a fresh store, a fake provider, and an engine over them that is
// never started (testEngine).
type rig struct {
	s    *store.Store
	f    *fakeProvider
	e    *Engine
	rec  *recorder
	logs *logBuffer
}

// newRig builds a rig on the database at url, with the clock now.
func newRig(t *testing.T, url string, now func() time.Time) rig {
	t.Helper()
	s, f := testdb.Store(t, url), newFakeProvider()
	e, rec, logs := testEngine(t, s, f, now)
	return rig{s: s, f: f, e: e, rec: rec, logs: logs}
}

func fixed(at time.Time) func() time.Time { return func() time.Time { return at } }

// drive runs attempts until the job is done and returns what each one
// returned: "snooze 15s", "done", or the error.
func drive(t *testing.T, e *Engine, id int64) []string {
	t.Helper()
	var out []string
	for range 20 {
		err := e.execute(context.Background(), id)
		if d, ok := snooze(err); ok {
			out = append(out, "snooze "+d.String())
			continue
		}
		if err != nil {
			out = append(out, "error: "+err.Error())
			continue
		}
		return append(out, "done")
	}
	t.Fatalf("request %d not done after 20 attempts: %v", id, out)
	return nil
}

// flushed waits for the notifications in flight.
func flushed(t *testing.T, e *Engine) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := e.notify.close(ctx); err != nil {
		t.Fatal(err)
	}
}

// uncertainNote is the note of an item of fakeProvider after an uncertain
// Submit: the provider cannot be asked what it did.
const uncertainNote = "unknown: fake answered uncertainly (POST: timeout: provider call outcome is unknown) and cannot be asked " +
	"what it did. Countersign did not send it again. Check fake for this target around 2026-11-23T09:00:00Z before acting again."

func TestExecuteOutcomes(t *testing.T) {
	// It mostly waits (on the provider, River or a schedule): the other
	// slow tests run meanwhile.
	t.Parallel()
	const a, b, c = "a@contoso.com", "b@contoso.com", "c@contoso.com"
	cases := []struct {
		name         string
		setup        func(*fakeProvider)
		wantAttempts []string
		wantState    approvals.State
		wantItems    map[string]string
		wantSubmits  [][]string
	}{{
		name:         "all succeed in two chunks",
		setup:        func(f *fakeProvider) { f.maxItems = 2 },
		wantAttempts: []string{"snooze 15s", "done"},
		wantState:    approvals.StateSucceeded,
		wantItems:    map[string]string{a: "succeeded", b: "succeeded", c: "succeeded"},
		wantSubmits:  [][]string{{a, b}, {c}},
	}, {
		name:         "polled until done",
		setup:        func(f *fakeProvider) { f.pollsToFinish = 3 },
		wantAttempts: []string{"snooze 15s", "snooze 15s", "snooze 15s", "done"},
		wantState:    approvals.StateSucceeded,
		wantItems:    map[string]string{a: "succeeded", b: "succeeded", c: "succeeded"},
		wantSubmits:  [][]string{{a, b, c}},
	}, {
		name:         "one item fails",
		setup:        func(f *fakeProvider) { f.fail = map[string]bool{b: true} },
		wantAttempts: []string{"snooze 15s", "done"},
		wantState:    approvals.StatePartiallyFailed,
		wantItems:    map[string]string{a: "succeeded", b: "failed: account is locked", c: "succeeded"},
		wantSubmits:  [][]string{{a, b, c}},
	}, {
		name: "previewed target gone, new target ignored",
		setup: func(f *fakeProvider) {
			f.missing = map[string]bool{b: true}
			f.extra = []string{"new@contoso.com"}
		},
		wantAttempts: []string{"snooze 15s", "done"},
		wantState:    approvals.StatePartiallyFailed,
		wantItems:    map[string]string{a: "succeeded", b: "skipped: " + skipGone + "", c: "succeeded"},
		wantSubmits:  [][]string{{a, c}},
	}, {
		name:         "target now has a problem",
		setup:        func(f *fakeProvider) { f.problems = map[string]string{c: "disable is not available for this account"} },
		wantAttempts: []string{"snooze 15s", "done"},
		wantState:    approvals.StatePartiallyFailed,
		wantItems:    map[string]string{a: "succeeded", b: "succeeded", c: "skipped: disable is not available for this account"},
		wantSubmits:  [][]string{{a, b}},
	}, {
		name:         "no target found any more",
		setup:        func(f *fakeProvider) { f.missing = map[string]bool{a: true, b: true, c: true} },
		wantAttempts: []string{"done"},
		wantState:    approvals.StateFailed,
		wantItems: map[string]string{a: "skipped: " + skipGone + "", b: "skipped: " + skipGone + "",
			c: "skipped: " + skipGone + ""},
	}, {
		name: "one chunk refused outright",
		setup: func(f *fakeProvider) {
			f.maxItems = 2
			f.submitErrs = []error{errors.New("HTTP 403: missing permission")}
		},
		wantAttempts: []string{"snooze 15s", "done"},
		wantState:    approvals.StatePartiallyFailed,
		wantItems:    map[string]string{a: "failed: HTTP 403: missing permission", b: "failed: HTTP 403: missing permission", c: "succeeded"},
		wantSubmits:  [][]string{{a, b}, {c}},
	}, {
		name:         "provider throttles, then accepts",
		setup:        func(f *fakeProvider) { f.submitErrs = []error{fmt.Errorf("HTTP 429: %w", providers.ErrTemporary)} },
		wantAttempts: []string{"snooze 15s", "snooze 15s", "done"},
		wantState:    approvals.StateSucceeded,
		wantItems:    map[string]string{a: "succeeded", b: "succeeded", c: "succeeded"},
		wantSubmits:  [][]string{{a, b, c}, {a, b, c}},
	}, {
		name:         "polling outage delays",
		setup:        func(f *fakeProvider) { f.pollErrs = 4 },
		wantAttempts: []string{"snooze 15s", "snooze 15s", "snooze 15s", "snooze 15s", "snooze 15s", "done"},
		wantState:    approvals.StateSucceeded,
		wantItems:    map[string]string{a: "succeeded", b: "succeeded", c: "succeeded"},
		wantSubmits:  [][]string{{a, b, c}},
	}, {
		// A provider that cannot be asked leaves every item unknown.
		name:         "uncertain submission",
		setup:        func(f *fakeProvider) { f.submitErrs = []error{fmt.Errorf("POST: timeout: %w", providers.ErrUncertain)} },
		wantAttempts: []string{"done"},
		wantState:    approvals.StateNeedsAttention,
		wantItems:    map[string]string{a: uncertainNote, b: uncertainNote, c: uncertainNote},
		wantSubmits:  [][]string{{a, b, c}},
	}}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			testdb.Each(t, func(t *testing.T, url string) {
				rg := newRig(t, url, fixed(t0))
				tc.setup(rg.f)
				r := approvedRequest(t, rg.s, "fake", t0, a, b, c)
				if diff := cmp.Diff(tc.wantAttempts, drive(t, rg.e, r.ID)); diff != "" {
					t.Errorf("attempts (-want +got):\n%s", diff)
				}
				got := getRequest(t, rg.s, r.ID)
				if got.State != tc.wantState {
					t.Errorf("state = %s (%s), want %s", got.State, got.Note, tc.wantState)
				}
				if diff := cmp.Diff(tc.wantItems, itemStates(t, rg.s, r.ID)); diff != "" {
					t.Errorf("items (-want +got):\n%s", diff)
				}
				if diff := cmp.Diff(tc.wantSubmits, rg.f.submitted()); diff != "" {
					t.Errorf("submits (-want +got):\n%s", diff)
				}
				// The job stays done: a repeated attempt (a rescued job whose
				// completion was lost) sends nothing.
				if err := rg.e.execute(context.Background(), r.ID); err != nil {
					t.Errorf("attempt after the end = %v, want nil", err)
				}
				if n := len(rg.f.submitted()); n != len(tc.wantSubmits) {
					t.Errorf("submits after the end = %d, want %d", n, len(tc.wantSubmits))
				}
				flushed(t, rg.e)
				if rg.rec.count(r.ID) == 0 {
					t.Error("notifier never called")
				}
				if _, err := rg.s.VerifyAudit(context.Background()); err != nil {
					t.Error(err)
				}
			})
		})
	}
}

func TestExecuteRecordsEachStep(t *testing.T) {
	testdb.Each(t, func(t *testing.T, url string) {
		rg := newRig(t, url, fixed(t0))
		rg.f.maxItems = 1
		r := approvedRequest(t, rg.s, "fake", t0, "a@x.io", "b@x.io")
		drive(t, rg.e, r.ID)
		want := []string{"requested", "approve", "start", "submitting", "submission", "submitting", "submitted", "progress", "finish"}
		if diff := cmp.Diff(want, auditKinds(t, rg.s, r.ID)); diff != "" {
			t.Errorf("audit (-want +got):\n%s", diff)
		}
		items, err := rg.s.Items(context.Background(), r.ID)
		if err != nil {
			t.Fatal(err)
		}
		for _, it := range items {
			if it.Ref != "ref-"+it.Key {
				t.Errorf("item %s ref = %q, want the provider's ref-%s", it.Key, it.Ref, it.Key)
			}
		}
	})
}

// crashedInSubmitWindow leaves r as a worker killed after MarkSubmitting
// would: the provider call of step 0 may have been made.
func crashedInSubmitWindow(t *testing.T, s *store.Store, id int64) {
	t.Helper()
	ctx := context.Background()
	x, err := s.Claim(ctx, id, t0)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.MarkSubmitting(ctx, id, x.Fence, 0, t0); err != nil {
		t.Fatal(err)
	}
}

func TestCrashInSubmitWindowNeedsAttention(t *testing.T) {
	testdb.Each(t, func(t *testing.T, url string) {
		rg := newRig(t, url, fixed(t0))
		r := approvedRequest(t, rg.s, "fake", t0, "a@x.io")
		crashedInSubmitWindow(t, rg.s, r.ID)

		if diff := cmp.Diff([]string{"done"}, drive(t, rg.e, r.ID)); diff != "" {
			t.Errorf("attempts (-want +got):\n%s", diff)
		}
		got := getRequest(t, rg.s, r.ID)
		if got.State != approvals.StateNeedsAttention || !strings.Contains(got.Note, "may or may not have taken effect") {
			t.Errorf("state = %s %q, want needs_attention explaining the uncertain step", got.State, got.Note)
		}
		if n := len(rg.f.submitted()); n != 0 || rg.f.resolves != 0 {
			t.Errorf("provider saw %d submits and %d resolves, want none: never resubmit", n, rg.f.resolves)
		}
		flushed(t, rg.e)
		if rg.rec.count(r.ID) == 0 {
			t.Error("no notification for needs_attention")
		}
		if !strings.Contains(rg.logs.String(), "level=ERROR") || !strings.Contains(rg.logs.String(), "request needs attention") {
			t.Errorf("no error-level alert in the log:\n%s", rg.logs)
		}
	})
}

func TestStaleAttemptCannotRecord(t *testing.T) {
	testdb.Each(t, func(t *testing.T, url string) {
		rg := newRig(t, url, fixed(t0))
		r := approvedRequest(t, rg.s, "fake", t0, "a@x.io")
		// While the provider call runs, the job is rescued and a newer
		// attempt claims the request.
		rg.f.onSubmit = func() {
			if _, err := rg.s.Claim(context.Background(), r.ID, t0); err != nil {
				t.Error(err)
			}
		}
		got := drive(t, rg.e, r.ID)
		if diff := cmp.Diff([]string{"snooze 15s", "done"}, got); diff != "" {
			t.Errorf("attempts (-want +got):\n%s", diff)
		}
		req := getRequest(t, rg.s, r.ID)
		// The stale attempt could not record its submission, so the newer
		// one finds it in flight and does not send it again.
		if req.State != approvals.StateNeedsAttention || len(rg.f.submitted()) != 1 {
			t.Errorf("state %s after %d submits, want needs_attention after 1", req.State, len(rg.f.submitted()))
		}
	})
}

func TestNeverExecuted(t *testing.T) {
	cases := []struct {
		name  string
		event func(r approvals.Request) approvals.Event
		at    time.Time
		want  approvals.State
	}{
		{"cancelled after approval", func(approvals.Request) approvals.Event {
			return approvals.Event{Kind: approvals.EventCancel, Actor: storetest.Actor("alice")}
		}, t0, approvals.StateCancelled},
		{"denied", func(r approvals.Request) approvals.Event {
			return approvals.Event{Kind: approvals.EventDeny, Actor: storetest.Actor("carol"), Hash: r.Hash}
		}, t0, approvals.StateDenied},
		{"expired", func(approvals.Request) approvals.Event { return approvals.Event{Kind: approvals.EventExpire} }, t0.Add(2 * time.Hour), approvals.StateExpired},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			testdb.Each(t, func(t *testing.T, url string) {
				ctx := context.Background()
				rg := newRig(t, url, fixed(t0))
				var r approvals.Request
				if tc.want == approvals.StateCancelled {
					r = approvedRequest(t, rg.s, "fake", t0, "a@x.io")
				} else {
					r = fileRequest(t, rg.s, "fake", t0, "a@x.io")
				}
				if _, err := rg.s.Apply(ctx, r.ID, tc.event(r), tc.at); err != nil {
					t.Fatal(err)
				}
				// A job for it, however it came about, does nothing.
				if diff := cmp.Diff([]string{"done"}, drive(t, rg.e, r.ID)); diff != "" {
					t.Errorf("attempts (-want +got):\n%s", diff)
				}
				got := getRequest(t, rg.s, r.ID)
				if got.State != tc.want || rg.f.resolves != 0 || len(rg.f.submitted()) != 0 {
					t.Errorf("state %s, %d resolves, %d submits; want %s and no provider calls", got.State, rg.f.resolves, len(rg.f.submitted()), tc.want)
				}
			})
		})
	}
}

func TestCancelWhileResolvingStopsSubmission(t *testing.T) {
	testdb.Each(t, func(t *testing.T, url string) {
		ctx := context.Background()
		rg := newRig(t, url, fixed(t0))
		r := approvedRequest(t, rg.s, "fake", t0, "a@x.io")
		// The first attempt cannot resolve; meanwhile alice cancels the
		// running request, which is allowed until a submission starts.
		rg.f.resolveErr = fmt.Errorf("lookup: %w", providers.ErrTemporary)
		if d, ok := snooze(rg.e.execute(ctx, r.ID)); !ok || d != DefaultPollInterval {
			t.Fatalf("attempt with failing lookup: snooze %v %v, want %v", d, ok, DefaultPollInterval)
		}
		if _, err := rg.s.Apply(ctx, r.ID, approvals.Event{Kind: approvals.EventCancel, Actor: storetest.Actor("alice")}, t0); err != nil {
			t.Fatalf("cancel while running before submission: %v", err)
		}
		rg.f.resolveErr = nil
		if diff := cmp.Diff([]string{"done"}, drive(t, rg.e, r.ID)); diff != "" {
			t.Errorf("attempts (-want +got):\n%s", diff)
		}
		if n := len(rg.f.submitted()); n != 0 {
			t.Errorf("%d submits after cancel, want 0", n)
		}

		// A cancel landing between the claim and the submission wins too.
		r2 := approvedRequest(t, rg.s, "fake", t0, "b@x.io")
		rg.f.onSubmit = func() { t.Error("submitted a request cancelled before submission") }
		rg.f.resolveErr = nil
		resolveHook := &cancelOnResolve{fakeProvider: rg.f, s: rg.s, id: r2.ID, t: t}
		e2, _, _ := testEngine(t, rg.s, resolveHook, fixed(t0))
		if diff := cmp.Diff([]string{"done"}, drive(t, e2, r2.ID)); diff != "" {
			t.Errorf("attempts (-want +got):\n%s", diff)
		}
		if got := getRequest(t, rg.s, r2.ID); got.State != approvals.StateCancelled {
			t.Errorf("state = %s, want cancelled", got.State)
		}
	})
}

// cancelOnResolve cancels a request while its targets are being resolved.
type cancelOnResolve struct {
	*fakeProvider
	s  *store.Store
	id int64
	t  *testing.T
}

func (c *cancelOnResolve) Provider(string) (providers.Provider, bool) { return c, true }

func (c *cancelOnResolve) Resolve(ctx context.Context, spec approvals.Spec) ([]providers.Resolved, error) {
	if _, err := c.s.Apply(ctx, c.id, approvals.Event{Kind: approvals.EventCancel, Actor: storetest.Actor("alice")}, t0); err != nil {
		c.t.Errorf("cancel: %v", err)
	}
	return c.fakeProvider.Resolve(ctx, spec)
}

func TestPollDeadlineNeedsAttention(t *testing.T) {
	testdb.Each(t, func(t *testing.T, url string) {
		now := t0
		rg := newRig(t, url, func() time.Time { return now })
		rg.f.pollsToFinish = 1000
		r := approvedRequest(t, rg.s, "fake", t0, "a@x.io")
		for range 3 {
			if _, ok := snooze(rg.e.execute(context.Background(), r.ID)); !ok {
				t.Fatal("attempt before the deadline did not snooze")
			}
			now = now.Add(30 * time.Minute)
		}
		now = t0.Add(DefaultPollDeadline + time.Second)
		if err := rg.e.execute(context.Background(), r.ID); err != nil {
			t.Fatalf("attempt past the deadline = %v, want done", err)
		}
		got := getRequest(t, rg.s, r.ID)
		if got.State != approvals.StateNeedsAttention || !strings.Contains(got.Note, "did not finish within 2h0m0s") {
			t.Errorf("state = %s %q, want needs_attention for the deadline", got.State, got.Note)
		}
		if n := len(rg.f.submitted()); n != 1 {
			t.Errorf("%d submits, want 1", n)
		}
	})
}

func TestProviderNotConfigured(t *testing.T) {
	testdb.Each(t, func(t *testing.T, url string) {
		rg := newRig(t, url, fixed(t0))
		r := approvedRequest(t, rg.s, "graph", t0, "a@x.io")
		drive(t, rg.e, r.ID)
		got := getRequest(t, rg.s, r.ID)
		want := map[string]string{"a@x.io": "failed: provider graph is not configured; nothing was sent"}
		if diff := cmp.Diff(want, itemStates(t, rg.s, r.ID)); diff != "" || got.State != approvals.StateFailed {
			t.Errorf("state %s, items (-want +got):\n%s", got.State, diff)
		}
	})
}

func TestSubmissionDeadline(t *testing.T) {
	testdb.Each(t, func(t *testing.T, url string) {
		now := t0
		rg := newRig(t, url, func() time.Time { return now })
		temp := fmt.Errorf("HTTP 503: %w", providers.ErrTemporary)
		rg.f.submitErrs = []error{temp, temp, temp}
		r := approvedRequest(t, rg.s, "fake", t0, "a@x.io")
		for range 2 {
			if _, ok := snooze(rg.e.execute(context.Background(), r.ID)); !ok {
				t.Fatal("refused submission did not snooze")
			}
			now = now.Add(time.Hour)
		}
		now = t0.Add(DefaultPollDeadline + time.Minute)
		if diff := cmp.Diff([]string{"done"}, drive(t, rg.e, r.ID)); diff != "" {
			t.Errorf("attempts (-want +got):\n%s", diff)
		}
		got := getRequest(t, rg.s, r.ID)
		want := map[string]string{"a@x.io": "failed: fake could not be reached within 2h0m0s of approval; nothing was sent"}
		if diff := cmp.Diff(want, itemStates(t, rg.s, r.ID)); diff != "" || got.State != approvals.StateFailed {
			t.Errorf("state %s, items (-want +got):\n%s", got.State, diff)
		}
		if n := len(rg.f.submitted()); n != 2 {
			t.Errorf("%d submit attempts, want 2 (none past the deadline)", n)
		}
	})
}

func TestLogsNameNoTargets(t *testing.T) {
	rg := newRig(t, testdb.SQLite(t), fixed(t0))
	rg.f.extra = []string{"new@contoso.com"}
	rg.f.missing = map[string]bool{"gone@contoso.com": true}
	r := approvedRequest(t, rg.s, "fake", t0, "kept@contoso.com", "gone@contoso.com")
	drive(t, rg.e, r.ID)
	out := rg.logs.String()
	if !strings.Contains(out, "ignored=1") {
		t.Errorf("log does not count the ignored target:\n%s", out)
	}
	for _, addr := range []string{"new@contoso.com", "gone@contoso.com", "kept@contoso.com"} {
		if strings.Contains(out, addr) {
			t.Errorf("log names %s:\n%s", addr, out)
		}
	}
}
