// Package metrics is Countersign's operational instrumentation: the
// Prometheus metrics served at /metrics, the wrapper that counts outgoing
// HTTP calls to providers and chat platforms, and the middleware that logs
// one structured line per incoming HTTP request.
//
// A nil *Metrics is valid and records nothing, so code under test that does
// not care about metrics passes nil.
package metrics

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"runtime"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/countersign/countersign/internal/httpx"
	"github.com/countersign/countersign/internal/store"
)

// Kinds of outgoing HTTP traffic, the kind label of Transport.
const (
	KindProvider = "provider" // TMCAS, Microsoft Graph (and its token endpoint)
	KindChat     = "chat"     // Slack and Discord APIs
)

// Source is what the gauges read from the database at every scrape;
// *store.Store implements it.
type Source interface {
	CountByState(ctx context.Context) ([]store.StateCount, error)
	JobCounts(ctx context.Context) ([]store.JobCount, error)
	AuditHead(ctx context.Context) (seq int64, hash string, err error)
}

// Options configure Metrics.
type Options struct {
	// Source feeds the request, job queue and audit gauges; nil leaves
	// them out.
	Source Source
	// ScrapeTimeout bounds the database queries of one scrape; 0 means 5s.
	ScrapeTimeout time.Duration
	// Version is reported by countersign_build_info.
	Version string
	// Logger receives scrape problems; nil discards them.
	Logger *slog.Logger
	// Now is the clock that times HTTP calls and requests; nil means
	// time.Now.
	Now func() time.Time
}

// Metrics holds Countersign's Prometheus metrics on a registry of its own.
// It is safe for concurrent use; a nil *Metrics records nothing.
type Metrics struct {
	reg *prometheus.Registry
	log *slog.Logger
	now func() time.Time

	approval      *prometheus.HistogramVec
	execution     *prometheus.HistogramVec
	outbound      *prometheus.CounterVec
	outboundTime  *prometheus.HistogramVec
	rateLimitWait *prometheus.HistogramVec
	providerCalls *prometheus.CounterVec
	httpRequests  *prometheus.CounterVec
	httpTime      *prometheus.HistogramVec
}

// Human-scale buckets: approvals take seconds to hours (policy.request_ttl
// defaults to 1h), executions seconds to the 2h poll deadline.
var (
	approvalBuckets  = []float64{5, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 14400, 43200, 86400}
	executionBuckets = []float64{1, 5, 15, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200}
	// Zero counts the calls that did not wait at all.
	waitBuckets = []float64{0, 0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120}
)

// New returns Metrics registered on a new registry, with the Go runtime and
// process collectors.
func New(opts Options) *Metrics {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		log: log,
		now: now,
		approval: newHistogram("countersign_approval_latency_seconds",
			"Time from filing a request to the approval that reached quorum.",
			approvalBuckets, "action"),
		execution: newHistogram("countersign_execution_duration_seconds",
			"Time from the start of an approved request's execution to its final state.",
			executionBuckets, "action", "provider", "outcome"),
		outbound: newCounter("countersign_outbound_requests_total",
			`HTTP calls to providers and chat platforms by response status code; code="error" when no response arrived.`,
			"kind", "name", "host", "code"),
		outboundTime: newHistogram("countersign_outbound_request_duration_seconds",
			"Time until the response headers of HTTP calls to providers and chat platforms.",
			prometheus.DefBuckets, "kind", "name", "host"),
		rateLimitWait: newHistogram("countersign_rate_limit_wait_seconds",
			"Time provider calls waited for the client-side rate limiter.",
			waitBuckets, "provider"),
		providerCalls: newCounter("countersign_provider_calls_total",
			`Provider call attempts by idempotency class (once, repeatable) and outcome (ok, retry, gave_up, refused, uncertain, failed).`,
			"provider", "class", "outcome"),
		httpRequests: newCounter("countersign_http_requests_total", "HTTP requests served, by route and status code.", "route", "code"),
		httpTime: newHistogram("countersign_http_request_duration_seconds", "Time to serve HTTP requests, by route.",
			prometheus.DefBuckets, "route"),
	}
	build := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "countersign_build_info",
		Help: "Always 1; the labels name the running build.",
	}, []string{"version", "goversion"})
	build.WithLabelValues(opts.Version, runtime.Version()).Set(1)
	m.reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		build, m.approval, m.execution, m.outbound, m.outboundTime, m.rateLimitWait, m.providerCalls,
		m.httpRequests, m.httpTime,
	)
	if opts.Source != nil {
		timeout := opts.ScrapeTimeout
		if timeout <= 0 {
			timeout = 5 * time.Second
		}
		m.reg.MustRegister(newStoreCollector(opts.Source, timeout, log))
	}
	return m
}

func newHistogram(name, help string, buckets []float64, labels ...string) *prometheus.HistogramVec {
	return prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: name, Help: help, Buckets: buckets}, labels)
}

func newCounter(name, help string, labels ...string) *prometheus.CounterVec {
	return prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, labels)
}

// Registry returns the registry the metrics are on, for registering more
// collectors. It is nil for a nil *Metrics.
func (m *Metrics) Registry() *prometheus.Registry {
	if m == nil {
		return nil
	}
	return m.reg
}

// Handler serves the metrics in the Prometheus exposition formats, for
// /metrics. A nil *Metrics serves 404.
func (m *Metrics) Handler() http.Handler {
	if m == nil {
		return http.NotFoundHandler()
	}
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{
		ErrorLog:      slog.NewLogLogger(m.log.Handler(), slog.LevelWarn),
		ErrorHandling: promhttp.ContinueOnError,
	})
}

// ObserveApproval records how long a request of action waited from being
// filed to the approval that reached quorum. The bot calls it when Apply
// returns an approved request.
func (m *Metrics) ObserveApproval(action string, d time.Duration) {
	if m == nil {
		return
	}
	m.approval.WithLabelValues(action).Observe(seconds(d))
}

// ObserveExecution records how long a request ran, from the start of its
// execution to its final state; outcome is that state (succeeded,
// partially_failed, failed, needs_attention). The engine calls it when it
// finishes a request.
func (m *Metrics) ObserveExecution(action, provider, outcome string, d time.Duration) {
	if m == nil {
		return
	}
	m.execution.WithLabelValues(action, provider, outcome).Observe(seconds(d))
}

// RateLimitObserver returns the function to pass to
// httpx.WindowLimiter.Observe so the limiter's waits are recorded for
// provider. It returns nil, which records nothing, for a nil *Metrics.
func (m *Metrics) RateLimitObserver(provider string) func(time.Duration) {
	if m == nil {
		return nil
	}
	h := m.rateLimitWait.WithLabelValues(provider)
	return func(d time.Duration) { h.Observe(seconds(d)) }
}

// ProviderCallObserver returns the function to pass to a provider's
// Config.CallObserved so the outcome of every attempt is counted for
// provider; outcome="uncertain" counts calls that may or may not have
// taken effect. It returns nil, which records nothing, for a nil *Metrics.
func (m *Metrics) ProviderCallObserver(provider string) func(httpx.Attempt) {
	if m == nil {
		return nil
	}
	return func(a httpx.Attempt) {
		m.providerCalls.WithLabelValues(provider, a.Class.String(), a.Outcome).Inc()
	}
}

// seconds converts d for a histogram; a negative duration, from a clock
// that stepped back, counts as zero.
func seconds(d time.Duration) float64 {
	return max(d, 0).Seconds()
}
