package tmcas_test

import (
	"context"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/countersign/countersign/approvals"
	"github.com/countersign/countersign/providers"
	"github.com/countersign/countersign/providers/tmcas"
	"github.com/countersign/countersign/providers/tmcas/tmcastest"
)

// newFake starts a fake TMCAS that is closed with the test.
func newFake(t testing.TB, opts tmcastest.Options) *tmcastest.Server {
	t.Helper()
	f := tmcastest.New(opts)
	t.Cleanup(f.Close)
	return f
}

// newClient returns a client of fake with fast retries; mod adjusts the
// config.
func newClient(t testing.TB, fake *tmcastest.Server, mod func(*tmcas.Config)) *tmcas.Client {
	t.Helper()
	cfg := tmcas.Config{
		BaseURL:      fake.URL(),
		Token:        fake.Token(),
		RetryInitial: time.Millisecond,
		RetryMax:     5 * time.Millisecond,
		HTTPClient:   &http.Client{Timeout: 10 * time.Second},
	}
	if mod != nil {
		mod(&cfg)
	}
	c, err := tmcas.New(cfg)
	if err != nil {
		t.Fatalf("tmcas.New: %v", err)
	}
	return c
}

// testCtx is bounded so a hang fails the test instead of the run.
func testCtx(t testing.TB) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func accountSpec(a approvals.Action, targets ...string) approvals.Spec {
	return approvals.Spec{Action: a, Provider: providers.TMCAS, Targets: targets}
}

func mailSpec(action string, recipients []string, ids ...string) approvals.Spec {
	return approvals.Spec{Action: approvals.ActionPurgeMail, Provider: providers.TMCAS, Targets: ids,
		Mail: &approvals.MailOptions{Action: action, Recipients: recipients}}
}

// submitSpec resolves spec and submits every resolved item.
func submitSpec(t testing.TB, c *tmcas.Client, spec approvals.Spec) providers.Submission {
	t.Helper()
	items, err := c.Resolve(testCtx(t), spec)
	if err != nil {
		t.Fatalf("Resolve: %v", err)
	}
	sub, err := c.Submit(testCtx(t), providers.Batch{Spec: spec, Items: items})
	if err != nil {
		t.Fatalf("Submit: %v", err)
	}
	return sub
}

// pollUntilDone polls until every item is terminal. Each poll moves the
// fake's batch along, so no waiting is needed.
func pollUntilDone(t testing.TB, ctx context.Context, c *tmcas.Client, sub providers.Submission) providers.Progress {
	t.Helper()
	for i := 0; i < 50; i++ {
		p, err := c.Poll(ctx, sub)
		if err != nil {
			t.Fatalf("Poll: %v", err)
		}
		if p.Done {
			return p
		}
	}
	t.Fatalf("batch %s not done after 50 polls", sub.ID)
	return providers.Progress{}
}

// statuses maps item keys to their status.
func statuses(p providers.Progress) map[string]approvals.ItemStatus {
	m := map[string]approvals.ItemStatus{}
	for _, it := range p.Items {
		m[it.Key] = it.Status
	}
	return m
}

// countCalls counts the fake's calls with method and path (any when "").
func countCalls(calls []tmcastest.Call, method, path string) int {
	n := 0
	for _, c := range calls {
		if (method == "" || c.Method == method) && (path == "" || c.Path == path) {
			n++
		}
	}
	return n
}

// capture is a slog handler that keeps every record, for log assertions.
type capture struct {
	mu      *sync.Mutex
	records *[]slog.Record
	attrs   []slog.Attr
}

func newCapture() *capture { return &capture{mu: &sync.Mutex{}, records: &[]slog.Record{}} }

func (h *capture) Enabled(context.Context, slog.Level) bool { return true }

func (h *capture) Handle(_ context.Context, r slog.Record) error {
	r = r.Clone()
	r.AddAttrs(h.attrs...)
	h.mu.Lock()
	defer h.mu.Unlock()
	*h.records = append(*h.records, r)
	return nil
}

func (h *capture) WithAttrs(as []slog.Attr) slog.Handler {
	c := *h
	c.attrs = append(append([]slog.Attr{}, h.attrs...), as...)
	return &c
}

func (h *capture) WithGroup(string) slog.Handler { return h }

func (h *capture) all() []slog.Record {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]slog.Record(nil), *h.records...)
}

// hookTransport calls after once each round trip finished.
type hookTransport struct {
	base  http.RoundTripper
	n     atomic.Int32
	after func(n int, err error)
}

func (h *hookTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := h.base.RoundTrip(r)
	h.after(int(h.n.Add(1)), err)
	return resp, err
}
