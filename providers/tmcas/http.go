package tmcas

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/countersign/countersign/internal/httpx"
	"github.com/countersign/countersign/providers"
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
	var b strings.Builder
	fmt.Fprintf(&b, "TMCAS answered HTTP %d", e.Status)
	if e.Code != 0 {
		fmt.Fprintf(&b, " code %d", e.Code)
	}
	if e.Msg != "" {
		fmt.Fprintf(&b, ": %s", e.Msg)
	}
	switch e.Status {
	case http.StatusUnauthorized:
		fmt.Fprintf(&b, "; the token is missing, wrong, expired or deleted, or was not created with the %s API type", e.APIType)
	case http.StatusForbidden:
		fmt.Fprintf(&b, "; the token needs the %s API type", e.APIType)
	}
	if e.TraceID != "" {
		fmt.Fprintf(&b, " (traceId %s)", e.TraceID)
	}
	return b.String()
}

// errPastDeadline says why a call gave up before its context's deadline.
var errPastDeadline = errors.New("the next attempt would come after the deadline")

// ErrForeignLink means a next_link pointed away from the configured base
// URL; following it would send the token elsewhere.
var ErrForeignLink = errors.New("tmcas: next_link leaves the configured base URL")

// call is one logical request; do sends it, retrying when that is safe.
type call struct {
	method string
	u      *url.URL
	body   []byte // JSON; nil for GET
	api    string // API type, for 401/403
	// decode parses a 2xx body and returns its traceId. For a POST a
	// decode error makes the outcome uncertain.
	decode func([]byte) (traceID string, err error)
}

// do sends c through the limiter, retrying 429 and, for GETs, 5xx answers
// and transport errors, with jittered backoff.
//
// A POST is never sent twice once it may have reached TMCAS: a transport
// error after the request was written, a 2xx that cannot be read, and any
// 5xx return providers.ErrUncertain. TMCAS documents 500 as "unexpected
// server error" and 503 as overloaded; neither says the batch was not
// created, and a gateway's 502 or 504 says nothing at all (§1.4: "never
// blindly retry a POST whose outcome is unknown"). Only 429 is a refusal
// that certainly did nothing.
func (c *Client) do(ctx context.Context, r call) error {
	post := r.method == http.MethodPost
	bo := httpx.NewBackoff(c.retryInitial, c.retryMax)
	var last error
	for attempt := 1; attempt <= c.maxRetries+1; attempt++ {
		// A throttle lasting past the deadline is reported at once, so the
		// engine can snooze the job rather than hold a worker.
		if httpx.PastDeadline(ctx, c.window.blockedUntil()) {
			return c.giveUp(r, attempt-1, last, errPastDeadline)
		}
		if _, err := c.limiter.Wait(ctx); err != nil {
			return c.giveUp(r, attempt-1, last, err)
		}
		res := c.send(ctx, r, attempt)
		switch {
		case res.err != nil && post && res.maybeSent:
			return fmt.Errorf("%s %s: %w: %w", r.method, r.u.Path, providers.ErrUncertain, res.err)
		case res.err != nil && ctx.Err() != nil:
			return c.giveUp(r, attempt, res.err, ctx.Err())
		case res.err != nil:
			last = res.err // nothing reached TMCAS, or a GET: safe to repeat
		case res.status >= 200 && res.status < 300:
			if res.decodeErr != nil {
				if post {
					return fmt.Errorf("%s %s: HTTP %d: %w: %w", r.method, r.u.Path, res.status, providers.ErrUncertain, res.decodeErr)
				}
				return fmt.Errorf("%s %s: HTTP %d: %w", r.method, r.u.Path, res.status, res.decodeErr)
			}
			return nil
		case post && res.status >= http.StatusInternalServerError:
			return fmt.Errorf("%s %s: %w: %w", r.method, r.u.Path, providers.ErrUncertain, res.apiErr)
		case res.status == http.StatusTooManyRequests:
			last = res.apiErr
			// Without Retry-After (the documented case): "The user can
			// start new requests in the next minute from the first request."
			now := c.now()
			until := c.window.end(now)
			if d, ok := httpx.RetryAfter(res.header, now); ok {
				until = now.Add(d)
			}
			// The throttle applies to the token, so every call waits.
			c.limiter.Block(until)
			c.window.block(until)
			continue
		case httpx.Retryable(res.status):
			last = res.apiErr
		default:
			return fmt.Errorf("%s %s: %w", r.method, r.u.Path, res.apiErr)
		}
		if attempt > c.maxRetries {
			break
		}
		d := bo.NextBackOff()
		if ra, ok := httpx.RetryAfter(res.header, c.now()); ok && ra > d {
			d = ra
		}
		if httpx.PastDeadline(ctx, c.now().Add(d)) {
			return c.giveUp(r, attempt, last, errPastDeadline)
		}
		if err := httpx.Sleep(ctx, d); err != nil {
			return c.giveUp(r, attempt, last, err)
		}
	}
	return c.giveUp(r, c.maxRetries+1, last, nil)
}

// giveUp is the error for a call that TMCAS never performed: refused until
// the retries or the context ran out.
func (c *Client) giveUp(r call, attempts int, last, cause error) error {
	switch {
	case last != nil && cause != nil:
		return fmt.Errorf("%s %s: %w after %d attempts: %w (stopped: %w)", r.method, r.u.Path, providers.ErrTemporary, attempts, last, cause)
	case last != nil:
		return fmt.Errorf("%s %s: %w after %d attempts: %w", r.method, r.u.Path, providers.ErrTemporary, attempts, last)
	default:
		return fmt.Errorf("%s %s: %w: %w", r.method, r.u.Path, providers.ErrTemporary, cause)
	}
}

// result is what one attempt produced.
type result struct {
	status    int
	header    http.Header
	maybeSent bool  // the request may have reached the server whole
	err       error // transport error; the URL (personal data in queries) is stripped
	apiErr    *Error
	decodeErr error
}

// send makes one attempt and logs it.
func (c *Client) send(ctx context.Context, r call, attempt int) (res result) {
	start := time.Now()
	traceID := ""
	defer func() { c.logCall(ctx, r, attempt, res, traceID, time.Since(start)) }()

	// Once a connection is in hand the request may be on the wire; only a
	// reported write error proves the server got at most a partial body it
	// cannot act on. Judging by GotConn rather than by a successful
	// WroteRequest is deliberately conservative: the transport may report
	// the write after Do has already returned a timeout.
	var gotConn, writeFailed atomic.Bool
	trace := &httptrace.ClientTrace{
		GotConn: func(httptrace.GotConnInfo) { gotConn.Store(true) },
		WroteRequest: func(i httptrace.WroteRequestInfo) {
			if i.Err != nil {
				writeFailed.Store(true)
			}
		},
	}
	var body io.Reader
	if r.body != nil {
		body = bytes.NewReader(r.body)
	}
	req, err := http.NewRequestWithContext(httptrace.WithClientTrace(ctx, trace), r.method, r.u.String(), body)
	if err != nil {
		res.err = err
		return res
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Accept", "application/json")
	if r.body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	c.window.sent(c.now())
	resp, err := c.hc.Do(req)
	res.maybeSent = gotConn.Load() && !writeFailed.Load()
	if err != nil {
		res.err = httpx.StripURL(err)
		return res
	}
	defer resp.Body.Close()
	res.status, res.header = resp.StatusCode, resp.Header
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxBody+1))
	if err == nil && len(b) > maxBody {
		err = fmt.Errorf("response body exceeds %d bytes", maxBody)
	}
	if err != nil {
		err = fmt.Errorf("reading HTTP %d response: %w", resp.StatusCode, httpx.StripURL(err))
		if r.method == http.MethodPost && resp.StatusCode >= 300 {
			// The status alone says TMCAS refused; judge by it.
			res.apiErr = decodeError(resp.StatusCode, nil)
			res.apiErr.APIType = r.api
			return res
		}
		// An answer means the request arrived; after a 2xx to a POST the
		// batch exists even though we cannot read its id.
		res.maybeSent = true
		res.status, res.err = 0, err
		return res
	}
	if res.status >= 200 && res.status < 300 {
		traceID, res.decodeErr = r.decode(b)
		return res
	}
	res.apiErr = decodeError(res.status, b)
	res.apiErr.APIType = r.api
	traceID = res.apiErr.TraceID
	return res
}

// logCall writes the one line per HTTP call. It logs the path and only the
// batch_id of the query: message ids and mailboxes are personal data. Never
// the token, never bodies.
func (c *Client) logCall(ctx context.Context, r call, attempt int, res result, traceID string, d time.Duration) {
	attrs := []slog.Attr{
		slog.String("method", r.method),
		slog.String("path", r.u.Path),
		slog.Int("status", res.status),
		slog.Duration("duration", d),
		slog.Int("attempt", attempt),
	}
	if id := r.u.Query().Get("batch_id"); id != "" {
		attrs = append(attrs, slog.String("batch_id", id))
	}
	if traceID != "" {
		attrs = append(attrs, slog.String("traceId", traceID))
	}
	level := slog.LevelInfo
	switch {
	case res.err != nil:
		level = slog.LevelWarn
		attrs = append(attrs, slog.String("error", res.err.Error()), slog.Bool("maybe_sent", res.maybeSent))
	case res.decodeErr != nil:
		level = slog.LevelWarn
		attrs = append(attrs, slog.String("error", res.decodeErr.Error()))
	case res.apiErr != nil:
		level = slog.LevelWarn
		attrs = append(attrs, slog.Int("code", res.apiErr.Code))
	}
	c.log.LogAttrs(ctx, level, "tmcas call", attrs...)
}

// serverWindow mirrors the throttle window TMCAS keeps per token: it starts
// with the first request after the previous window ended and lasts per.
// After a 429 without Retry-After, requests may start again one window after
// that first request.
type serverWindow struct {
	per, margin time.Duration

	mu      sync.Mutex
	start   time.Time
	blocked time.Time // no requests before this, after a 429
}

// block records that the token may send nothing before until.
func (w *serverWindow) block(until time.Time) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if until.After(w.blocked) {
		w.blocked = until
	}
}

// blockedUntil returns the end of the current throttle, or zero.
func (w *serverWindow) blockedUntil() time.Time {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.blocked
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
