package tmcas

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/countersign/countersign/internal/httpx"
)

// API types a token is created with (console: Automation and Integration
// APIs); named in errors for 401 and 403.
const (
	apiAccounts = "Threat Mitigation → User account"
	apiMails    = "Threat Mitigation → Email message"
	apiSweep    = "Threat Investigation"
)

// maxBody caps how much of a response is read: a results page of 500
// actions is about 300 KB, a sweep page of 1,000 mails a few MB.
const maxBody = 32 << 20

// Error is a non-2xx answer of TMCAS, decoded from its error body
// {"code", "traceId", "msg"}.
type Error struct {
	Status  int    // HTTP status
	Code    int    // the body's result code; no official table exists
	TraceID string // TMCAS's id for the request, for support cases
	Msg     string // the body's description, shortened
	// APIType names the API type the token needs; set on 401 and 403.
	APIType string
}

func (e *Error) Error() string {
	code := ""
	if e.Code != 0 {
		code = "code " + strconv.Itoa(e.Code)
	}
	s := "TMCAS answered " + httpx.RefusalText(e.Status, code, e.Msg,
		"the token is missing, wrong, expired or deleted, or was not created with the "+e.APIType+" API type",
		"the token needs the "+e.APIType+" API type")
	if e.TraceID != "" {
		s += " (traceId " + e.TraceID + ")"
	}
	return s
}

// ErrForeignLink means a next_link pointed away from the configured base
// URL; following it would send the token elsewhere.
var ErrForeignLink = errors.New("tmcas: next_link leaves the configured base URL")

// refused decodes a non-2xx answer of TMCAS for the caller.
func refused(call httpx.Call, a httpx.Answer) httpx.Refusal {
	e := decodeError(a.Status, a.Body)
	e.APIType = call.Needs
	r := httpx.Refusal{Err: e, RequestID: e.TraceID}
	if e.Code != 0 {
		r.Code = strconv.Itoa(e.Code)
	}
	return r
}

// get reads u with the caller; decode parses a 2xx body and returns its
// traceId. Only the batch_id of the query is logged: message ids and
// mailboxes are personal data.
func (c *Client) get(ctx context.Context, u *url.URL, api string, decode func([]byte) (string, error)) error {
	call := httpx.Call{Method: http.MethodGet, URL: u, Class: httpx.Repeatable, Needs: api, Decode: decode}
	if id := u.Query().Get("batch_id"); id != "" {
		call.Attrs = []slog.Attr{slog.String("batch_id", id)}
	}
	_, err := c.caller.Do(ctx, call)
	return err
}

// gate paces the requests of a Client: the limiter of its token, and the
// record of the server's window that a 429 without Retry-After ends with.
type gate struct {
	limiter *httpx.WindowLimiter
	window  *serverWindow
	now     func() time.Time
}

// Wait waits for the limiter and records the request leaving.
func (g *gate) Wait(ctx context.Context) error {
	if _, err := g.limiter.Wait(ctx); err != nil {
		return err
	}
	g.window.sent(g.now())
	return nil
}

// Block holds every request of the token until t: the throttle applies to
// the token, so Clients sharing the limiter wait too.
func (g *gate) Block(t time.Time) { g.limiter.Block(t) }

// serverWindow mirrors the throttle window TMCAS keeps per token: it starts
// with the first request after the previous window ended and lasts per.
// After a 429 without Retry-After, requests may start again one window after
// that first request.
type serverWindow struct {
	per, margin time.Duration

	mu    sync.Mutex
	start time.Time
}

// sent records a request leaving at t.
func (w *serverWindow) sent(t time.Time) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.start.IsZero() || t.Sub(w.start) >= w.per {
		w.start = t
	}
}

// end returns when the current window is over, with the safety margin. If
// our record says it is already over, someone else shares the token or the
// clocks disagree, so wait a whole window: any window open now ends by then.
func (w *serverWindow) end(now time.Time) time.Time {
	w.mu.Lock()
	defer w.mu.Unlock()
	e := w.start.Add(w.per + w.margin)
	if w.start.IsZero() || !e.After(now) {
		return now.Add(w.per)
	}
	return e
}
