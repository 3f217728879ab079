package tmcas_test

import (
	"net/http"
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

func accountSpec(a approvals.Action, targets ...string) approvals.Spec {
	return approvals.Spec{Action: a, Provider: providers.TMCAS, Targets: targets}
}

func mailSpec(action string, recipients []string, ids ...string) approvals.Spec {
	return approvals.Spec{Action: approvals.ActionPurgeMail, Provider: providers.TMCAS, Targets: ids,
		Mail: &approvals.MailOptions{Action: action, Recipients: recipients}}
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
