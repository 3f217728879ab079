package metrics

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// logLines decodes the JSON lines a handler wrote.
func logLines(t *testing.T, b *bytes.Buffer) []map[string]any {
	t.Helper()
	var out []map[string]any
	dec := json.NewDecoder(b)
	for {
		var line map[string]any
		if err := dec.Decode(&line); err == io.EOF {
			return out
		} else if err != nil {
			t.Fatalf("decoding log line: %v", err)
		}
		out = append(out, line)
	}
}

func testMux() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /slack/commands", func(w http.ResponseWriter, r *http.Request) {
		if RequestID(r.Context()) == "" {
			http.Error(w, "no request id", http.StatusInternalServerError)
			return
		}
		io.WriteString(w, "ok")
	})
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "{}") })
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
	})
	mux.HandleFunc("GET /boom", func(w http.ResponseWriter, r *http.Request) { panic("boom") })
	return mux
}

func TestMiddlewareLogsOneSafeLinePerRequest(t *testing.T) {
	const (
		secretQuery  = "xoxb-query-secret"
		secretHeader = "v0=signature-secret"
		secretBody   = "token=body-secret"
		secretCookie = "cookie-secret"
	)
	var logs bytes.Buffer
	m := New(Options{Now: stepClock(1500 * time.Microsecond)})
	h := m.Middleware(slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})), testMux())

	req := httptest.NewRequest(http.MethodPost, "/slack/commands?token="+secretQuery, strings.NewReader(secretBody))
	req.Header.Set("X-Slack-Signature", secretHeader)
	req.Header.Set("Authorization", "Bearer "+secretHeader)
	req.Header.Set("Cookie", "s="+secretCookie)
	req.Header.Set(HeaderRequestID, "ingress-7f3a")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		t.Fatalf("POST /slack/commands: status %d, body %q", rec.Code, rec.Body)
	}
	if got := rec.Header().Get(HeaderRequestID); got != "ingress-7f3a" {
		t.Errorf("response %s: got %q, want the incoming id", HeaderRequestID, got)
	}

	raw := logs.String()
	for _, secret := range []string{secretQuery, secretHeader, secretBody, secretCookie, "token=", "Signature", "Authorization"} {
		if strings.Contains(raw, secret) {
			t.Errorf("log contains %q: %s", secret, raw)
		}
	}
	lines := logLines(t, &logs)
	want := []map[string]any{{
		"level":       "INFO",
		"msg":         "http request",
		"method":      "POST",
		"path":        "/slack/commands",
		"route":       "POST /slack/commands",
		"status":      float64(200),
		"duration_ms": 1.5,
		"bytes":       float64(2),
		"request_id":  "ingress-7f3a",
	}}
	if diff := cmp.Diff(want, lines, cmpIgnoreTime); diff != "" {
		t.Errorf("log lines (-want +got):\n%s", diff)
	}
	if got := testutil.ToFloat64(m.httpRequests.WithLabelValues("POST /slack/commands", "200")); got != 1 {
		t.Errorf("countersign_http_requests_total{route=POST /slack/commands,code=200}: got %v, want 1", got)
	}
}

// cmpIgnoreTime drops the time key, which the handler stamps with the wall clock.
var cmpIgnoreTime = cmp.Transformer("dropTime", func(m map[string]any) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		if k != "time" {
			out[k] = v
		}
	}
	return out
})

func TestMiddlewareRequestIDs(t *testing.T) {
	h := (*Metrics)(nil).Middleware(nil, testMux())
	for _, tt := range []struct {
		name, incoming string
		keep           bool
	}{
		{"none", "", false},
		{"uuid", "0b9c2a7e-5f7d-4c8e-9a51-3f0d2e6b8c11", true},
		{"log injection", "abc\" injected=\"1", false},
		{"too long", strings.Repeat("a", 65), false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			req := httptest.NewRequest(http.MethodPost, "/slack/commands", nil)
			if tt.incoming != "" {
				req.Header.Set(HeaderRequestID, tt.incoming)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != http.StatusOK {
				t.Fatalf("status %d: the handler saw no request id", rec.Code)
			}
			got := rec.Header().Get(HeaderRequestID)
			if tt.keep && got != tt.incoming {
				t.Errorf("got id %q, want the incoming %q", got, tt.incoming)
			}
			if !tt.keep && (got == tt.incoming || !validRequestID(got)) {
				t.Errorf("got id %q, want a new well-formed one", got)
			}
		})
	}
}

func TestMiddlewareLevelsRoutesAndPanics(t *testing.T) {
	var logs bytes.Buffer
	m := New(Options{})
	h := m.Middleware(slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})), testMux())
	long := "/" + strings.Repeat("x", 300)
	for _, path := range []string{"/healthz", "/readyz", "/nope", long} {
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, path, nil))
	}
	func() {
		defer func() {
			if p := recover(); p != "boom" {
				t.Errorf("recovered %v, want the handler's panic", p)
			}
		}()
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/boom", nil))
	}()

	type line struct{ Level, Path, Route string }
	var got []line
	for _, l := range logLines(t, &logs) {
		got = append(got, line{l["level"].(string), l["path"].(string), l["route"].(string)})
	}
	want := []line{
		{"DEBUG", "/healthz", "GET /healthz"},
		{"INFO", "/readyz", "GET /readyz"},
		{"INFO", "/nope", "unmatched"},
		{"INFO", long[:256] + "…", "unmatched"},
		{"WARN", "/boom", "GET /boom"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("log lines (-want +got):\n%s", diff)
	}
	for _, tt := range []struct {
		route, code string
	}{{"GET /healthz", "200"}, {"GET /readyz", "503"}, {"unmatched", "404"}, {"GET /boom", "500"}} {
		if got := testutil.ToFloat64(m.httpRequests.WithLabelValues(tt.route, tt.code)); got == 0 {
			t.Errorf("countersign_http_requests_total{route=%q,code=%q}: got 0", tt.route, tt.code)
		}
	}
}

func TestMiddlewareKeepsFlusher(t *testing.T) {
	h := (*Metrics)(nil).Middleware(nil, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, ok := w.(http.Flusher); !ok {
			t.Error("wrapped writer is not an http.Flusher")
		}
		if err := http.NewResponseController(w).Flush(); err != nil {
			t.Errorf("ResponseController.Flush: %v", err)
		}
	}))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
	if !rec.Flushed {
		t.Error("the response was not flushed")
	}
}
