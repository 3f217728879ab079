package workflow_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/countersign/countersign/approvals"
	"github.com/countersign/countersign/commands"
	"github.com/countersign/countersign/internal/store"
	"github.com/countersign/countersign/internal/testdb"
	"github.com/countersign/countersign/providers"
	"github.com/countersign/countersign/workflow"
)

var t0 = time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)

// directory is a provider that resolves from a fixed table: what each
// typed target is, or why it cannot be acted on. Execution never reaches it.
type directory struct {
	targets map[string]providers.Resolved
	err     error // the lookup itself fails
}

func (d directory) Name() string                   { return "fake" }
func (d directory) Supports(approvals.Action) bool { return true }
func (d directory) Resolve(_ context.Context, spec approvals.Spec) ([]providers.Resolved, error) {
	if d.err != nil {
		return nil, d.err
	}
	var out []providers.Resolved
	for _, t := range spec.Targets {
		if r, ok := d.targets[t]; ok {
			out = append(out, r)
		}
	}
	return out, nil
}
func (d directory) Submit(context.Context, providers.Batch) (providers.Submission, error) {
	return providers.Submission{}, errors.New("not called")
}
func (d directory) Poll(context.Context, providers.Submission) (providers.Progress, error) {
	return providers.Progress{}, errors.New("not called")
}

// account is how the directory resolves an address: the CEO's alias
// c.eo@ is the same identity as ceo@.
func account(typed, id string, addresses ...string) providers.Resolved {
	return providers.Resolved{Key: typed, Target: typed, Display: typed, State: "enabled",
		Identity: approvals.Identity{ID: id, Addresses: addresses}}
}

var people = directory{targets: map[string]providers.Resolved{
	"mallory@contoso.com": account("mallory@contoso.com", "id-mallory", "mallory@contoso.com"),
	"eve@contoso.com":     account("eve@contoso.com", "id-eve", "eve@contoso.com"),
	"c.eo@contoso.com":    account("c.eo@contoso.com", "id-ceo", "c.eo@contoso.com", "ceo@contoso.com"),
	"ghost@contoso.com":   account("ghost@contoso.com", "", "ghost@contoso.com"),
	"nobody@contoso.com":  {Key: "nobody@contoso.com", Target: "nobody@contoso.com", Display: "nobody@contoso.com", Problem: "no such user"},
}}

// approvers lists the same approvers for every platform.
type approvers []string

func (a approvers) Approvers(context.Context) ([]string, error) { return a, nil }

// observer records approval waits.
type observer struct {
	mu   sync.Mutex
	seen []string
}

func (o *observer) ObserveApproval(action string, d time.Duration) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.seen = append(o.seen, action+" "+d.String())
}

// clock is a settable test clock.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) set(t time.Time) { c.mu.Lock(); defer c.mu.Unlock(); c.now = t }

type fixture struct {
	wf      *workflow.Service
	store   *store.Store
	clock   *clock
	metrics *observer
}

var policy = approvals.Policy{ApprovalsRequired: 1, RequestTTL: time.Hour, MaxTargets: 10, RequireReason: true,
	Protected: []string{"ceo@contoso.com"}}

func newFixture(t *testing.T, url string, p providers.Provider) *fixture {
	t.Helper()
	st := testdb.Store(t, url)
	router, err := providers.NewRouter(nil, p)
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{store: st, clock: &clock{now: t0}, metrics: &observer{}}
	f.wf, err = workflow.New(workflow.Config{Store: st, Providers: router, Policy: policy, Now: f.clock.Now, Metrics: f.metrics,
		Admin: func(person string) bool { return person == "root" }})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func who(name string) approvals.Actor {
	return approvals.Actor{Person: name, Platform: "test", Account: name}
}

// file drafts and files line (targets and flags of /disable) for alice.
func (f *fixture) file(t *testing.T, line string) (approvals.Request, error) {
	t.Helper()
	cmd, err := commands.Parse("disable", line)
	if err != nil {
		t.Fatal(err)
	}
	d, err := f.wf.Draft(context.Background(), cmd.Spec, who("alice"), approvers{"alice", "bob", "carol"})
	if err != nil {
		return approvals.Request{}, err
	}
	r, _, err := f.wf.File(context.Background(), d)
	return r, err
}

func (f *fixture) stored(t *testing.T) []approvals.Request {
	t.Helper()
	rs, err := f.store.List(context.Background(), approvals.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	return rs
}

// TestFile: a request is filed whole, bound to the identities its targets
// resolved to, or not at all.
func TestFile(t *testing.T) {
	tests := []struct {
		name     string
		provider providers.Provider
		line     string
		want     error              // nil: filed
		problems []workflow.Problem // of a *NotFiledError
	}{
		{name: "filed", provider: people, line: "mallory@contoso.com eve@contoso.com --reason phish"},
		{name: "protected by identity, alias typed", provider: people, line: "eve@contoso.com c.eo@contoso.com --reason phish",
			problems: []workflow.Problem{{Target: "c.eo@contoso.com", Detail: "protected (ceo@contoso.com)"}}},
		{name: "identity unknown: fail closed", provider: people, line: "ghost@contoso.com --reason phish",
			problems: []workflow.Problem{{Target: "ghost@contoso.com", Detail: "fake did not say what this target is"}}},
		{name: "provider problem", provider: people, line: "nobody@contoso.com mallory@contoso.com --reason phish",
			problems: []workflow.Problem{{Target: "nobody@contoso.com", Detail: "no such user"}}},
		{name: "nothing resolved", provider: directory{}, line: "mallory@contoso.com --reason phish", want: workflow.ErrNothingToDo},
		{name: "policy refuses as typed", provider: people, line: "ceo@contoso.com --reason phish", want: approvals.ErrProtectedTarget},
		{name: "no reason", provider: people, line: "mallory@contoso.com", want: approvals.ErrReasonRequired},
		{name: "lookup fails", provider: directory{err: providers.ErrTemporary}, line: "mallory@contoso.com --reason phish", want: providers.ErrTemporary},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			testdb.Each(t, func(t *testing.T, url string) {
				f := newFixture(t, url, tt.provider)
				r, err := f.file(t, tt.line)
				var notFiled *workflow.NotFiledError
				switch {
				case tt.problems != nil:
					if !errors.As(err, &notFiled) {
						t.Fatalf("File: %v, want a *NotFiledError", err)
					}
					if diff := cmp.Diff(tt.problems, notFiled.Problems); diff != "" {
						t.Errorf("problems (-want +got):\n%s", diff)
					}
				case tt.want != nil:
					if !errors.Is(err, tt.want) {
						t.Fatalf("File: %v, want %v", err, tt.want)
					}
				default:
					if err != nil {
						t.Fatalf("File: %v", err)
					}
					f.checkFiled(t, r)
					return
				}
				if rs := f.stored(t); len(rs) != 0 {
					t.Errorf("%d requests stored after a refusal, want none", len(rs))
				}
			})
		})
	}
}

// checkFiled checks that r is stored pending, with each item bound to the
// identity its target resolved to.
func (f *fixture) checkFiled(t *testing.T, r approvals.Request) {
	t.Helper()
	ctx := context.Background()
	got, err := f.store.Get(ctx, r.ID)
	if err != nil || got.State != approvals.StatePending || got.Requester.Person != "alice" {
		t.Fatalf("stored request: %s by %q, %v; want pending by alice", got.State, got.Requester.Person, err)
	}
	items, err := f.store.Items(ctx, r.ID)
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]string{}
	for _, it := range items {
		ids[it.Key] = it.Identity.ID
	}
	if want := map[string]string{"mallory@contoso.com": "id-mallory", "eve@contoso.com": "id-eve"}; !cmp.Equal(ids, want) {
		t.Errorf("items bound to %v, want %v", ids, want)
	}
}

// TestDraftRouting: a refusal of the router is an error of Draft, with a
// message people may be shown.
func TestDraftRouting(t *testing.T) {
	f := newFixture(t, testdb.SQLite(t), people)
	spec := approvals.Spec{Action: approvals.ActionDisable, Provider: "graph", Targets: []string{"eve@contoso.com"}, Reason: "x"}
	_, err := f.wf.Draft(context.Background(), spec, who("alice"), approvers{"bob"})
	var perr *providers.Error
	if !errors.Is(err, providers.ErrNoProvider) || !errors.As(err, &perr) || perr.Msg != `provider "graph" is not configured` {
		t.Fatalf("Draft: %v, want the router's refusal", err)
	}
}

// TestDecide: approve, deny and cancel apply the approvals rules, and the
// check before a denial's dialog agrees with the denial itself.
func TestDecide(t *testing.T) {
	testdb.Each(t, func(t *testing.T, url string) {
		ctx := context.Background()
		f := newFixture(t, url, people)
		r, err := f.file(t, "mallory@contoso.com --reason phish")
		if err != nil {
			t.Fatal(err)
		}
		short := approvals.ShortHash(r.Hash)
		refusals := []struct {
			name   string
			person string
			hash   string
			want   error
		}{
			{"requester", "alice", short, approvals.ErrSelfApproval},
			{"not an approver", "mallory", short, approvals.ErrNotApprover},
			{"another card's hash", "bob", "000000000000", approvals.ErrHashMismatch},
		}
		for _, tt := range refusals {
			if err := f.wf.MayDeny(ctx, who(tt.person), r.ID, tt.hash); !errors.Is(err, tt.want) {
				t.Errorf("%s: MayDeny = %v, want %v", tt.name, err, tt.want)
			}
			if _, err := f.wf.Deny(ctx, who(tt.person), r.ID, tt.hash, "no"); !errors.Is(err, tt.want) {
				t.Errorf("%s: Deny = %v, want %v", tt.name, err, tt.want)
			}
			if _, err := f.wf.Approve(ctx, who(tt.person), r.ID, tt.hash); !errors.Is(err, tt.want) {
				t.Errorf("%s: Approve = %v, want %v", tt.name, err, tt.want)
			}
		}
		if err := f.wf.MayDeny(ctx, who("bob"), r.ID, short); err != nil {
			t.Errorf("MayDeny(bob) = %v, want nil", err)
		}
		// A reason --reason refuses is refused in the dialog too.
		var perr *commands.Error
		if _, err := f.wf.Deny(ctx, who("bob"), r.ID, short, "a\u202eb"); !errors.As(err, &perr) {
			t.Errorf("Deny with a bidi override: %v, want a *commands.Error", err)
		}
		if _, err := f.wf.Cancel(ctx, who("bob"), r.ID, ""); !errors.Is(err, approvals.ErrNotAllowed) {
			t.Errorf("Cancel by another approver: %v, want ErrNotAllowed", err)
		}
		if got, _ := f.store.Get(ctx, r.ID); got.State != approvals.StatePending {
			t.Fatalf("after refusals the request is %s, want pending", got.State)
		}

		f.clock.set(t0.Add(10 * time.Minute))
		got, err := f.wf.Approve(ctx, who("bob"), r.ID, short)
		if err != nil || got.State != approvals.StateApproved {
			t.Fatalf("Approve(bob) = %s, %v; want approved", got.State, err)
		}
		if want := []string{"disable 10m0s"}; !cmp.Equal(f.metrics.seen, want) {
			t.Errorf("approval waits observed %v, want %v", f.metrics.seen, want)
		}
		if err := f.wf.MayDeny(ctx, who("carol"), r.ID, short); !errors.Is(err, approvals.ErrAlreadyDecided) {
			t.Errorf("MayDeny after approval = %v, want ErrAlreadyDecided", err)
		}

		denied, err := f.file(t, "eve@contoso.com --reason phish")
		if err != nil {
			t.Fatal(err)
		}
		got, err = f.wf.Deny(ctx, who("carol"), denied.ID, denied.Hash, "  known traveller ")
		if err != nil || got.State != approvals.StateDenied || got.Denial == nil || got.Denial.Reason != "known traveller" {
			t.Fatalf("Deny(carol) = %s %+v, %v; want denied for the trimmed reason", got.State, got.Denial, err)
		}

		cancelled, err := f.file(t, "eve@contoso.com --reason phish")
		if err != nil {
			t.Fatal(err)
		}
		got, err = f.wf.Cancel(ctx, who("root"), cancelled.ID, "filed twice")
		if err != nil || got.State != approvals.StateCancelled || got.Cancel == nil || got.Cancel.Reason != "filed twice" {
			t.Fatalf("Cancel by an administrator = %s %+v, %v; want cancelled", got.State, got.Cancel, err)
		}
	})
}

// TestExpireDue expires every pending request past its TTL, in batches,
// and nothing else.
func TestExpireDue(t *testing.T) {
	testdb.Each(t, func(t *testing.T, url string) {
		ctx := context.Background()
		f := newFixture(t, url, people)
		// More than one batch of due requests, filed at t0.
		var due []int64
		for range 102 {
			r, err := f.file(t, "mallory@contoso.com --reason phish")
			if err != nil {
				t.Fatal(err)
			}
			due = append(due, r.ID)
		}
		approved := due[0]
		if _, err := f.wf.Approve(ctx, who("bob"), approved, approvals.ShortHash(mustGet(t, f, approved).Hash)); err != nil {
			t.Fatal(err)
		}
		due = due[1:]
		f.clock.set(t0.Add(30 * time.Minute))
		fresh, err := f.file(t, "eve@contoso.com --reason phish") // expires at t0+90m
		if err != nil {
			t.Fatal(err)
		}

		f.clock.set(t0.Add(time.Hour))
		got, err := f.wf.ExpireDue(ctx)
		if err != nil {
			t.Fatal(err)
		}
		slices.Sort(got)
		if !cmp.Equal(got, due) {
			t.Errorf("expired %d requests, want the %d due ones:\n%s", len(got), len(due), cmp.Diff(due, got))
		}
		for id, want := range map[int64]approvals.State{approved: approvals.StateApproved, fresh.ID: approvals.StatePending, due[0]: approvals.StateExpired, due[len(due)-1]: approvals.StateExpired} {
			if st := mustGet(t, f, id).State; st != want {
				t.Errorf("request %d is %s, want %s", id, st, want)
			}
		}
		if again, err := f.wf.ExpireDue(ctx); err != nil || len(again) != 0 {
			t.Errorf("second sweep expired %v, %v; want nothing", again, err)
		}
	})
}

func mustGet(t *testing.T, f *fixture, id int64) approvals.Request {
	t.Helper()
	r, err := f.store.Get(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return r
}
