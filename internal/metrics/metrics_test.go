package metrics

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/countersign/countersign/internal/httpx"
)

// stepClock returns a clock that advances by step at every reading.
func stepClock(step time.Duration) func() time.Time {
	var mu sync.Mutex
	t := time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)
	return func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		t = t.Add(step)
		return t
	}
}

func gather(t *testing.T, m *Metrics, want string, names ...string) {
	t.Helper()
	if err := testutil.GatherAndCompare(m.Registry(), strings.NewReader(want), names...); err != nil {
		t.Error(err)
	}
}

func TestObserveApproval(t *testing.T) {
	m := New(Options{})
	m.ObserveApproval("disable", 20*time.Second)
	m.ObserveApproval("disable", 10*time.Minute)
	m.ObserveApproval("purge-mail", -time.Second) // clock stepped back: counts as 0
	const name = "countersign_approval_latency_seconds"
	const bounds = "5 15 30 60 120 300 600 900 1800 3600 7200 14400 43200 86400 +Inf"
	gather(t, m, `
# HELP countersign_approval_latency_seconds Time from filing a request to the approval that reached quorum.
# TYPE countersign_approval_latency_seconds histogram
`+series(name, `action="disable"`, bounds, []int{0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 2, 2, 2}, "620")+
		series(name, `action="purge-mail"`, bounds, []int{1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1}, "0"), name)
}

// series is the exposition of one histogram series with labels: at each
// upper bound (the last +Inf) the cumulative count, then the sum and the
// count.
func series(name, labels, bounds string, cumulative []int, sum string) string {
	var b strings.Builder
	for i, le := range strings.Fields(bounds) {
		fmt.Fprintf(&b, "%s_bucket{%s,le=%q} %d\n", name, labels, le, cumulative[i])
	}
	fmt.Fprintf(&b, "%s_sum{%s} %s\n%s_count{%s} %d\n", name, labels, sum, name, labels, cumulative[len(cumulative)-1])
	return b.String()
}

func TestObserveExecution(t *testing.T) {
	m := New(Options{})
	m.ObserveExecution("disable", "tmcas", "succeeded", 3*time.Second)
	m.ObserveExecution("disable", "tmcas", "succeeded", 90*time.Second)
	m.ObserveExecution("purge-mail", "graph", "needs_attention", 2*time.Hour)
	for _, tt := range []struct {
		labels    map[string]string
		wantCount int
		wantSum   float64
	}{
		{map[string]string{"action": "disable", "provider": "tmcas", "outcome": "succeeded"}, 2, 93},
		{map[string]string{"action": "purge-mail", "provider": "graph", "outcome": "needs_attention"}, 1, 7200},
		{map[string]string{"action": "disable", "provider": "tmcas", "outcome": "failed"}, 0, 0},
	} {
		count, sum := histogram(t, m, "countersign_execution_duration_seconds", tt.labels)
		if count != tt.wantCount || sum != tt.wantSum {
			t.Errorf("execution%v: got count %d sum %v, want count %d sum %v", tt.labels, count, sum, tt.wantCount, tt.wantSum)
		}
	}
}

// histogram returns the sample count and sum of the series of a histogram
// on m's registry with exactly these labels, zero when there is none.
func histogram(t *testing.T, m *Metrics, name string, labels map[string]string) (int, float64) {
	t.Helper()
	families, err := m.Registry().Gather()
	if err != nil {
		t.Fatalf("Gather: %v", err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, s := range f.GetMetric() {
			got := map[string]string{}
			for _, l := range s.GetLabel() {
				got[l.GetName()] = l.GetValue()
			}
			if maps.Equal(got, labels) {
				return int(s.GetHistogram().GetSampleCount()), s.GetHistogram().GetSampleSum()
			}
		}
	}
	return 0, 0
}

func TestTransport(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/throttled":
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusTooManyRequests)
		case "/broken":
			w.WriteHeader(http.StatusInternalServerError)
		default:
			io.WriteString(w, "{}")
		}
	}))
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")

	m := New(Options{Now: stepClock(250 * time.Millisecond)})
	c := &http.Client{Transport: m.Transport(KindProvider, "tmcas", nil)}
	for _, path := range []string{"/ok?token=secret", "/ok", "/throttled", "/throttled", "/throttled", "/broken"} {
		res, err := c.Get(srv.URL + path)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		res.Body.Close()
	}
	// Nothing listens on a closed server's port: the call fails.
	dead := httptest.NewServer(http.NotFoundHandler())
	dead.Close()
	chat := &http.Client{Transport: m.Transport(KindChat, "slack", nil)}
	if _, err := chat.Get(dead.URL + "/api/chat.postMessage"); err == nil {
		t.Fatal("GET on a closed server: got nil error")
	}
	deadHost := strings.TrimPrefix(dead.URL, "http://")

	gather(t, m, `
# HELP countersign_outbound_requests_total HTTP calls to providers and chat platforms by response status code; code="error" when no response arrived.
# TYPE countersign_outbound_requests_total counter
countersign_outbound_requests_total{code="200",host="`+host+`",kind="provider",name="tmcas"} 2
countersign_outbound_requests_total{code="429",host="`+host+`",kind="provider",name="tmcas"} 3
countersign_outbound_requests_total{code="500",host="`+host+`",kind="provider",name="tmcas"} 1
countersign_outbound_requests_total{code="error",host="`+deadHost+`",kind="chat",name="slack"} 1
`, "countersign_outbound_requests_total")

	// Each call reads the clock twice, 250ms apart.
	if count, sum := histogram(t, m, "countersign_outbound_request_duration_seconds",
		map[string]string{"kind": KindProvider, "name": "tmcas", "host": host}); count != 6 || sum != 1.5 {
		t.Errorf("provider call durations: got count %d sum %v, want 6 and 1.5", count, sum)
	}
	if count, _ := histogram(t, m, "countersign_outbound_request_duration_seconds",
		map[string]string{"kind": KindChat, "name": "slack", "host": deadHost}); count != 1 {
		t.Errorf("chat call durations: got count %d, want 1", count)
	}
}

func TestTransportWrapsNext(t *testing.T) {
	var called bool
	next := roundTripFunc(func(r *http.Request) (*http.Response, error) {
		called = true
		return nil, errors.New("refused")
	})
	m := New(Options{})
	req := httptest.NewRequest(http.MethodGet, "https://Graph.Microsoft.com/v1.0/users", nil)
	if _, err := m.Transport(KindProvider, "graph", next).RoundTrip(req); err == nil || err.Error() != "refused" {
		t.Errorf("RoundTrip: got %v, want the error of next", err)
	}
	if !called {
		t.Error("next was not called")
	}
	if got := testutil.ToFloat64(m.outbound.WithLabelValues(KindProvider, "graph", "graph.microsoft.com", "error")); got != 1 {
		t.Errorf("errors counted for graph.microsoft.com: got %v, want 1", got)
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func TestRateLimitObserver(t *testing.T) {
	m := New(Options{})
	l := httpx.NewWindowLimiter(1, time.Hour, nil)
	l.Observe(m.RateLimitObserver("tmcas"))
	if _, err := l.Wait(context.Background()); err != nil {
		t.Fatalf("Wait: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := l.Wait(ctx); err == nil {
		t.Fatal("Wait on a cancelled context: got nil")
	}
	m.RateLimitObserver("tmcas")(1500 * time.Millisecond)
	gather(t, m, `
# HELP countersign_rate_limit_wait_seconds Time provider calls waited for the client-side rate limiter.
# TYPE countersign_rate_limit_wait_seconds histogram
`+series("countersign_rate_limit_wait_seconds", `provider="tmcas"`, "0 0.1 0.5 1 2.5 5 10 30 60 120 +Inf",
		[]int{2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3}, "1.5"), "countersign_rate_limit_wait_seconds")
}

func TestProviderCallObserver(t *testing.T) {
	m := New(Options{})
	obs := m.ProviderCallObserver("graph")
	obs(httpx.Attempt{Class: httpx.Once, Outcome: httpx.OutcomeUncertain, Status: 503})
	obs(httpx.Attempt{Class: httpx.Repeatable, Outcome: httpx.OutcomeRetry, Status: 503})
	obs(httpx.Attempt{Class: httpx.Repeatable, Outcome: httpx.OutcomeRetry, Status: 429})
	gather(t, m, `
# HELP countersign_provider_calls_total Provider call attempts by idempotency class (once, repeatable) and outcome (ok, retry, gave_up, refused, uncertain, failed).
# TYPE countersign_provider_calls_total counter
countersign_provider_calls_total{class="once",outcome="uncertain",provider="graph"} 1
countersign_provider_calls_total{class="repeatable",outcome="retry",provider="graph"} 2
`, "countersign_provider_calls_total")
}

func TestNilMetricsIsANoOp(t *testing.T) {
	var m *Metrics
	m.ObserveApproval("disable", time.Second)
	m.ObserveExecution("disable", "tmcas", "succeeded", time.Second)
	if m.RateLimitObserver("tmcas") != nil {
		t.Error("RateLimitObserver: got a function, want nil")
	}
	if m.ProviderCallObserver("tmcas") != nil {
		t.Error("ProviderCallObserver: got a function, want nil")
	}
	if m.Registry() != nil {
		t.Error("Registry: got a registry, want nil")
	}
	next := roundTripFunc(func(*http.Request) (*http.Response, error) { return nil, errors.New("x") })
	if rt, ok := m.Transport(KindChat, "slack", next).(roundTripFunc); !ok || rt == nil {
		t.Errorf("Transport: got %T, want next unwrapped", m.Transport(KindChat, "slack", next))
	}
	if m.Transport(KindChat, "slack", nil) != http.DefaultTransport {
		t.Error("Transport(nil next): want http.DefaultTransport")
	}
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if rec.Code != http.StatusNotFound {
		t.Errorf("Handler: got status %d, want 404", rec.Code)
	}
}

func TestHandlerServesTheRegistry(t *testing.T) {
	m := New(Options{Version: "v1.2.3"})
	m.ObserveApproval("disable", time.Minute)
	body := scrape(t, m)
	for _, want := range []string{
		`countersign_build_info{goversion="go`,
		`version="v1.2.3"} 1`,
		`countersign_approval_latency_seconds_count{action="disable"} 1`,
		"go_goroutines ",
		"process_start_time_seconds ",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("GET /metrics: body lacks %q", want)
		}
	}
}

// scrape fetches m's /metrics over HTTP.
func scrape(t *testing.T, m *Metrics) string {
	t.Helper()
	srv := httptest.NewServer(m.Handler())
	defer srv.Close()
	res, err := http.Get(srv.URL)
	if err != nil {
		t.Fatalf("GET /metrics: %v", err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil || res.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics: status %d, %v", res.StatusCode, err)
	}
	return string(body)
}

func TestMetricNamesPassLint(t *testing.T) {
	m := New(Options{Source: fakeSource{}})
	m.ObserveApproval("disable", time.Second)
	m.ObserveExecution("disable", "tmcas", "succeeded", time.Second)
	m.RateLimitObserver("tmcas")(0)
	problems, err := testutil.GatherAndLint(m.Registry())
	if err != nil {
		t.Fatalf("GatherAndLint: %v", err)
	}
	for _, p := range problems {
		if strings.HasPrefix(p.Metric, "countersign_") {
			t.Errorf("lint: %s: %s", p.Metric, p.Text)
		}
	}
}
