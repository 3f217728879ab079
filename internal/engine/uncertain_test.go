package engine

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/countersign/countersign/approvals"
	"github.com/countersign/countersign/internal/audit"
	"github.com/countersign/countersign/internal/store"
	"github.com/countersign/countersign/internal/store/storetest"
	"github.com/countersign/countersign/internal/testdb"
	"github.com/countersign/countersign/providers"
	"github.com/countersign/countersign/providers/msgraph"
	"github.com/countersign/countersign/providers/msgraph/graphtest"
	"github.com/countersign/countersign/providers/tmcas"
	"github.com/countersign/countersign/providers/tmcas/tmcastest"
)

// reconcilingFake is a fakeProvider whose uncertain Submits did act when
// performed is set, and which answers Reconcile: the keys in received are
// shown received, the rest unknown with a note, except those in silent,
// about which it says nothing.
type reconcilingFake struct {
	*fakeProvider
	performed bool
	received  map[string]bool
	silent    map[string]bool
	err       error // Reconcile fails with it
	asked     []providers.Batch
}

func (f *reconcilingFake) Provider(name string) (providers.Provider, bool) { return f, name == "fake" }

func (f *reconcilingFake) Submit(ctx context.Context, b providers.Batch) (providers.Submission, error) {
	sub, err := f.fakeProvider.Submit(ctx, b)
	if f.performed && err == nil {
		return providers.Submission{}, fmt.Errorf("HTTP 503: %w", providers.ErrUncertain)
	}
	return sub, err
}

func (f *reconcilingFake) Reconcile(_ context.Context, b providers.Batch, _ time.Time) (providers.Reconciliation, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.asked = append(f.asked, b)
	if f.err != nil {
		return providers.Reconciliation{}, f.err
	}
	id := fmt.Sprintf("b%d", len(f.batches))
	r := providers.Reconciliation{Submission: &providers.Submission{Provider: "fake", ID: id, Data: []byte(`{"batch":"` + id + `"}`)},
		Unknown: map[string]string{}}
	for _, it := range b.Items {
		switch {
		case f.received[it.Key]:
			r.Submission.Items = append(r.Submission.Items, providers.SubmittedItem{Key: it.Key, Ref: "ref-" + it.Key})
		case !f.silent[it.Key]:
			r.Unknown[it.Key] = "look for " + it.Key + " in the console"
		}
	}
	// A foreign key the step did not carry is ignored.
	r.Submission.Items = append(r.Submission.Items, providers.SubmittedItem{Key: "stranger@contoso.com"})
	return r, nil
}

func TestUncertainStepIsReconciled(t *testing.T) {
	const a, b, c = "a@contoso.com", "b@contoso.com", "c@contoso.com"
	generic := "fake answered uncertainly (HTTP 503: provider call outcome is unknown)"
	cases := []struct {
		name      string
		fake      func() *reconcilingFake
		wantState approvals.State
		wantItems map[string]string
		wantSteps int // Submits made
	}{{
		name: "everything received: polled to the end",
		fake: func() *reconcilingFake {
			return &reconcilingFake{performed: true, received: map[string]bool{a: true, b: true, c: true}}
		},
		wantState: approvals.StateSucceeded,
		wantItems: map[string]string{a: "succeeded", b: "succeeded", c: "succeeded"},
		wantSteps: 1,
	}, {
		name:      "some unknown: the rest is polled, the request needs attention",
		fake:      func() *reconcilingFake { return &reconcilingFake{performed: true, received: map[string]bool{a: true}} },
		wantState: approvals.StateNeedsAttention,
		wantItems: map[string]string{a: "succeeded", b: "unknown: look for b@contoso.com in the console",
			c: "unknown: look for c@contoso.com in the console"},
		wantSteps: 1,
	}, {
		name: "an item the provider says nothing about is unknown",
		fake: func() *reconcilingFake {
			return &reconcilingFake{performed: true, received: map[string]bool{a: true, b: true}, silent: map[string]bool{c: true}}
		},
		wantState: approvals.StateNeedsAttention,
		wantItems: map[string]string{a: "succeeded", b: "succeeded",
			c: "unknown: fake did not say what became of this item after an uncertain answer"},
		wantSteps: 1,
	}, {
		name:      "asking fails",
		fake:      func() *reconcilingFake { return &reconcilingFake{performed: true, err: fmt.Errorf("HTTP 401")} },
		wantState: approvals.StateNeedsAttention,
		wantItems: map[string]string{a: "unknown: " + generic + ", and asking it what it did failed (HTTP 401)",
			b: "unknown: " + generic + ", and asking it what it did failed (HTTP 401)",
			c: "unknown: " + generic + ", and asking it what it did failed (HTTP 401)"},
		wantSteps: 1,
	}}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			testdb.Each(t, func(t *testing.T, url string) {
				s := testdb.Store(t, url)
				f := tc.fake()
				f.fakeProvider = newFakeProvider()
				e, _, _ := testEngine(t, s, f, fixed(t0))
				r := approvedRequest(t, s, "fake", t0, a, b, c)
				drive(t, e, r.ID)
				got := getRequest(t, s, r.ID)
				if got.State != tc.wantState {
					t.Errorf("state = %s (%s), want %s", got.State, got.Note, tc.wantState)
				}
				items := itemStates(t, s, r.ID)
				for k, want := range tc.wantItems {
					if !strings.HasPrefix(items[k], want) {
						t.Errorf("%s = %q, want it to start with %q", k, items[k], want)
					}
				}
				if n := len(f.submitted()); n != tc.wantSteps {
					t.Errorf("Submits = %d, want %d: an uncertain step is never sent again", n, tc.wantSteps)
				}
				if len(f.asked) != 1 {
					t.Errorf("Reconcile asked %d times, want once", len(f.asked))
				}
				if tc.wantState == approvals.StateNeedsAttention && !strings.Contains(got.Note, "may or may not have been performed") {
					t.Errorf("note %q does not say why it needs attention", got.Note)
				}
				kinds := auditKinds(t, s, r.ID)
				if _, err := s.VerifyAudit(context.Background()); err != nil {
					t.Error(err)
				}
				if !strings.Contains(strings.Join(kinds, " "), "submitting submitted") {
					t.Errorf("audit %v: want the uncertain step recorded", kinds)
				}
			})
		})
	}
}

func TestUncertainStepTheRestGoesOn(t *testing.T) {
	// Chunks of one: the first is uncertain and unknown, the others are
	// sent as usual; the request needs attention for the first only.
	const a, b, c = "a@contoso.com", "b@contoso.com", "c@contoso.com"
	testdb.Each(t, func(t *testing.T, url string) {
		s := testdb.Store(t, url)
		f := &reconcilingFake{fakeProvider: newFakeProvider()}
		f.maxItems = 1
		f.submitErrs = []error{fmt.Errorf("timeout after write: %w", providers.ErrUncertain)}
		e, _, _ := testEngine(t, s, f, fixed(t0))
		r := approvedRequest(t, s, "fake", t0, a, b, c)
		drive(t, e, r.ID)
		got := getRequest(t, s, r.ID)
		if got.State != approvals.StateNeedsAttention {
			t.Errorf("state = %s (%s), want needs_attention", got.State, got.Note)
		}
		want := map[string]string{a: "unknown: look for a@contoso.com in the console", b: "succeeded", c: "succeeded"}
		if diff := cmp.Diff(want, itemStates(t, s, r.ID)); diff != "" {
			t.Errorf("items (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff([][]string{{a}, {b}, {c}}, f.submitted()); diff != "" {
			t.Errorf("submits (-want +got):\n%s", diff)
		}
	})
}

// postCase is one provider POST the engine makes, with the fake behind it.
type postCase struct {
	name string
	// start returns the provider, the spec of a request and a function
	// that sets the fake's faults and counts POSTs so far.
	start func(t *testing.T, hc *http.Client) (providers.Provider, approvals.Spec, func(fault postFault) int)
}

// postFault is how a POST that acted ends: with a status, or never
// answered (the client times out after writing the request).
type postFault struct {
	name   string
	status int    // 0: hang
	off    bool   // the faults end
	refuse bool   // refused with 5xx before acting
	fail   string // a mailbox the action fails for
}

func postFaults() []postFault {
	return []postFault{{name: "500", status: 500}, {name: "502", status: 502}, {name: "503", status: 503},
		{name: "504", status: 504}, {name: "timeout after write"}}
}

func tmcasCase(name string, spec func(*tmcastest.Server) approvals.Spec) postCase {
	return postCase{name: name, start: func(t *testing.T, hc *http.Client) (providers.Provider, approvals.Spec, func(postFault) int) {
		fake := tmcastest.New(tmcastest.Options{Limit: -1})
		t.Cleanup(fake.Close)
		c, err := tmcas.New(tmcas.Config{BaseURL: fake.URL(), Token: fake.Token(), HTTPClient: hc,
			RetryInitial: time.Millisecond, RetryMax: 2 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		return c, spec(fake), func(pf postFault) int {
			fake.SetFaults(tmcastest.Faults{StatusAfterCreate: pf.status, HangAfterCreate: !pf.off && pf.status == 0})
			return fake.Posts()
		}
	}}
}

func graphCase(name string, spec approvals.Spec) postCase {
	return postCase{name: name, start: func(t *testing.T, hc *http.Client) (providers.Provider, approvals.Spec, func(postFault) int) {
		if hc == nil {
			hc = &http.Client{Timeout: 5 * time.Second}
		}
		fake := graphtest.New(graphtest.Options{})
		t.Cleanup(fake.Close)
		fake.AddUser(graphtest.User{DisplayName: "Mallory", UPN: "mallory@contoso.com", Email: "mallory@contoso.com", Enabled: true})
		for _, r := range []string{"hannah@contoso.com", "preston@contoso.com"} {
			fake.AddEmail(graphtest.Email{NetworkMessageID: graphMessage, Recipient: r, Subject: "Invoice", Logged: time.Now().Add(-time.Hour)})
		}
		tenant, id, secret := fake.Credentials()
		c, err := msgraph.New(msgraph.Config{TenantID: tenant, ClientID: id, ClientSecret: secret, BaseURL: fake.URL(),
			TokenURL: fake.TokenURL(), EnableLegacySecurityActions: true, RequestsPerSecond: 1000, HTTPClient: hc,
			RetryInitial: time.Millisecond, RetryMax: 2 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		return c, spec, func(pf postFault) int {
			f := graphtest.Faults{StatusAfterAction: pf.status, HangAfterAction: !pf.off && !pf.refuse && pf.status == 0}
			if pf.refuse {
				f.Rate5xx = 1
			}
			if pf.fail != "" {
				f.FailRecipients = []string{pf.fail}
			}
			fake.SetFaults(f)
			return fake.Posts()
		}
	}}
}

const graphMessage = "73ca4154-58d8-43d0-a890-08dc18c52e6d"

// postCases are every POST of both providers.
func postCases() []postCase {
	return []postCase{
		tmcasCase("tmcas accounts", func(f *tmcastest.Server) approvals.Spec {
			f.AddAccount("mallory@contoso.com")
			f.AddAccount("trent@contoso.com")
			return approvals.Spec{Action: approvals.ActionDisable, Provider: providers.TMCAS,
				Targets: []string{"mallory@contoso.com", "trent@contoso.com"}, Reason: "phish"}
		}),
		tmcasCase("tmcas mails", func(f *tmcastest.Server) approvals.Spec {
			for _, b := range []string{"hannah@contoso.com", "preston@contoso.com"} {
				f.AddMail(tmcastest.Mail{Mailbox: b, MessageID: "<campaign@fabrikam.example>", Subject: "Invoice", Delivered: time.Now().Add(-time.Hour)})
			}
			return approvals.Spec{Action: approvals.ActionPurgeMail, Provider: providers.TMCAS, Targets: []string{"<campaign@fabrikam.example>"},
				Reason: "phish", Mail: &approvals.MailOptions{Action: "quarantine"}}
		}),
		graphCase("graph invokeAction", approvals.Spec{Action: approvals.ActionDisable, Provider: providers.Graph,
			Targets: []string{"mallory@contoso.com"}, Reason: "phish"}),
		graphCase("graph remediate", approvals.Spec{Action: approvals.ActionPurgeMail, Provider: providers.Graph,
			Targets: []string{graphMessage}, Reason: "phish", Mail: &approvals.MailOptions{Action: "junk"}}),
		graphCase("graph securityActions", approvals.Spec{Action: approvals.ActionBlockIP, Provider: providers.Graph,
			Targets: []string{"198.51.100.7"}, Reason: "phish"}),
	}
}

// fileResolved files spec with the items p resolves it to, and has bob
// approve it.
func fileResolved(t *testing.T, s *store.Store, p providers.Provider, spec approvals.Spec) approvals.Request {
	t.Helper()
	ctx := context.Background()
	now := time.Now()
	resolved, err := p.Resolve(ctx, spec.Canonical())
	if err != nil {
		t.Fatalf("Resolve: %v", err)
	}
	var items []approvals.Item
	for _, it := range resolved {
		if it.Problem != "" {
			t.Fatalf("Resolve: %s: %s", it.Key, it.Problem)
		}
		items = append(items, approvals.Item{Key: it.Key, Target: it.Target, Identity: it.Identity, Display: it.Display, Before: it.State})
	}
	return storetest.Approve(t, s, storetest.Create(t, s, storetest.Policy(1), spec, items, now), now)
}

// TestUncertainPOSTMatrix is the acceptance test over real HTTP and both
// databases: for every POST of both providers, after every answer that may
// mean it was performed, exactly one POST reaches the fake, and the engine
// reconciles the request to success.
func TestUncertainPOSTMatrix(t *testing.T) {
	for _, pc := range postCases() {
		for _, pf := range postFaults() {
			t.Run(pc.name+" "+pf.name, func(t *testing.T) {
				testdb.Each(t, func(t *testing.T, url string) {
					s := testdb.Store(t, url)
					hc := &http.Client{Timeout: 5 * time.Second}
					if pf.status == 0 {
						hc.Timeout = 300 * time.Millisecond
					}
					p, spec, setFaults := pc.start(t, hc)
					router, err := providers.NewRouter(nil, p)
					if err != nil {
						t.Fatal(err)
					}
					e, _, _ := testEngine(t, s, router, time.Now)
					r := fileResolved(t, s, p, spec)
					before := setFaults(pf)
					if err := e.execute(context.Background(), r.ID); err != nil {
						if _, ok := snooze(err); !ok {
							t.Fatalf("first attempt: %v", err)
						}
					}
					setFaults(postFault{off: true})
					drive(t, e, r.ID)
					got := getRequest(t, s, r.ID)
					if got.State != approvals.StateSucceeded {
						t.Errorf("state = %s (%s), want succeeded", got.State, got.Note)
					}
					for k, st := range itemStates(t, s, r.ID) {
						if !strings.HasPrefix(st, "succeeded") {
							t.Errorf("%s = %q, want succeeded", k, st)
						}
					}
					if n := setFaults(postFault{off: true}) - before; n != 1 {
						t.Errorf("POSTs = %d, want exactly 1", n)
					}
					entries, err := s.RequestAudit(context.Background(), r.ID)
					if err != nil {
						t.Fatal(err)
					}
					if !strings.Contains(auditDetails(entries), `"uncertain":`) {
						t.Error("the audit log does not record the uncertain answer")
					}
				})
			})
		}
	}
}

// auditDetails joins the details of entries, for searching.
func auditDetails(entries []audit.Entry) string {
	var b strings.Builder
	for _, e := range entries {
		b.Write(e.Detail)
		b.WriteByte('\n')
	}
	return b.String()
}

// faultAtSubmit turns a fake's faults on for the POST of Submit only, so
// the lookups before it and the questions after it are answered.
type faultAtSubmit struct {
	providers.Provider
	faults func(on bool) int
}

func (f faultAtSubmit) Submit(ctx context.Context, b providers.Batch) (providers.Submission, error) {
	f.faults(true)
	defer f.faults(false)
	return f.Provider.Submit(ctx, b)
}

func (f faultAtSubmit) Reconcile(ctx context.Context, b providers.Batch, at time.Time) (providers.Reconciliation, error) {
	return f.Provider.(providers.Reconciler).Reconcile(ctx, b, at)
}

func (f faultAtSubmit) MaxItems(a approvals.Action) int { return providers.MaxItems(f.Provider, a) }

// TestUncertainPOSTSettlesWhatTheProviderShows: over real HTTP and both
// databases, what the provider shows after an uncertain POST decides each
// item, what it cannot tell ends the request in needs_attention with a
// note per item, and nothing is sent twice.
func TestUncertainPOSTSettlesWhatTheProviderShows(t *testing.T) {
	graph := func(spec approvals.Spec, fault postFault) func(t *testing.T) (providers.Provider, approvals.Spec, func(bool) int) {
		return func(t *testing.T) (providers.Provider, approvals.Spec, func(bool) int) {
			p, spec, set := graphCase("", spec).start(t, nil)
			return p, spec, func(on bool) int {
				if on {
					return set(fault)
				}
				return set(postFault{off: true})
			}
		}
	}
	tests := []struct {
		name      string
		start     func(t *testing.T) (providers.Provider, approvals.Spec, func(on bool) int)
		wantState approvals.State
		wantItems map[string]string // item key → prefix of "status: detail"
	}{{
		name: "tmcas refused with 5xx before acting: unknown",
		start: func(t *testing.T) (providers.Provider, approvals.Spec, func(bool) int) {
			fake := tmcastest.New(tmcastest.Options{Limit: -1})
			t.Cleanup(fake.Close)
			fake.AddAccount("mallory@contoso.com")
			c, err := tmcas.New(tmcas.Config{BaseURL: fake.URL(), Token: fake.Token()})
			if err != nil {
				t.Fatal(err)
			}
			return c, approvals.Spec{Action: approvals.ActionDisable, Provider: providers.TMCAS, Targets: []string{"mallory@contoso.com"}, Reason: "phish"},
				func(on bool) int {
					if on {
						fake.SetFaults(tmcastest.Faults{Rate5xx: 1})
					} else {
						fake.SetFaults(tmcastest.Faults{})
					}
					return fake.Posts()
				}
		},
		wantState: approvals.StateNeedsAttention,
		wantItems: map[string]string{"mallory@contoso.com": "unknown: TMCAS lists no batch with exactly the actions Countersign sent between "},
	}, {
		name: "graph remediate acted, one recipient failed: partly done",
		start: graph(approvals.Spec{Action: approvals.ActionPurgeMail, Provider: providers.Graph,
			Targets: []string{graphMessage}, Reason: "phish", Mail: &approvals.MailOptions{Action: "junk"}},
			postFault{status: 500, fail: "preston@contoso.com"}),
		wantState: approvals.StatePartiallyFailed,
		wantItems: map[string]string{graphMessage + "/hannah@contoso.com": "succeeded",
			graphMessage + "/preston@contoso.com": "failed: Graph timeline: Failed"},
	}, {
		name: "graph disable refused with 5xx before acting: unknown",
		start: graph(approvals.Spec{Action: approvals.ActionDisable, Provider: providers.Graph,
			Targets: []string{"mallory@contoso.com"}, Reason: "phish"}, postFault{refuse: true}),
		wantState: approvals.StateNeedsAttention,
		wantItems: map[string]string{"mallory@contoso.com": "unknown: at "},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			testdb.Each(t, func(t *testing.T, url string) {
				s := testdb.Store(t, url)
				p, spec, faults := tt.start(t)
				router, err := providers.NewRouter(nil, faultAtSubmit{Provider: p, faults: faults})
				if err != nil {
					t.Fatal(err)
				}
				e, _, _ := testEngine(t, s, router, time.Now)
				r := fileResolved(t, s, p, spec)
				before := faults(false)
				drive(t, e, r.ID)
				got := getRequest(t, s, r.ID)
				if got.State != tt.wantState {
					t.Errorf("state = %s (%s), want %s", got.State, got.Note, tt.wantState)
				}
				items := itemStates(t, s, r.ID)
				if len(items) != len(tt.wantItems) {
					t.Errorf("items %v, want %d", items, len(tt.wantItems))
				}
				for k, want := range tt.wantItems {
					if !strings.HasPrefix(items[k], want) {
						t.Errorf("%s = %q, want it to start with %q", k, items[k], want)
					}
					if strings.HasPrefix(want, "unknown") && !strings.Contains(items[k], "did not send it again") {
						t.Errorf("%s: note %q does not say it was not sent again", k, items[k])
					}
				}
				if n := faults(false) - before; n != 1 {
					t.Errorf("POSTs = %d, want exactly 1", n)
				}
			})
		})
	}
}
