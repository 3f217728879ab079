package engine

import (
	"context"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/countersign/countersign/approvals"
	"github.com/countersign/countersign/internal/testdb"
	"github.com/countersign/countersign/providers"
	"github.com/countersign/countersign/providers/tmcas"
	"github.com/countersign/countersign/providers/tmcas/tmcastest"
)

// TestProviderOutage refuses every TMCAS call for a while, during
// submission (429: a POST answered 5xx may have been performed and is never
// sent again) or during polling (500 or 503), over real HTTP: the request
// waits and then succeeds, with each target sent once.
func TestProviderOutage(t *testing.T) {
	// It mostly waits (on the provider, River or a schedule): the other
	// slow tests run meanwhile.
	t.Parallel()
	const failedCalls = 12 // how long the outage lasts, in refused calls
	for _, phase := range []string{"submission", "polling"} {
		t.Run(phase, func(t *testing.T) {
			testdb.Each(t, func(t *testing.T, url string) {
				ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
				defer cancel()
				s := testdb.Store(t, url)
				fake := tmcastest.New(tmcastest.Options{Limit: -1, Faults: tmcastest.Faults{
					CreatedPolls: 1, ExecutingPolls: 1, UnknownUsers: tmcastest.UnknownAccept,
				}})
				defer fake.Close()
				client, err := tmcas.New(tmcas.Config{BaseURL: fake.URL(), Token: fake.Token(), RequestsPerMinute: 10_000,
					MaxRetries: 2, RetryInitial: 10 * time.Millisecond, RetryMax: 20 * time.Millisecond})
				if err != nil {
					t.Fatal(err)
				}
				router, err := providers.NewRouter(nil, client)
				if err != nil {
					t.Fatal(err)
				}
				cfg, changed := watched(Config{Store: s, Providers: router, PollInterval: 50 * time.Millisecond, FetchPollInterval: 20 * time.Millisecond})
				e, err := New(cfg)
				if err != nil {
					t.Fatal(err)
				}
				if phase == "submission" {
					fake.UpdateFaults(func(f *tmcastest.Faults) {
						f.Rate429, f.RetryAfter, f.InjectedRetryAfter = 1, true, 10*time.Millisecond
					})
				}
				if err := e.Start(ctx); err != nil {
					t.Fatal(err)
				}
				defer e.Stop(context.Background())
				r := approvedRequest(t, s, "tmcas", time.Now(), "a@contoso.com", "b@contoso.com")
				if phase == "polling" {
					waitFor(ctx, t, "submission recorded", func() bool {
						return getRequest(t, s, r.ID).Phase == approvals.PhaseSubmitted
					}, changed)
					fake.UpdateFaults(func(f *tmcastest.Faults) { f.Rate5xx = 1 })
				}
				waitFor(ctx, t, "calls refused during the outage", func() bool { return refused(fake) >= failedCalls }, &fake.Signal)
				if got := getRequest(t, s, r.ID); got.State != approvals.StateRunning {
					t.Fatalf("during the outage the request is %s (%s), want running", got.State, got.Note)
				}
				fake.UpdateFaults(func(f *tmcastest.Faults) { f.Rate5xx, f.Rate429 = 0, 0 })
				waitState(ctx, t, s, r.ID, approvals.StateSucceeded, changed)

				sent := sentTargets(fake)
				if sent["a@contoso.com"] != 1 || sent["b@contoso.com"] != 1 {
					t.Errorf("targets sent %v, want each once", sent)
				}
				kinds := auditKinds(t, s, r.ID)
				if phase == "submission" && !slices.Contains(kinds, "not_sent") {
					t.Errorf("audit %v: want a not_sent entry for the refused submission", kinds)
				}
				if slices.Contains(kinds, "attention") {
					t.Errorf("audit %v: an outage must not need attention", kinds)
				}
			})
		})
	}
}

// refused counts the calls the fake answered with a server error or 429.
func refused(fake *tmcastest.Server) int {
	n := 0
	for _, c := range fake.Calls() {
		if c.Status >= http.StatusInternalServerError || c.Status == http.StatusTooManyRequests {
			n++
		}
	}
	return n
}
