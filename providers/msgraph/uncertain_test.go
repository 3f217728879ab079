package msgraph

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/countersign/countersign/approvals"
	"github.com/countersign/countersign/providers"
	"github.com/countersign/countersign/providers/internal/providertest"
	"github.com/countersign/countersign/providers/msgraph/graphtest"
)

// postFault is one way a POST can end with the action taken but no clear
// answer.
type postFault struct {
	name   string
	faults graphtest.Faults
	hc     *http.Client
}

// postFaults are the answers after which a POST may have been performed:
// Graph acted, then answered 500, 502, 503 or 504, or never answered (the
// client times out after writing the request).
func postFaults() []postFault {
	var out []postFault
	for _, st := range []int{500, 502, 503, 504} {
		out = append(out, postFault{name: fmt.Sprint(st), faults: graphtest.Faults{StatusAfterAction: st}})
	}
	return append(out, postFault{name: "timeout after write", faults: graphtest.Faults{HangAfterAction: true},
		hc: &http.Client{Timeout: 300 * time.Millisecond}})
}

// postOp is one Graph POST that acts, with the spec that makes it.
type postOp struct {
	name string
	spec approvals.Spec
}

func postOps() []postOp {
	return []postOp{
		{"invokeAction", accountSpec(approvals.ActionDisable, "mallory@contoso.com")},
		{"remediate", mailSpec("junk", nmidA)},
		{"securityActions", ipSpec("198.51.100.7")},
	}
}

// TestUncertainPOSTNeverRepeated: whatever the answer that may mean Graph
// acted, the POST reaches Graph exactly once and Submit says the outcome is
// uncertain, not temporary.
func TestUncertainPOSTNeverRepeated(t *testing.T) {
	for _, op := range postOps() {
		for _, pf := range postFaults() {
			t.Run(op.name+" "+pf.name, func(t *testing.T) {
				f := seededFixture(t, pf.hc, 3)
				uncertainSubmit(t, f, op.spec, pf.faults)
				if n := f.srv.Posts(); n != 1 {
					t.Errorf("POSTs: got %d, want exactly 1", n)
				}
				acted := len(f.srv.Invocations()) + len(f.srv.Remediations()) + len(f.srv.SecurityActions())
				if acted != 1 {
					t.Errorf("Graph acted %d times, want once", acted)
				}
			})
		}
	}
}

// TestRefusedPOSTs: answers that certainly did nothing keep their handling.
// 429 is retried; 400 and 403 are final at once; a 401 gets one fresh token.
func TestRefusedPOSTs(t *testing.T) {
	tests := []struct {
		name      string
		faults    graphtest.Faults
		expire    bool
		wantPosts int
		wantErr   func(error) bool
	}{
		{name: "429 with Retry-After", faults: graphtest.Faults{Rate429: 1, RetryAfter: time.Millisecond}, wantPosts: 4,
			wantErr: func(err error) bool { return errors.Is(err, providers.ErrTemporary) }},
		{name: "429 without Retry-After", faults: graphtest.Faults{Rate429: 1}, wantPosts: 4,
			wantErr: func(err error) bool { return errors.Is(err, providers.ErrTemporary) }},
		{name: "400", faults: graphtest.Faults{FailAccounts: []string{"mallory@contoso.com"}}, wantPosts: 1,
			wantErr: func(err error) bool { var ge *Error; return errors.As(err, &ge) && ge.Status == 400 }},
		{name: "403", faults: graphtest.Faults{DenyPermissions: []string{graphtest.PermissionActions}}, wantPosts: 1,
			wantErr: func(err error) bool { var ge *Error; return errors.As(err, &ge) && ge.Status == 403 }},
		{name: "401 then a fresh token", expire: true, wantPosts: 2, wantErr: func(err error) bool { return err == nil }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, graphtest.Options{}, func(c *Config) { c.MaxRetries = 3 })
			ctx := providertest.Context(t)
			batch := f.disableMallory(t, ctx)
			f.srv.SetFaults(tt.faults)
			if tt.expire {
				f.srv.ExpireTokens()
			}
			_, err := f.c.Submit(ctx, batch)
			if !tt.wantErr(err) || errors.Is(err, providers.ErrUncertain) {
				t.Errorf("Submit: got %v", err)
			}
			if n := f.srv.Posts(); n != tt.wantPosts {
				t.Errorf("POSTs: got %d, want %d", n, tt.wantPosts)
			}
			if want := 0; tt.expire {
				if n := len(f.srv.Invocations()); n != 1 {
					t.Errorf("invocations: got %d, want 1", n)
				}
			} else if n := len(f.srv.Invocations()); n != want {
				t.Errorf("refused POSTs made %d invocations", n)
			}
		})
	}
}

// seededFixture is a fake Graph with the directory and the mail seeded
// and a client of it that may block IPs, sending with hc unless it is nil
// and retrying retries times (0: the default).
func seededFixture(t *testing.T, hc *http.Client, retries int) *fixture {
	t.Helper()
	f := newFixture(t, graphtest.Options{Now: mailNow}, func(c *Config) {
		c.Now = mailNow
		c.MaxRetries = retries
		legacy(c)
		if hc != nil {
			c.HTTPClient = hc
		}
	})
	seedDirectory(f.srv)
	seedMail(f.srv, "")
	return f
}

// uncertainSubmit resolves spec and submits it under faults, which must
// make the outcome uncertain; it returns the batch and when it was sent.
func uncertainSubmit(t *testing.T, f *fixture, spec approvals.Spec, faults graphtest.Faults) (providers.Batch, time.Time) {
	t.Helper()
	return providertest.SubmitUncertain(t, f.c, spec, mailNow, f.srv.SetFaults, faults, graphtest.Faults{})
}

// pollToEnd polls sub until it is done, at most 10 times, and returns
// its items by key.
func pollToEnd(t *testing.T, c *Client, sub providers.Submission) map[string]providers.ItemStatus {
	t.Helper()
	out := map[string]providers.ItemStatus{}
	for _, st := range providertest.PollToEnd(t, providertest.Context(t), c, sub, 10).Items {
		out[st.Key] = st
	}
	return out
}

// TestReconcileAfterUncertainPOST is the fault matrix of Graph's POSTs:
// after each answer that may mean Graph acted, exactly one POST reached
// Graph, and Reconcile finds what it did from the state the action
// changed, so every item runs to success.
func TestReconcileAfterUncertainPOST(t *testing.T) {
	for _, op := range postOps() {
		for _, pf := range postFaults() {
			t.Run(op.name+" "+pf.name, func(t *testing.T) {
				f := seededFixture(t, pf.hc, 0)
				batch, sentAt := uncertainSubmit(t, f, op.spec, pf.faults)
				r, err := f.c.Reconcile(providertest.Context(t), batch, sentAt)
				if err != nil {
					t.Fatalf("Reconcile: %v", err)
				}
				if r.Submission == nil || len(r.Unknown) != 0 || len(r.Submission.Items) != len(batch.Items) {
					t.Fatalf("Reconcile: got %+v, want every item received and nothing unknown", r)
				}
				got := pollToEnd(t, f.c, *r.Submission)
				for _, it := range batch.Items {
					if got[it.Key].Status != approvals.ItemSucceeded {
						t.Errorf("%s: got %+v, want succeeded", it.Key, got[it.Key])
					}
				}
				if n := f.srv.Posts(); n != 1 {
					t.Errorf("POSTs: got %d, want exactly 1", n)
				}
			})
		}
	}
}

// TestReconcileCannotTell: what Graph does not show stays unknown with a
// note saying what to check; what it shows as not performed is polled and
// ends in Graph's words; nothing is sent again.
func TestReconcileCannotTell(t *testing.T) {
	tests := []struct {
		name     string
		spec     approvals.Spec
		faults   graphtest.Faults
		behavior graphtest.Behavior
		before   func(t *testing.T, f *fixture) // runs ahead of the uncertain Submit
		// wantUnknown maps item keys to a text their note must hold;
		// wantPolled maps the others to their final status.
		wantUnknown map[string]string
		wantPolled  map[string]approvals.ItemStatus
		wantInPolls map[string]string // item key → text of its polled detail
	}{
		{name: "disable refused with 5xx", spec: accountSpec(approvals.ActionDisable, "mallory@contoso.com"),
			faults:      graphtest.Faults{Rate5xx: 1},
			wantUnknown: map[string]string{"mallory@contoso.com": "still shows Mallory Example <mallory@contoso.com> (identity account "}},
		{name: "disable applied late", spec: accountSpec(approvals.ActionDisable, "mallory@contoso.com"),
			faults: graphtest.Faults{StatusAfterAction: 500}, behavior: graphtest.Behavior{ApplyAfterReads: 2},
			wantUnknown: map[string]string{"mallory@contoso.com": "Graph may still apply it"}},
		{name: "password reset leaves no trace", spec: accountSpec(approvals.ActionResetPassword, "mallory@contoso.com"),
			faults:      graphtest.Faults{StatusAfterAction: 502},
			wantUnknown: map[string]string{"mallory@contoso.com": "Graph shows nothing that tells whether forcePasswordReset was performed"}},
		{name: "remediate refused with 5xx", spec: mailSpec("junk", nmidA), faults: graphtest.Faults{Rate5xx: 1},
			wantUnknown: func() map[string]string {
				m := map[string]string{}
				for _, r := range mailRecipients(5) {
					m[nmidA+"/"+r] = "the message is still in inbox_folder with no admin action on its timeline since"
				}
				return m
			}()},
		// Graph shows it did not perform the remediation for user2: polled,
		// it ends failed in Graph's words rather than being sent again.
		{name: "remediate failed for one recipient", spec: mailSpec("junk", nmidA),
			faults:      graphtest.Faults{StatusAfterAction: 504, FailRecipients: []string{"user2@contoso.com"}},
			wantInPolls: map[string]string{nmidA + "/user2@contoso.com": "Graph timeline: Failed"},
			wantPolled: map[string]approvals.ItemStatus{
				nmidA + "/user1@contoso.com": approvals.ItemSucceeded, nmidA + "/user2@contoso.com": approvals.ItemFailed,
				nmidA + "/user3@contoso.com": approvals.ItemSucceeded, nmidA + "/user4@contoso.com": approvals.ItemSucceeded,
				nmidA + "/user5@contoso.com": approvals.ItemSucceeded}},
		{name: "remediate applied late", spec: mailSpec("junk", nmidA), faults: graphtest.Faults{StatusAfterAction: 503},
			behavior: graphtest.Behavior{RemediateAfterReads: 1},
			wantUnknown: func() map[string]string {
				m := map[string]string{}
				for _, r := range mailRecipients(5) {
					m[nmidA+"/"+r] = "Graph may not have received the moveToJunk, or may apply it late"
				}
				return m
			}()},
		{name: "BlockIp refused with 5xx", spec: ipSpec("198.51.100.7"), faults: graphtest.Faults{Rate5xx: 1},
			wantUnknown: map[string]string{"198.51.100.7": "Graph lists no BlockIp of 198.51.100.7 with the reason"}},
		{name: "two BlockIps with this reason", spec: ipSpec("198.51.100.7"), faults: graphtest.Faults{StatusAfterAction: 500},
			before: func(t *testing.T, f *fixture) {
				items, _ := f.c.Resolve(providertest.Context(t), ipSpec("198.51.100.7"))
				if _, err := f.c.Submit(providertest.Context(t), providers.Batch{RequestID: 7, Spec: ipSpec("198.51.100.7"), Items: items,
					Label: "Countersign request 7", Note: "phish"}); err != nil {
					t.Fatal(err)
				}
			},
			wantUnknown: map[string]string{"198.51.100.7": "Graph lists 2 BlockIp securityActions of 198.51.100.7"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := seededFixture(t, nil, 0)
			if tt.before != nil {
				tt.before(t, f)
			}
			posts := f.srv.Posts()
			f.srv.SetBehavior(tt.behavior)
			batch, sentAt := uncertainSubmit(t, f, tt.spec, tt.faults)
			r, err := f.c.Reconcile(providertest.Context(t), batch, sentAt)
			if err != nil {
				t.Fatalf("Reconcile: %v", err)
			}
			if len(r.Unknown) != len(tt.wantUnknown) {
				t.Errorf("unknown: got %v, want %d items", r.Unknown, len(tt.wantUnknown))
			}
			for key, want := range tt.wantUnknown {
				note := r.Unknown[key]
				t.Logf("%s: %s", key, note)
				if !strings.Contains(note, want) || !strings.Contains(note, "did not send it again") {
					t.Errorf("%s: note %q, want it to say %q and that nothing was sent again", key, note, want)
				}
			}
			if len(tt.wantPolled) == 0 {
				if r.Submission != nil {
					t.Errorf("Reconcile: got a submission %+v, want none", r.Submission)
				}
			} else {
				if r.Submission == nil {
					t.Fatal("Reconcile: no submission")
				}
				got := map[string]approvals.ItemStatus{}
				for k, st := range pollToEnd(t, f.c, *r.Submission) {
					got[k] = st.Status
					if want := tt.wantInPolls[k]; !strings.Contains(st.Detail, want) {
						t.Errorf("%s: detail %q, want %q", k, st.Detail, want)
					}
				}
				if diff := cmp.Diff(tt.wantPolled, got); diff != "" {
					t.Errorf("polled outcomes (-want +got):\n%s", diff)
				}
			}
			if n := f.srv.Posts() - posts; n != 1 {
				t.Errorf("POSTs: got %d, want exactly 1", n)
			}
		})
	}
}
