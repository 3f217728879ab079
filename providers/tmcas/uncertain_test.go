package tmcas_test

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/countersign/countersign/approvals"
	"github.com/countersign/countersign/providers"
	"github.com/countersign/countersign/providers/internal/providertest"
	"github.com/countersign/countersign/providers/tmcas"
	"github.com/countersign/countersign/providers/tmcas/tmcastest"
)

// postFault is one way a POST can end with the action taken but no clear
// answer.
type postFault struct {
	name   string
	faults tmcastest.Faults
	client func(*tmcas.Config)
}

// postFaults are the answers after which a POST may have been performed:
// TMCAS created the batch, then answered 500, 502, 503 or 504, or never
// answered (the client times out after writing the request).
func postFaults() []postFault {
	var out []postFault
	for _, st := range []int{500, 502, 503, 504} {
		out = append(out, postFault{name: fmt.Sprint(st), faults: tmcastest.Faults{StatusAfterCreate: st}})
	}
	return append(out, postFault{name: "timeout after write", faults: tmcastest.Faults{HangAfterCreate: true},
		client: func(cfg *tmcas.Config) { cfg.HTTPClient = &http.Client{Timeout: 200 * time.Millisecond} }})
}

// postKinds are the two POSTs of TMCAS: a batch of account actions and a
// batch of mail actions, each with the spec that makes it.
func postKinds(f *tmcastest.Server) []struct {
	name string
	spec approvals.Spec
} {
	f.AddAccount("a@x.com")
	f.AddAccount("b@x.com")
	seedMessage(f, "<m@x>", "Invoice", time.Now().Add(-time.Hour), "a@x.com", "b@x.com")
	return []struct {
		name string
		spec approvals.Spec
	}{
		{"accounts", accountSpec(approvals.ActionDisable, "a@x.com", "b@x.com")},
		{"mails", mailSpec("quarantine", nil, "<m@x>")},
	}
}

// forEachUncertainPOST runs test for each POST of TMCAS under each answer
// after which it may have been performed, each with a fresh fake and a
// client of it that retries retries times (0: the default).
func forEachUncertainPOST(t *testing.T, retries int, test func(t *testing.T, f *tmcastest.Server, c *tmcas.Client, spec approvals.Spec, pf postFault)) {
	for _, pf := range postFaults() {
		for i := range 2 {
			f := newFake(t, tmcastest.Options{})
			kind := postKinds(f)[i]
			t.Run(kind.name+" "+pf.name, func(t *testing.T) {
				c := newClient(t, f, func(cfg *tmcas.Config) {
					cfg.MaxRetries = retries
					if pf.client != nil {
						pf.client(cfg)
					}
				})
				test(t, f, c, kind.spec, pf)
			})
		}
	}
}

// TestUncertainPOSTNeverRepeated: whatever the answer that may mean TMCAS
// acted, the POST reaches TMCAS exactly once and Submit says the outcome is
// uncertain, not temporary.
func TestUncertainPOSTNeverRepeated(t *testing.T) {
	forEachUncertainPOST(t, 3, func(t *testing.T, f *tmcastest.Server, c *tmcas.Client, spec approvals.Spec, pf postFault) {
		providertest.SubmitUncertain(t, c, spec, time.Now, f.SetFaults, pf.faults, tmcastest.Faults{})
		if n := f.Posts(); n != 1 {
			t.Errorf("POSTs: got %d, want exactly 1", n)
		}
		if n := len(f.BatchIDs()); n != 1 {
			t.Errorf("batches: got %d, want the 1 TMCAS created", n)
		}
	})
}

// TestRefusedPOSTs: answers that certainly did nothing keep their handling.
// 429 is retried; 400, 401, 403 and 404 are final at once.
func TestRefusedPOSTs(t *testing.T) {
	tests := []struct {
		name      string
		faults    tmcastest.Faults
		token     string
		wantPosts int
		temporary bool
	}{
		{name: "429 with Retry-After", faults: tmcastest.Faults{Rate429: 1, RetryAfter: true, InjectedRetryAfter: time.Millisecond}, wantPosts: 4, temporary: true},
		{name: "401", token: "wrong", wantPosts: 1},
		{name: "403", faults: tmcastest.Faults{Forbidden: []string{"/v1/mitigation"}}, wantPosts: 1},
		{name: "400", faults: tmcastest.Faults{UnknownUsers: tmcastest.UnknownReject}, wantPosts: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t, tmcastest.Options{Faults: tt.faults})
			c := newClient(t, f, func(cfg *tmcas.Config) {
				cfg.MaxRetries = 3
				if tt.token != "" {
					cfg.Token = tt.token
				}
			})
			spec := accountSpec(approvals.ActionDisable, "ghost@x.com")
			items, _ := c.Resolve(providertest.Context(t), spec)
			_, err := c.Submit(providertest.Context(t), providers.Batch{Spec: spec, Items: items})
			if err == nil || errors.Is(err, providers.ErrUncertain) || errors.Is(err, providers.ErrTemporary) != tt.temporary {
				t.Errorf("Submit: got %v, want a refusal (temporary %v), never uncertain", err, tt.temporary)
			}
			if n := f.Posts(); n != tt.wantPosts {
				t.Errorf("POSTs: got %d, want %d", n, tt.wantPosts)
			}
			if n := len(f.BatchIDs()); n != 0 {
				t.Errorf("refused POSTs created %d batches", n)
			}
		})
	}
}

// TestReconcileAfterUncertainPOST is the fault matrix of TMCAS's two POSTs:
// after each answer that may mean TMCAS acted, exactly one POST reached
// TMCAS, and Reconcile finds the batch it created, which then runs to its
// end like any other.
func TestReconcileAfterUncertainPOST(t *testing.T) {
	forEachUncertainPOST(t, 0, func(t *testing.T, f *tmcastest.Server, c *tmcas.Client, spec approvals.Spec, pf postFault) {
		batch, sentAt := providertest.SubmitUncertain(t, c, spec, time.Now, f.SetFaults, pf.faults, tmcastest.Faults{})
		ctx := providertest.Context(t)
		r, err := c.Reconcile(ctx, batch, sentAt)
		if err != nil {
			t.Fatalf("Reconcile: %v", err)
		}
		if r.Submission == nil || len(r.Unknown) != 0 {
			t.Fatalf("Reconcile: got %+v, want the batch TMCAS created and nothing unknown", r)
		}
		if ids := f.BatchIDs(); len(ids) != 1 || r.Submission.ID != ids[0] {
			t.Errorf("reconciled batch %q, want the one created: %v", r.Submission.ID, ids)
		}
		if n := len(r.Submission.Items); n != len(batch.Items) {
			t.Errorf("reconciled items: got %d, want all %d", n, len(batch.Items))
		}
		for k, st := range providertest.Statuses(providertest.PollToEnd(t, ctx, c, *r.Submission, 50)) {
			if st != approvals.ItemSucceeded {
				t.Errorf("%s: got %s, want succeeded", k, st)
			}
		}
		if n := f.Posts(); n != 1 {
			t.Errorf("POSTs: got %d, want exactly 1", n)
		}
	})
}

// TestReconcileCannotTell: what TMCAS cannot answer stays unknown, with a
// note naming the target and the time window, and nothing is sent again.
func TestReconcileCannotTell(t *testing.T) {
	tests := []struct {
		name string
		// before runs ahead of the uncertain Submit (other requests).
		before     func(t *testing.T, c *tmcas.Client)
		faults     tmcastest.Faults // during Submit
		after      tmcastest.Faults // during Reconcile
		wantInNote string
	}{
		{name: "refused with 5xx: no batch", faults: tmcastest.Faults{Rate5xx: 1}, wantInNote: "lists no batch with exactly the actions"},
		{name: "batch not listed yet", faults: tmcastest.Faults{StatusAfterCreate: 500}, after: tmcastest.Faults{HiddenPolls: 1},
			wantInNote: "may list it late"},
		{name: "the same actions twice", faults: tmcastest.Faults{StatusAfterCreate: 503},
			before: func(t *testing.T, c *tmcas.Client) {
				providertest.Submit(t, providertest.Context(t), c, accountSpec(approvals.ActionDisable, "a@x.com", "b@x.com"))
			}, wantInNote: "lists 2 batches with exactly these actions"},
		{name: "another batch on one of the targets is not ours", faults: tmcastest.Faults{Rate5xx: 1},
			before: func(t *testing.T, c *tmcas.Client) {
				providertest.Submit(t, providertest.Context(t), c, accountSpec(approvals.ActionDisable, "a@x.com"))
			}, wantInNote: "lists no batch with exactly the actions"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t, tmcastest.Options{})
			f.AddAccount("a@x.com")
			f.AddAccount("b@x.com")
			c := newClient(t, f, nil)
			ctx := providertest.Context(t)
			if tt.before != nil {
				tt.before(t, c)
			}
			posts := f.Posts()
			batch, sentAt := providertest.SubmitUncertain(t, c, accountSpec(approvals.ActionDisable, "a@x.com", "b@x.com"),
				time.Now, f.SetFaults, tt.faults, tt.after)
			r, err := c.Reconcile(ctx, batch, sentAt)
			if err != nil {
				t.Fatalf("Reconcile: %v", err)
			}
			if r.Submission != nil || len(r.Unknown) != 2 {
				t.Fatalf("Reconcile: got %+v, want both items unknown", r)
			}
			for key, note := range r.Unknown {
				for _, want := range []string{tt.wantInNote, "ACCOUNT_DISABLE on " + key, "between ", "did not send it again"} {
					if !strings.Contains(note, want) {
						t.Errorf("%s: note %q lacks %q", key, note, want)
					}
				}
			}
			if n := f.Posts() - posts; n != 1 {
				t.Errorf("POSTs: got %d, want exactly 1", n)
			}
		})
	}
}

// TestReconcileQueryIsDocumented: the query by time carries start and end
// as ISO-8601 UTC within the last 72 hours, and nothing else.
func TestReconcileQueryIsDocumented(t *testing.T) {
	f := newFake(t, tmcastest.Options{})
	f.AddAccount("a@x.com")
	c := newClient(t, f, nil)
	ctx := providertest.Context(t)
	spec := accountSpec(approvals.ActionDisable, "a@x.com")
	items, _ := c.Resolve(ctx, spec)
	// A crash found days later: the window is cut to what TMCAS keeps.
	if _, err := c.Reconcile(ctx, providers.Batch{Spec: spec, Items: items}, time.Now().Add(-5*24*time.Hour)); err != nil {
		t.Fatalf("Reconcile: %v", err)
	}
	calls := f.Calls()
	if len(calls) != 1 || calls[0].Method != http.MethodGet || calls[0].Path != "/v1/mitigation/accounts" {
		t.Fatalf("calls: got %+v, want one GET of the account results", calls)
	}
	q := calls[0].Query
	for _, k := range []string{"start", "end"} {
		if _, err := time.Parse("2006-01-02T15:04:05.000Z", q.Get(k)); err != nil {
			t.Errorf("%s=%q: want ISO-8601 UTC with milliseconds", k, q.Get(k))
		}
	}
	if len(q) != 2 || calls[0].Status != http.StatusOK {
		t.Errorf("query %v answered %d, want only start and end, accepted", q, calls[0].Status)
	}
}
