package metrics

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/countersign/countersign/approvals"
	"github.com/countersign/countersign/internal/store"
	"github.com/countersign/countersign/internal/testdb"
)

type fakeSource struct {
	requests []store.StateCount
	jobs     []store.JobCount
	seq      int64
	err      map[string]error // by query name
	blocked  bool             // every query waits for its context
}

func (f fakeSource) wait(ctx context.Context, q string) error {
	if f.blocked {
		<-ctx.Done()
		return ctx.Err()
	}
	return f.err[q]
}

func (f fakeSource) CountByState(ctx context.Context) ([]store.StateCount, error) {
	if err := f.wait(ctx, queryRequests); err != nil {
		return nil, err
	}
	return f.requests, nil
}

func (f fakeSource) JobCounts(ctx context.Context) ([]store.JobCount, error) {
	if err := f.wait(ctx, queryJobs); err != nil {
		return nil, err
	}
	return f.jobs, nil
}

func (f fakeSource) AuditHead(ctx context.Context) (int64, string, error) {
	if err := f.wait(ctx, queryAudit); err != nil {
		return 0, "", err
	}
	return f.seq, "hash", nil
}

const storeHelp = `
# HELP countersign_audit_chain_length Sequence number of the last audit log entry.
# TYPE countersign_audit_chain_length gauge
# HELP countersign_jobs River jobs in the database by queue and state; available and retryable jobs are the queue depth.
# TYPE countersign_jobs gauge
# HELP countersign_requests Requests in the database by action, provider and state.
# TYPE countersign_requests gauge
# HELP countersign_store_scrape_ok 1 when the scrape query answered, 0 when it failed and its gauges are missing from this scrape.
# TYPE countersign_store_scrape_ok gauge
`

var storeMetrics = []string{"countersign_requests", "countersign_jobs", "countersign_audit_chain_length", "countersign_store_scrape_ok"}

func TestStoreCollector(t *testing.T) {
	src := fakeSource{
		requests: []store.StateCount{
			{Action: "disable", Provider: "tmcas", State: approvals.StatePending, N: 3},
			{Action: "disable", Provider: "tmcas", State: approvals.StateSucceeded, N: 40},
			{Action: "purge-mail", Provider: "graph", State: approvals.StateNeedsAttention, N: 1},
			{Action: "purge-mail", Provider: "graph", State: "future_state", N: 2},
		},
		jobs: []store.JobCount{
			{Queue: "execute", State: "available", N: 5},
			{Queue: "execute", State: "running", N: 2},
		},
		seq: 1234,
	}
	m := New(Options{Source: src})
	want := storeHelp + `
countersign_audit_chain_length 1234
` + jobLines("execute", map[string]int{"available": 5, "running": 2}) + requestLines("disable", "tmcas", map[approvals.State]int{approvals.StatePending: 3, approvals.StateSucceeded: 40}) +
		requestLines("purge-mail", "graph", map[approvals.State]int{approvals.StateNeedsAttention: 1}) + `
countersign_requests{action="purge-mail",provider="graph",state="future_state"} 2
countersign_store_scrape_ok{query="audit"} 1
countersign_store_scrape_ok{query="jobs"} 1
countersign_store_scrape_ok{query="requests"} 1
`
	gather(t, m, want, storeMetrics...)
}

// requestLines renders the countersign_requests lines of one action and
// provider: every known state, zero unless n says otherwise.
func requestLines(action, provider string, n map[approvals.State]int) string {
	var b strings.Builder
	for _, s := range approvals.States() {
		fmt.Fprintf(&b, "countersign_requests{action=%q,provider=%q,state=%q} %d\n", action, provider, s, n[s])
	}
	return b.String()
}

// jobLines renders the countersign_jobs lines of one queue, written out
// here rather than from River's list so that a state River adds shows up.
func jobLines(queue string, n map[string]int) string {
	var b strings.Builder
	for _, s := range []string{"available", "cancelled", "completed", "discarded", "pending", "retryable", "running", "scheduled"} {
		fmt.Fprintf(&b, "countersign_jobs{queue=%q,state=%q} %d\n", queue, s, n[s])
	}
	return b.String()
}

func TestStoreCollectorQueryFails(t *testing.T) {
	var logs bytes.Buffer
	src := fakeSource{
		jobs: []store.JobCount{{Queue: "periodic", State: "completed", N: 7}},
		seq:  9,
		err:  map[string]error{queryRequests: errors.New("database is locked")},
	}
	m := New(Options{Source: src, Logger: slog.New(slog.NewJSONHandler(&logs, nil))})
	want := storeHelp + `
countersign_audit_chain_length 9
` + jobLines("periodic", map[string]int{"completed": 7}) + `
countersign_store_scrape_ok{query="audit"} 1
countersign_store_scrape_ok{query="jobs"} 1
countersign_store_scrape_ok{query="requests"} 0
`
	gather(t, m, want, storeMetrics...)
	if !strings.Contains(logs.String(), `"query":"requests"`) || !strings.Contains(logs.String(), "database is locked") {
		t.Errorf("log: got %q, want the failed query and its error", logs.String())
	}
}

func TestStoreCollectorTimesOut(t *testing.T) {
	m := New(Options{Source: fakeSource{blocked: true}, ScrapeTimeout: 20 * time.Millisecond})
	done := make(chan error, 1)
	go func() {
		done <- testutil.GatherAndCompare(m.Registry(), strings.NewReader(storeHelp+`
countersign_store_scrape_ok{query="audit"} 0
countersign_store_scrape_ok{query="jobs"} 0
countersign_store_scrape_ok{query="requests"} 0
`), storeMetrics...)
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Error(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a scrape of a hung database did not end")
	}
}

// TestStoreGaugesFromDatabase scrapes /metrics over HTTP with a real store
// behind it.
func TestStoreGaugesFromDatabase(t *testing.T) {
	testdb.Each(t, func(t *testing.T, url string) {
		ctx := context.Background()
		st := testdb.Store(t, url)
		now := time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)
		p := approvals.Policy{ApprovalsRequired: 1, RequestTTL: time.Hour, MaxTargets: 10, Approvers: []string{"bob"}}
		actor := func(n string) approvals.Actor {
			return approvals.Actor{Person: n, Platform: "console", Account: n, Name: n}
		}
		var first approvals.Request
		for i, target := range []string{"a@contoso.com", "b@contoso.com"} {
			items := []approvals.Item{{Key: target, Target: target, Display: target, Before: "enabled", Identity: approvals.Identity{ID: target}}}
			r, err := p.File(approvals.Spec{Action: approvals.ActionDisable, Provider: "tmcas", Targets: []string{target}, Reason: "phish"}, items, actor("alice"), now)
			if err != nil {
				t.Fatalf("File: %v", err)
			}
			r, err = st.Create(ctx, r, items)
			if err != nil {
				t.Fatalf("Create: %v", err)
			}
			if i == 0 {
				first = r
			}
		}
		if _, err := st.Apply(ctx, first.ID, approvals.Event{Kind: approvals.EventApprove, Actor: actor("bob"), Hash: first.Hash}, now); err != nil {
			t.Fatalf("Apply: %v", err)
		}

		body := scrape(t, New(Options{Source: st}))
		for _, want := range []string{
			`countersign_requests{action="disable",provider="tmcas",state="pending"} 1`,
			`countersign_requests{action="disable",provider="tmcas",state="approved"} 1`,
			`countersign_requests{action="disable",provider="tmcas",state="failed"} 0`,
			`countersign_jobs{queue="execute",state="available"} 1`,
			"countersign_audit_chain_length 3", // two filed, one approved
			`countersign_store_scrape_ok{query="requests"} 1`,
			`countersign_store_scrape_ok{query="jobs"} 1`,
			`countersign_store_scrape_ok{query="audit"} 1`,
		} {
			if !strings.Contains(body, want+"\n") {
				t.Errorf("GET /metrics: body lacks %q", want)
			}
		}
	})
}
