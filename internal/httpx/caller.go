package httpx

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
	"unicode"

	"github.com/countersign/countersign/providers"
)

// Class says whether a call may be sent again once it may have reached the
// server.
type Class int

const (
	// Once is a call that acts (a POST that disables an account). After an
	// answer that may mean it was performed — a 5xx, a transport error
	// after the request was written, a 2xx that cannot be read — it is
	// never sent again: the outcome is providers.ErrUncertain. It is the
	// zero value, so a call is repeated only when it says it is safe.
	Once Class = iota
	// Repeatable is a call that may be sent again after any failure (a
	// GET).
	Repeatable
)

func (c Class) String() string {
	if c == Repeatable {
		return "repeatable"
	}
	return "once"
}

// Call is one logical request.
type Call struct {
	Method string
	URL    *url.URL
	Body   []byte // JSON; nil for none
	Class  Class
	// Needs names what the call needs (a permission, an API type); the
	// caller's Refused hook puts it in errors for 401 and 403.
	Needs string
	// Decode, when set, reads a 2xx body and returns the server's id for
	// the request found in it. Its error makes a Once call uncertain (the
	// server acted; only the answer is lost) and fails a Repeatable one.
	Decode func(body []byte) (requestID string, err error)
	// Attrs are added to the call's log lines. Never personal data.
	Attrs []slog.Attr
}

// Answer is a non-2xx answer, for the provider to decode.
type Answer struct {
	Status   int
	Header   http.Header
	Body     []byte // nil when it could not be read
	ClientID string // the id sent in Caller.ClientIDHeader, or ""
}

// Refusal is a decoded non-2xx answer.
type Refusal struct {
	Err       error  // the provider's typed error; never nil
	RequestID string // the server's id for the request, logged as request_id
	Code      string // the provider's error code, logged as code
	// Attrs are further provider facts for the log line (never personal
	// data).
	Attrs []slog.Attr
}

// Response is a 2xx answer.
type Response struct {
	Status    int
	Header    http.Header
	Body      []byte
	RequestID string // the server's id for the request
}

// Gate paces the requests of one credential.
type Gate interface {
	// Wait blocks until a request may leave or ctx is done.
	Wait(ctx context.Context) error
	// Block holds every request until t: the server throttled the
	// credential, not one request.
	Block(t time.Time)
}

// Credentials supply the Authorization header of each attempt.
type Credentials interface {
	// Authorization returns the header value. An error marked Transient
	// is retried like a refusal; any other ends the call.
	Authorization(ctx context.Context) (string, error)
	// Rejected is told that the server answered 401 to value and reports
	// whether fresh credentials may succeed; the call is then tried once
	// more.
	Rejected(value string) bool
}

// Bearer is a fixed bearer token.
type Bearer string

// Authorization returns "Bearer <token>".
func (b Bearer) Authorization(context.Context) (string, error) { return "Bearer " + string(b), nil }

// Rejected reports false: a fixed token does not get better.
func (Bearer) Rejected(string) bool { return false }

// Transient marks an error of a step before sending (fetching a token)
// that may pass: the call is tried again later like a refused one.
func Transient(err error) error { return transientError{err} }

type transientError struct{ error }

func (e transientError) Unwrap() error { return e.error }

// Attempt is what one attempt did, for metrics.
type Attempt struct {
	Method   string
	Path     string
	Class    Class
	Status   int // 0 when no answer arrived
	Outcome  string
	Duration time.Duration
}

// Outcomes of an attempt, logged as outcome and given to Hooks.Attempt.
const (
	OutcomeOK        = "ok"        // 2xx
	OutcomeRetry     = "retry"     // refused or failed; tried again
	OutcomeGaveUp    = "gave_up"   // refused or failed; no retries left
	OutcomeRefused   = "refused"   // a final refusal (4xx)
	OutcomeUncertain = "uncertain" // may have been performed; never sent again
	OutcomeFailed    = "failed"    // a 2xx that could not be decoded
)

// Hooks observe the calls, for metrics. Each may be nil and must be fast.
type Hooks struct {
	// Waited is told how long each attempt waited at the gate (zero when
	// it did not wait, and also when the context ended the wait).
	Waited func(time.Duration)
	// Attempt is told about each attempt that was sent.
	Attempt func(Attempt)
}

// Caller sends the calls of one provider credential: it paces them at a
// gate, authorizes each attempt, retries what is safe to retry with
// Retry-After or jittered backoff, never repeats a Once call that may have
// been performed, and logs one line per attempt. It is safe for concurrent
// use. Each provider keeps only its credentials, error decoding and paging.
type Caller struct {
	// Client sends the requests. It must not follow redirects (see
	// NoRedirects).
	Client *http.Client
	// Log receives one line per attempt; nil discards. The provider's name
	// is expected among its attributes.
	Log *slog.Logger
	// Now is the clock of Retry-After dates and throttles; nil means
	// time.Now.
	Now func() time.Time
	// Sleep waits between attempts; nil means Sleep.
	Sleep func(ctx context.Context, d time.Duration) error
	// Gate paces every attempt; required.
	Gate Gate
	// Credentials authorize every attempt; required.
	Credentials Credentials
	// Refused decodes a non-2xx answer; required.
	Refused func(Call, Answer) Refusal
	// Retry says how often and how patiently a call that is safe to
	// repeat is tried again.
	Retry Retry
	// ThrottleEnd, when set, says when a 429 without Retry-After ends (a
	// server that documents its window); nil backs off.
	ThrottleEnd func(now time.Time) time.Time
	// ClientIDHeader, when set, is sent with a fresh id on every attempt
	// ("client-request-id") and logged as client_request_id.
	ClientIDHeader string
	// ServerIDHeader, when set, is the response header holding the
	// server's id for the request ("request-id"), logged as request_id.
	ServerIDHeader string
	// MaxBody caps how much of an answer is read.
	MaxBody int64
	// Hooks observe the calls.
	Hooks Hooks

	mu      sync.Mutex
	blocked time.Time // no attempt before this, after a 429
}

// ErrPastDeadline says why a call gave up before its context's deadline:
// the next attempt would come after it, so the caller can snooze a job
// instead of holding a worker.
var ErrPastDeadline = errors.New("the next attempt would come after the deadline")

// Do sends call and returns its 2xx answer.
//
// Errors wrap providers.ErrTemporary when the call was refused or failed
// without effect until the retries or the context ran out, and
// providers.ErrUncertain when a Once call may have been performed. Other
// errors are final refusals (a decoded 4xx) or undecodable 2xx answers of
// Repeatable calls.
func (c *Caller) Do(ctx context.Context, call Call) (Response, error) {
	bo := NewBackoff(c.Retry.Initial, max(c.Retry.Max, c.Retry.Initial))
	refreshed := false
	var last error
	for attempt := 1; ; attempt++ {
		// A throttle lasting past the deadline is reported at once, so the
		// engine can snooze the job rather than hold a worker.
		if PastDeadline(ctx, c.BlockedUntil()) {
			return Response{}, c.giveUp(call, attempt-1, last, ErrPastDeadline)
		}
		if err := c.wait(ctx); err != nil {
			return Response{}, c.giveUp(call, attempt-1, last, err)
		}
		var retryAfter http.Header
		auth, err := c.Credentials.Authorization(ctx)
		switch {
		case err != nil && !errors.As(err, new(transientError)):
			return Response{}, fmt.Errorf("%s %s: %w", call.Method, call.URL.Path, err)
		case err != nil && ctx.Err() != nil:
			return Response{}, c.giveUp(call, attempt, err, ctx.Err())
		case err != nil:
			last = err // nothing was sent
		default:
			r := c.send(ctx, call, auth, attempt, !refreshed)
			switch r.verdict {
			case verdictOK:
				return r.resp, nil
			case verdictUncertain:
				return Response{}, fmt.Errorf("%s %s: %w: %w", call.Method, call.URL.Path, providers.ErrUncertain, r.err)
			case verdictFinal, verdictUnreadable:
				return Response{}, fmt.Errorf("%s %s: %w", call.Method, call.URL.Path, r.err)
			case verdictRejected:
				refreshed = true
				attempt-- // fresh credentials are not a retry
				continue
			case verdictThrottled:
				last = r.err
				now := c.now()
				var until time.Time
				switch d, ok := RetryAfter(r.header, now); {
				case ok:
					until = now.Add(d)
				case c.ThrottleEnd != nil:
					until = c.ThrottleEnd(now)
				default:
					until = now.Add(bo.NextBackOff())
				}
				// The throttle applies to the credential: every call waits.
				c.block(until)
				if attempt > c.Retry.Times {
					return Response{}, c.giveUp(call, attempt, last, nil)
				}
				if PastDeadline(ctx, until) {
					return Response{}, c.giveUp(call, attempt, last, ErrPastDeadline)
				}
				continue // the gate waits out the block
			case verdictStopped:
				return Response{}, c.giveUp(call, attempt, r.err, ctx.Err())
			case verdictRetry:
				last, retryAfter = r.err, r.header
			}
		}
		if attempt > c.Retry.Times {
			return Response{}, c.giveUp(call, attempt, last, nil)
		}
		d := bo.NextBackOff()
		if ra, ok := RetryAfter(retryAfter, c.now()); ok {
			d = ra
		}
		if PastDeadline(ctx, c.now().Add(d)) {
			return Response{}, c.giveUp(call, attempt, last, ErrPastDeadline)
		}
		if err := c.sleep(ctx, d); err != nil {
			return Response{}, c.giveUp(call, attempt, last, err)
		}
	}
}

// giveUp is the error for a call the server never performed: refused until
// the retries or the context ran out.
func (c *Caller) giveUp(call Call, attempts int, last, cause error) error {
	switch {
	case last != nil && cause != nil:
		return fmt.Errorf("%s %s: %w after %d attempts: %w (stopped: %w)", call.Method, call.URL.Path, providers.ErrTemporary, attempts, last, cause)
	case last != nil:
		return fmt.Errorf("%s %s: %w after %d attempts: %w", call.Method, call.URL.Path, providers.ErrTemporary, attempts, last)
	default:
		return fmt.Errorf("%s %s: %w: %w", call.Method, call.URL.Path, providers.ErrTemporary, cause)
	}
}

func (c *Caller) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}

func (c *Caller) sleep(ctx context.Context, d time.Duration) error {
	if c.Sleep != nil {
		return c.Sleep(ctx, d)
	}
	return Sleep(ctx, d)
}

func (c *Caller) wait(ctx context.Context) error {
	start := time.Now()
	err := c.Gate.Wait(ctx)
	if c.Hooks.Waited != nil {
		c.Hooks.Waited(time.Since(start))
	}
	return err
}

func (c *Caller) block(until time.Time) {
	c.mu.Lock()
	if until.After(c.blocked) {
		c.blocked = until
	}
	c.mu.Unlock()
	c.Gate.Block(until)
}

// BlockedUntil returns when the last 429 lets calls go again, or zero.
func (c *Caller) BlockedUntil() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.blocked
}

// verdict is what the caller makes of one attempt.
type verdict int

const (
	verdictOK         verdict = iota
	verdictRetry              // nothing was performed (or the call is safe to repeat); try again
	verdictThrottled          // 429: nothing was performed; the credential waits
	verdictRejected           // 401: nothing was performed; fresh credentials may help
	verdictUncertain          // a Once call may have been performed
	verdictFinal              // a refusal
	verdictUnreadable         // a 2xx of a Repeatable call that cannot be decoded
	verdictStopped            // the context ended a failed attempt
)

// attemptResult is what one attempt produced.
type attemptResult struct {
	verdict verdict
	resp    Response
	header  http.Header // of a refusal, for Retry-After
	err     error
}

// send makes one attempt, judges it and logs it. mayRefresh says whether a
// 401 may be answered with fresh credentials.
func (c *Caller) send(ctx context.Context, call Call, auth string, attempt int, mayRefresh bool) (r attemptResult) {
	start := time.Now()
	var line logLine
	defer func() {
		line.outcome = outcome(r.verdict, attempt, c.Retry.Times)
		c.logAttempt(ctx, call, attempt, line, r, time.Since(start))
		if c.Hooks.Attempt != nil {
			c.Hooks.Attempt(Attempt{Method: call.Method, Path: call.URL.Path, Class: call.Class, Status: line.status,
				Outcome: line.outcome, Duration: time.Since(start)})
		}
	}()

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
	if call.Body != nil {
		body = bytes.NewReader(call.Body)
	}
	req, err := http.NewRequestWithContext(httptrace.WithClientTrace(ctx, trace), call.Method, call.URL.String(), body)
	if err != nil {
		return attemptResult{verdict: verdictFinal, err: StripURL(err)}
	}
	req.Header.Set("Authorization", auth)
	req.Header.Set("Accept", "application/json")
	if call.Body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.ClientIDHeader != "" {
		line.clientID = RequestID()
		req.Header.Set(c.ClientIDHeader, line.clientID)
	}
	resp, err := c.Client.Do(req)
	line.sent = gotConn.Load() && !writeFailed.Load()
	if err != nil {
		line.err = StripURL(err)
		return c.failed(ctx, call, line.sent, line.err)
	}
	defer resp.Body.Close()
	line.status = resp.StatusCode
	if c.ServerIDHeader != "" {
		line.requestID = clean(resp.Header.Get(c.ServerIDHeader))
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, c.MaxBody+1))
	if err == nil && int64(len(b)) > c.MaxBody {
		err = fmt.Errorf("response body exceeds %d bytes", c.MaxBody)
	}
	ok := resp.StatusCode >= 200 && resp.StatusCode < 300
	if err != nil {
		err = fmt.Errorf("reading HTTP %d response: %w", resp.StatusCode, StripURL(err))
		if ok {
			// An answer means the request arrived; after a 2xx a Once call
			// was performed even though its answer is lost.
			line.err = err
			return c.failed(ctx, call, true, err)
		}
		b = nil // the status alone says the server refused; judge by it
	}
	if ok {
		out := Response{Status: resp.StatusCode, Header: resp.Header, Body: b, RequestID: line.requestID}
		if call.Decode != nil {
			id, err := call.Decode(b)
			if id = clean(id); id != "" {
				out.RequestID, line.requestID = id, id
			}
			if err != nil {
				err = fmt.Errorf("HTTP %d: %w", resp.StatusCode, err)
				line.err = err
				if call.Class == Once {
					return attemptResult{verdict: verdictUncertain, err: err}
				}
				return attemptResult{verdict: verdictUnreadable, err: err}
			}
		}
		return attemptResult{verdict: verdictOK, resp: out}
	}
	ref := c.Refused(call, Answer{Status: resp.StatusCode, Header: resp.Header, Body: b, ClientID: line.clientID})
	if ref.RequestID != "" && line.requestID == "" {
		line.requestID = clean(ref.RequestID)
	}
	line.code, line.attrs = clean(ref.Code), ref.Attrs
	if ra := resp.Header.Get("Retry-After"); ra != "" {
		line.retryAfter = clean(ra)
	}
	r = attemptResult{err: ref.Err, header: resp.Header}
	switch st := resp.StatusCode; {
	case st == http.StatusTooManyRequests:
		// Every provider here documents 429 as a refusal before acting.
		r.verdict = verdictThrottled
	case st == http.StatusUnauthorized && mayRefresh && c.Credentials.Rejected(auth):
		// The credentials may have been revoked or expired early.
		r.verdict = verdictRejected
	case st >= http.StatusInternalServerError && call.Class == Once:
		// 500 and 503 do not say the action was not taken, and a
		// gateway's 502 or 504 says nothing at all.
		r.verdict = verdictUncertain
	case Retryable(st) && call.Class == Repeatable:
		r.verdict = verdictRetry
	default:
		r.verdict = verdictFinal
	}
	return r
}

// failed judges an attempt that got no usable answer.
func (c *Caller) failed(ctx context.Context, call Call, sent bool, err error) attemptResult {
	switch {
	case sent && call.Class == Once:
		return attemptResult{verdict: verdictUncertain, err: err}
	case ctx.Err() != nil:
		return attemptResult{verdict: verdictStopped, err: err}
	}
	return attemptResult{verdict: verdictRetry, err: err} // nothing was sent, or safe to repeat
}

func outcome(v verdict, attempt, retries int) string {
	switch v {
	case verdictOK:
		return OutcomeOK
	case verdictUncertain:
		return OutcomeUncertain
	case verdictFinal:
		return OutcomeRefused
	case verdictUnreadable:
		return OutcomeFailed
	case verdictRejected:
		return OutcomeRetry
	case verdictRetry, verdictThrottled:
		if attempt > retries {
			return OutcomeGaveUp
		}
		return OutcomeRetry
	}
	return OutcomeGaveUp
}

// logLine collects what the log line of an attempt says.
type logLine struct {
	status              int
	outcome             string
	clientID, requestID string
	code, retryAfter    string
	sent                bool
	err                 error
	attrs               []slog.Attr
}

// logAttempt writes the one line per attempt, with the same keys for every
// provider: the path, never the query (it holds addresses and message
// ids), never credentials or bodies.
func (c *Caller) logAttempt(ctx context.Context, call Call, attempt int, l logLine, r attemptResult, d time.Duration) {
	if c.Log == nil {
		return
	}
	attrs := []slog.Attr{
		slog.String("method", call.Method),
		slog.String("path", call.URL.Path),
		slog.Int("status", l.status),
		slog.Duration("duration", d),
		slog.Int("attempt", attempt),
		slog.String("class", call.Class.String()),
		slog.String("outcome", l.outcome),
	}
	attrs = append(attrs, call.Attrs...)
	if l.clientID != "" {
		attrs = append(attrs, slog.String("client_request_id", l.clientID))
	}
	if l.requestID != "" {
		attrs = append(attrs, slog.String("request_id", l.requestID))
	}
	level := slog.LevelInfo
	if r.verdict != verdictOK {
		level = slog.LevelWarn
		if l.code != "" {
			attrs = append(attrs, slog.String("code", l.code))
		}
		if l.retryAfter != "" {
			attrs = append(attrs, slog.String("retry_after", l.retryAfter))
		}
		attrs = append(attrs, l.attrs...)
		if l.err != nil {
			attrs = append(attrs, slog.String("error", l.err.Error()), slog.Bool("sent", l.sent))
		}
	}
	c.Log.LogAttrs(ctx, level, "provider call", attrs...)
}

// clean makes a server-supplied value safe for a log line: no control
// characters, at most 200 bytes.
func clean(s string) string {
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return -1
		}
		return r
	}, strings.ToValidUTF8(s, ""))
	s = strings.TrimSpace(s)
	if len(s) > 200 {
		s = strings.ToValidUTF8(s[:200], "")
	}
	return s
}
