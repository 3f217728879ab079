package metrics

import (
	"net/http"
	"strconv"
	"strings"
)

// Transport wraps next so that every call through it is counted in
// countersign_outbound_requests_total by kind (KindProvider, KindChat),
// name (tmcas, graph, slack, discord), host and status code — "429" for
// throttling, "error" when no response arrived — and timed in
// countersign_outbound_request_duration_seconds. nil next means
// http.DefaultTransport. A nil *Metrics returns next itself.
//
// Provider clients and chat adapters take an *http.Client; give them one
// whose Transport is this.
func (m *Metrics) Transport(kind, name string, next http.RoundTripper) http.RoundTripper {
	if next == nil {
		next = http.DefaultTransport
	}
	if m == nil {
		return next
	}
	return &transport{m: m, kind: kind, name: name, next: next}
}

type transport struct {
	m          *Metrics
	kind, name string
	next       http.RoundTripper
}

// RoundTrip implements http.RoundTripper.
func (t *transport) RoundTrip(req *http.Request) (*http.Response, error) {
	start := t.m.now()
	res, err := t.next.RoundTrip(req)
	// The host alone: the path and query may name users and carry tokens.
	host := strings.ToLower(req.URL.Host)
	code := "error"
	if err == nil {
		code = strconv.Itoa(res.StatusCode)
	}
	t.m.outbound.WithLabelValues(t.kind, t.name, host, code).Inc()
	t.m.outboundTime.WithLabelValues(t.kind, t.name, host).Observe(seconds(t.m.now().Sub(start)))
	return res, err
}
