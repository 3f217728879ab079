package metrics

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/countersign/countersign/internal/httpx"
)

// HeaderRequestID carries the request id: taken from the request when a
// proxy in front set a well-formed one, otherwise made up, and always
// returned in the response.
const HeaderRequestID = "X-Request-Id"

type requestIDKey struct{}

// RequestID returns the id Middleware gave the request of ctx, or "" when
// ctx is not from a request it served. Handlers log it as request_id.
func RequestID(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey{}).(string)
	return id
}

// Middleware logs one JSON-friendly line per request to log — method,
// path, route, status, duration_ms, bytes and request_id — and, unless m
// is nil, counts it in countersign_http_requests_total and
// countersign_http_request_duration_seconds by route (the ServeMux
// pattern, "unmatched" when none matched).
//
// It never logs the query string, headers or bodies: Slack and Discord
// requests carry signatures and tokens there. Successful probes of
// /healthz, /readyz and /metrics are logged at debug level, failed ones at
// info (the health checks log their own failures), server errors at warn,
// everything else at info. A nil log discards the lines.
func (m *Metrics) Middleware(log *slog.Logger, next http.Handler) http.Handler {
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	now := time.Now
	if m != nil {
		now = m.now
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := now()
		id := r.Header.Get(HeaderRequestID)
		if !validRequestID(id) {
			id = httpx.RequestID()
		}
		w.Header().Set(HeaderRequestID, id)
		r = r.WithContext(context.WithValue(r.Context(), requestIDKey{}, id))
		rec := &recorder{ResponseWriter: w}
		done := func() {
			status := rec.status
			if status == 0 {
				status = http.StatusOK
			}
			d := now().Sub(start)
			// ServeMux sets Pattern on the request it was given, which is r.
			route := r.Pattern
			if route == "" {
				route = "unmatched"
			}
			if m != nil {
				m.httpRequests.WithLabelValues(route, strconv.Itoa(status)).Inc()
				m.httpTime.WithLabelValues(route).Observe(seconds(d))
			}
			log.LogAttrs(r.Context(), level(r, status), "http request",
				slog.String("method", clip(r.Method, 16)),
				slog.String("path", clip(r.URL.Path, 256)),
				slog.String("route", route),
				slog.Int("status", status),
				slog.Float64("duration_ms", float64(d.Microseconds())/1000),
				slog.Int64("bytes", rec.bytes),
				slog.String("request_id", id),
			)
		}
		defer func() {
			// A panicking handler still gets its line; net/http then
			// recovers the panic and closes the connection.
			if p := recover(); p != nil {
				if rec.status == 0 {
					rec.status = http.StatusInternalServerError
				}
				done()
				panic(p)
			}
		}()
		next.ServeHTTP(rec, r)
		done()
	})
}

// level picks the log level of a request's line.
func level(r *http.Request, status int) slog.Level {
	switch r.URL.Path {
	case "/healthz", "/readyz", "/metrics":
		if status < 400 {
			return slog.LevelDebug
		}
		return slog.LevelInfo
	}
	if status >= 500 {
		return slog.LevelWarn
	}
	return slog.LevelInfo
}

// validRequestID accepts ids a proxy would set (UUIDs, hex, base64url) and
// nothing that could smuggle markup or another field into a log line.
func validRequestID(id string) bool {
	if id == "" || len(id) > 64 {
		return false
	}
	for _, c := range id {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '-', c == '_', c == '.':
		default:
			return false
		}
	}
	return true
}

// clip bounds a client-chosen string in a log line.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// recorder notes the status and size of a response.
type recorder struct {
	http.ResponseWriter
	status int
	bytes  int64
}

func (r *recorder) WriteHeader(code int) {
	if r.status == 0 && code >= 200 { // 1xx answers are not the status
		r.status = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	n, err := r.ResponseWriter.Write(b)
	r.bytes += int64(n)
	return n, err
}

// Flush lets handlers that stream flush through the recorder.
func (r *recorder) Flush() {
	_ = http.NewResponseController(r.ResponseWriter).Flush()
}

// Unwrap gives http.ResponseController the underlying writer.
func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }
