package metrics

import (
	"context"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/riverqueue/river/rivertype"

	"github.com/countersign/countersign/approvals"
)

// storeCollector reads the gauges that describe the database at scrape
// time, so every replica reports the same numbers and nothing has to be
// kept in step with the store.
type storeCollector struct {
	src     Source
	timeout time.Duration
	log     *slog.Logger

	requests *prometheus.Desc
	jobs     *prometheus.Desc
	audit    *prometheus.Desc
	ok       *prometheus.Desc
}

// Names of the scrape queries, the query label of countersign_store_scrape_ok.
const (
	queryRequests = "requests"
	queryJobs     = "jobs"
	queryAudit    = "audit"
)

func newStoreCollector(src Source, timeout time.Duration, log *slog.Logger) *storeCollector {
	return &storeCollector{
		src:     src,
		timeout: timeout,
		log:     log,
		requests: prometheus.NewDesc("countersign_requests",
			"Requests in the database by action, provider and state.",
			[]string{"action", "provider", "state"}, nil),
		jobs: prometheus.NewDesc("countersign_jobs",
			"River jobs in the database by queue and state; available and retryable jobs are the queue depth.",
			[]string{"queue", "state"}, nil),
		audit: prometheus.NewDesc("countersign_audit_chain_length",
			"Sequence number of the last audit log entry.", nil, nil),
		ok: prometheus.NewDesc("countersign_store_scrape_ok",
			"1 when the scrape query answered, 0 when it failed and its gauges are missing from this scrape.",
			[]string{"query"}, nil),
	}
}

// Describe implements prometheus.Collector.
func (c *storeCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.requests
	ch <- c.jobs
	ch <- c.audit
	ch <- c.ok
}

// Collect implements prometheus.Collector. A query that fails leaves its
// gauges out of this scrape and reports 0 in countersign_store_scrape_ok,
// rather than failing the whole scrape.
func (c *storeCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()
	c.report(ctx, ch, queryRequests, c.collectRequests(ctx, ch))
	c.report(ctx, ch, queryJobs, c.collectJobs(ctx, ch))
	c.report(ctx, ch, queryAudit, c.collectAudit(ctx, ch))
}

func (c *storeCollector) report(ctx context.Context, ch chan<- prometheus.Metric, query string, err error) {
	v := 1.0
	if err != nil {
		v = 0
		c.log.WarnContext(ctx, "metrics scrape query failed", "query", query, "err", err)
	}
	ch <- prometheus.MustNewConstMetric(c.ok, prometheus.GaugeValue, v, query)
}

// collectRequests reports every state for each action and provider seen,
// zeros included, so that sums by state never vanish when a state empties.
func (c *storeCollector) collectRequests(ctx context.Context, ch chan<- prometheus.Metric) error {
	counts, err := c.src.CountByState(ctx)
	if err != nil {
		return err
	}
	type pair struct{ action, provider string }
	byPair := map[pair]map[approvals.State]int64{}
	var order []pair
	for _, n := range counts {
		p := pair{n.Action, n.Provider}
		if byPair[p] == nil {
			byPair[p] = map[approvals.State]int64{}
			order = append(order, p)
		}
		byPair[p][n.State] += n.N
	}
	for _, p := range order {
		states := byPair[p]
		for _, s := range approvals.States() {
			ch <- prometheus.MustNewConstMetric(c.requests, prometheus.GaugeValue, float64(states[s]), p.action, p.provider, string(s))
			delete(states, s)
		}
		for s, n := range states { // a state this build does not know
			ch <- prometheus.MustNewConstMetric(c.requests, prometheus.GaugeValue, float64(n), p.action, p.provider, string(s))
		}
	}
	return nil
}

// collectJobs reports every River job state for each queue seen, zeros
// included.
func (c *storeCollector) collectJobs(ctx context.Context, ch chan<- prometheus.Metric) error {
	counts, err := c.src.JobCounts(ctx)
	if err != nil {
		return err
	}
	byQueue := map[string]map[string]int64{}
	var order []string
	for _, n := range counts {
		if byQueue[n.Queue] == nil {
			byQueue[n.Queue] = map[string]int64{}
			order = append(order, n.Queue)
		}
		byQueue[n.Queue][n.State] += n.N
	}
	for _, q := range order {
		states := byQueue[q]
		for _, s := range rivertype.JobStates() {
			ch <- prometheus.MustNewConstMetric(c.jobs, prometheus.GaugeValue, float64(states[string(s)]), q, string(s))
			delete(states, string(s))
		}
		for s, n := range states {
			ch <- prometheus.MustNewConstMetric(c.jobs, prometheus.GaugeValue, float64(n), q, s)
		}
	}
	return nil
}

func (c *storeCollector) collectAudit(ctx context.Context, ch chan<- prometheus.Metric) error {
	seq, _, err := c.src.AuditHead(ctx)
	if err != nil {
		return err
	}
	ch <- prometheus.MustNewConstMetric(c.audit, prometheus.GaugeValue, float64(seq))
	return nil
}
