package msgraph

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

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
	"golang.org/x/time/rate"

	"github.com/countersign/countersign/internal/httpx"
	"github.com/countersign/countersign/providers"
)

// Application permissions each operation needs (§6), named in errors for
// 401 and 403.
const (
	permAccountsRead = "SecurityIdentitiesAccount.Read.All"
	permActions      = "SecurityIdentitiesActions.ReadWrite.All"
	permMailRead     = "SecurityAnalyzedMessage.Read.All"
	permMailWrite    = "SecurityAnalyzedMessage.ReadWrite.All"
	permSecActions   = "SecurityActions.ReadWrite.All"
	permSecActRead   = "SecurityActions.Read.All"
)

// maxBody caps how much of a response is read; a page of 100 analyzed
// e-mails with timelines is well under 1 MB.
const maxBody = 16 << 20

// Error is a non-2xx answer of Graph, decoded from its error body
// {"error": {"code", "message", "innerError": {"request-id", "date"}}}, or a
// refusal of the token endpoint.
type Error struct {
	Status          int    // HTTP status
	Code            string // error.code, e.g. Authorization_RequestDenied
	Message         string // error.message, shortened and stripped of control characters
	RequestID       string // request-id, for support cases
	ClientRequestID string // the client-request-id we sent
	Date            string // innerError.date
	// Permission names the application permission the operation needs;
	// set on 401 and 403.
	Permission string
	// Token is set when the token endpoint refused the client credentials.
	Token bool
}

func (e *Error) Error() string {
	var b strings.Builder
	if e.Token {
		fmt.Fprintf(&b, "graph: token endpoint refused the client credentials (HTTP %d", e.Status)
		if e.Code != "" {
			fmt.Fprintf(&b, " %s", e.Code)
		}
		if e.Message != "" {
			fmt.Fprintf(&b, ": %s", e.Message)
		}
		b.WriteString("); check tenant_id, client_id and client_secret")
		return b.String()
	}
	fmt.Fprintf(&b, "graph: HTTP %d", e.Status)
	if e.Code != "" {
		fmt.Fprintf(&b, " %s", e.Code)
	}
	if e.Message != "" {
		fmt.Fprintf(&b, ": %s", e.Message)
	}
	switch e.Status {
	case http.StatusUnauthorized:
		fmt.Fprintf(&b, "; the token was rejected: check the tenant and that the app registration has the application permission %s with admin consent", e.Permission)
	case http.StatusForbidden:
		fmt.Fprintf(&b, "; the app registration needs the application permission %s with admin consent", e.Permission)
	}
	if e.RequestID != "" || e.Date != "" {
		fmt.Fprintf(&b, " (request-id %s, date %s)", orNone(e.RequestID), orNone(e.Date))
	}
	return b.String()
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

// Temporary reports whether Graph refused for now and nothing was done.
func (e *Error) Temporary() bool { return httpx.Retryable(e.Status) }

// ErrForeignLink means an @odata.nextLink pointed away from the configured
// Graph root; following it would send the token elsewhere.
var ErrForeignLink = errors.New("graph: nextLink leaves the configured Graph root")

// pacer spaces the requests of one Client: a token bucket of burst 1 at
// paceMargin under RequestsPerSecond, and a pause every caller waits out
// after a 429, because Graph throttles the app, not the one request.
type pacer struct {
	lim     *rate.Limiter
	observe func(time.Duration) // told each wait; nil when unobserved

	mu    sync.Mutex
	until time.Time
}

// paceMargin is how far under the configured rate requests leave. Requests
// spaced exactly 1/rate apart reach the server with network jitter, and a
// server counting in a one-second window would see N+1 whenever the first
// of a run is delayed more than the last; 5% (2.5 ms per request at 20/s,
// 50 ms over a second) absorbs jitter far beyond a healthy path.
const paceMargin = 0.05

func newPacer(rps float64) *pacer {
	return &pacer{lim: rate.NewLimiter(rate.Limit(rps/(1+paceMargin)), 1)}
}

// wait blocks until a request may leave or ctx is done.
func (p *pacer) wait(ctx context.Context) error {
	if p.observe != nil {
		start := time.Now()
		defer func() { p.observe(time.Since(start)) }()
	}
	for {
		if d := p.paused(); d > 0 {
			if err := httpx.Sleep(ctx, d); err != nil {
				return err
			}
			continue
		}
		if err := p.lim.Wait(ctx); err != nil {
			return err
		}
		if p.paused() <= 0 { // a 429 may have come in while we waited
			return nil
		}
	}
}

func (p *pacer) paused() time.Duration {
	p.mu.Lock()
	defer p.mu.Unlock()
	return time.Until(p.until)
}

// pause holds every request until t.
func (p *pacer) pause(t time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if t.After(p.until) {
		p.until = t
	}
}

// tokenSource caches the client-credentials token. Only one fetch runs at a
// time; waiters give up with their own context. The context of the call
// that needs the token is the one the fetch runs under, so no context is
// kept.
type tokenSource struct {
	cc  clientcredentials.Config
	hc  *http.Client
	log *slog.Logger
	sem chan struct{}

	mu  sync.Mutex
	tok *oauth2.Token
}

func (t *tokenSource) cached() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.tok.Valid() { // Valid allows for a 10 s clock skew
		return t.tok.AccessToken
	}
	return ""
}

// token returns a valid access token, fetching one when needed. Errors are
// *Error with Token set when the credentials were refused, else transient.
func (t *tokenSource) token(ctx context.Context) (string, error) {
	if tok := t.cached(); tok != "" {
		return tok, nil
	}
	select {
	case t.sem <- struct{}{}:
	case <-ctx.Done():
		return "", ctx.Err()
	}
	defer func() { <-t.sem }()
	if tok := t.cached(); tok != "" {
		return tok, nil
	}
	start := time.Now()
	tok, err := t.cc.Token(context.WithValue(ctx, oauth2.HTTPClient, t.hc))
	attrs := []slog.Attr{slog.String("method", http.MethodPost), slog.String("path", tokenPath(t.cc.TokenURL)),
		slog.Duration("duration", time.Since(start))}
	if err != nil {
		err = tokenError(err)
		var ge *Error
		if errors.As(err, &ge) {
			attrs = append(attrs, slog.Int("status", ge.Status), slog.String("code", ge.Code))
		}
		t.log.LogAttrs(ctx, slog.LevelWarn, "graph token", append(attrs, slog.String("error", err.Error()))...)
		return "", err
	}
	t.log.LogAttrs(ctx, slog.LevelInfo, "graph token", append(attrs, slog.Int("status", http.StatusOK),
		slog.Time("expires", tok.Expiry))...)
	t.mu.Lock()
	t.tok = tok
	t.mu.Unlock()
	return tok.AccessToken, nil
}

// invalidate drops the cached token if it is still old, after Graph
// rejected it.
func (t *tokenSource) invalidate(old string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.tok != nil && t.tok.AccessToken == old {
		t.tok = nil
	}
}

func tokenPath(raw string) string {
	if u, err := url.Parse(raw); err == nil {
		return u.Path
	}
	return ""
}

// tokenError turns an oauth2 failure into an error that never carries the
// response body verbatim: 4xx other than 429 means the credentials or the
// request are wrong (permanent, *Error with Token set); anything else may
// pass (temporary).
func tokenError(err error) error {
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) || re.Response == nil {
		return fmt.Errorf("getting a token: %w", httpx.StripURL(err))
	}
	e := &Error{Status: re.Response.StatusCode, Code: clean(re.ErrorCode), Message: clean(re.ErrorDescription), Token: true}
	if e.Status == http.StatusTooManyRequests || e.Status >= 500 {
		e.Token = false
		return fmt.Errorf("getting a token: token endpoint answered HTTP %d %s", e.Status, e.Code)
	}
	return e
}

// call is one logical request.
type call struct {
	method string
	u      *url.URL
	body   []byte // JSON; nil when none
	perm   string // permission, for 401/403
}

// response is a 2xx answer.
type response struct {
	status    int
	header    http.Header
	body      []byte
	requestID string
}

// do sends r through the pacer, retrying 429 and, for GETs, 5xx answers
// and transport errors, with Retry-After or jittered backoff. A 401 gets
// one fresh token.
//
// A POST is never sent twice once it may have reached Graph: a transport
// error after the request was written and any 5xx (Graph, or a gateway in
// front of it, may have failed after acting) return providers.ErrUncertain.
// Exhausted retries return providers.ErrTemporary.
func (c *Client) do(ctx context.Context, r call) (response, error) {
	post := r.method == http.MethodPost
	bo := httpx.NewBackoff(c.retryInitial, c.retryMax)
	refreshed := false
	var last error
	for attempt := 1; ; attempt++ {
		if err := c.pace.wait(ctx); err != nil {
			return response{}, c.giveUp(r, attempt-1, last, err)
		}
		tok, err := c.tokens.token(ctx)
		var res result
		switch {
		case err != nil:
			var ge *Error
			if errors.As(err, &ge) && ge.Token {
				return response{}, fmt.Errorf("%s %s: %w", r.method, r.u.Path, err)
			}
			if ctx.Err() != nil {
				return response{}, c.giveUp(r, attempt, last, ctx.Err())
			}
			last = err // nothing reached Graph
		default:
			res = c.send(ctx, r, tok, attempt)
			switch {
			case res.err != nil && post && res.wrote:
				return response{}, fmt.Errorf("%s %s: %w: %w", r.method, r.u.Path, providers.ErrUncertain, res.err)
			case res.err != nil && ctx.Err() != nil:
				return response{}, c.giveUp(r, attempt, res.err, ctx.Err())
			case res.err != nil:
				last = res.err // nothing reached Graph, or a GET: safe to repeat
			case res.status >= 200 && res.status < 300:
				return response{status: res.status, header: res.header, body: res.body, requestID: res.requestID}, nil
			case res.status == http.StatusUnauthorized && !refreshed:
				// The cached token may have been revoked or expired early.
				refreshed = true
				c.tokens.invalidate(tok)
				attempt--
				continue
			case post && res.status >= http.StatusInternalServerError:
				return response{}, fmt.Errorf("%s %s: %w: %w", r.method, r.u.Path, providers.ErrUncertain, res.apiErr)
			case res.status == http.StatusTooManyRequests:
				last = res.apiErr
				d, ok := httpx.RetryAfter(res.header, time.Now())
				if !ok {
					d = bo.NextBackOff()
				}
				// Graph throttles the app: everyone waits, not only us.
				until := time.Now().Add(d)
				c.pace.pause(until)
				if attempt > c.maxRetries {
					return response{}, c.giveUp(r, attempt, last, nil)
				}
				if httpx.PastDeadline(ctx, until) {
					return response{}, c.giveUp(r, attempt, last, context.DeadlineExceeded)
				}
				continue // the pacer waits out the pause
			case httpx.Retryable(res.status):
				last = res.apiErr
			default:
				return response{}, fmt.Errorf("%s %s: %w", r.method, r.u.Path, res.apiErr)
			}
		}
		if attempt > c.maxRetries {
			return response{}, c.giveUp(r, attempt, last, nil)
		}
		d := bo.NextBackOff()
		if ra, ok := httpx.RetryAfter(res.header, time.Now()); ok {
			d = ra
		}
		if httpx.PastDeadline(ctx, time.Now().Add(d)) {
			return response{}, c.giveUp(r, attempt, last, context.DeadlineExceeded)
		}
		if err := httpx.Sleep(ctx, d); err != nil {
			return response{}, c.giveUp(r, attempt, last, err)
		}
	}
}

// giveUp is the error for a call Graph never performed: refused until the
// retries or the context ran out.
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
	body      []byte
	requestID string
	wrote     bool  // the whole request left the client
	err       error // transport error, URL stripped (queries hold addresses)
	apiErr    *Error
}

// send makes one attempt and logs it.
func (c *Client) send(ctx context.Context, r call, token string, attempt int) (res result) {
	start := time.Now()
	crid := httpx.RequestID()
	defer func() { c.logCall(ctx, r, attempt, crid, res, time.Since(start)) }()

	var wrote atomic.Bool
	trace := &httptrace.ClientTrace{
		// Only a completely written request can be acted on.
		WroteRequest: func(i httptrace.WroteRequestInfo) {
			if i.Err == nil {
				wrote.Store(true)
			}
		},
	}
	var body io.Reader
	if r.body != nil {
		body = bytes.NewReader(r.body)
	}
	req, err := http.NewRequestWithContext(httptrace.WithClientTrace(ctx, trace), r.method, r.u.String(), body)
	if err != nil {
		res.err = httpx.StripURL(err)
		return res
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Accept", "application/json")
	req.Header.Set("client-request-id", crid)
	if r.body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.hc.Do(req)
	res.wrote = wrote.Load()
	if err != nil {
		res.err = httpx.StripURL(err)
		return res
	}
	defer resp.Body.Close()
	res.status, res.header = resp.StatusCode, resp.Header
	res.requestID = resp.Header.Get("request-id")
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxBody+1))
	if err == nil && len(b) > maxBody {
		err = fmt.Errorf("response body exceeds %d bytes", maxBody)
	}
	if err != nil {
		err = fmt.Errorf("reading HTTP %d response: %w", resp.StatusCode, httpx.StripURL(err))
		if resp.StatusCode >= 300 {
			// The status alone says Graph refused; judge by it.
			res.apiErr = c.apiError(r, resp, nil, crid)
			return res
		}
		if r.method == http.MethodPost {
			// Graph acted; only the answer is lost.
			res.err = err
			return res
		}
		res.status, res.err = 0, err
		return res
	}
	if res.status >= 200 && res.status < 300 {
		res.body = b
		return res
	}
	res.apiErr = c.apiError(r, resp, b, crid)
	return res
}

func (c *Client) apiError(r call, resp *http.Response, body []byte, crid string) *Error {
	e := decodeError(resp.StatusCode, body)
	if e.RequestID == "" {
		e.RequestID = clean(resp.Header.Get("request-id"))
	}
	e.ClientRequestID = crid
	if e.Status == http.StatusUnauthorized || e.Status == http.StatusForbidden {
		e.Permission = r.perm
	}
	return e
}

// logCall writes the one line per HTTP call: the path, never the query
// (it holds addresses and message ids), never the token or a body.
func (c *Client) logCall(ctx context.Context, r call, attempt int, crid string, res result, d time.Duration) {
	attrs := []slog.Attr{
		slog.String("method", r.method),
		slog.String("path", r.u.Path),
		slog.Int("status", res.status),
		slog.Duration("duration", d),
		slog.Int("attempt", attempt),
		slog.String("client_request_id", crid),
	}
	if res.requestID != "" {
		attrs = append(attrs, slog.String("request_id", clean(res.requestID)))
	}
	level := slog.LevelInfo
	switch {
	case res.err != nil:
		level = slog.LevelWarn
		attrs = append(attrs, slog.String("error", res.err.Error()), slog.Bool("request_sent", res.wrote))
	case res.apiErr != nil:
		level = slog.LevelWarn
		attrs = append(attrs, slog.String("code", res.apiErr.Code), slog.String("inner_date", res.apiErr.Date))
		if res.apiErr.RequestID != "" && res.requestID == "" {
			attrs = append(attrs, slog.String("request_id", res.apiErr.RequestID))
		}
		if ra := res.header.Get("Retry-After"); ra != "" {
			attrs = append(attrs, slog.String("retry_after", clean(ra)))
		}
	}
	c.log.LogAttrs(ctx, level, "graph call", attrs...)
}

// endpoint returns the URL of path under a Graph version ("v1.0", "beta").
func (c *Client) endpoint(version, path string, rawQuery string) *url.URL {
	u := *c.root
	u.Path = c.root.Path + "/" + version + path
	u.RawPath = ""
	u.RawQuery = rawQuery
	return &u
}

// nextLink checks an @odata.nextLink before it is followed: same scheme and
// host as the Graph root, under its path.
func (c *Client) nextLink(link string) (*url.URL, error) {
	u, err := url.Parse(link)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrForeignLink, httpx.StripURL(err))
	}
	if !strings.EqualFold(u.Scheme, c.root.Scheme) || !strings.EqualFold(u.Host, c.root.Host) || u.User != nil ||
		!strings.HasPrefix(u.Path, c.root.Path+"/") {
		return nil, fmt.Errorf("%w: %s://%s", ErrForeignLink, clean(u.Scheme), clean(u.Host))
	}
	return u, nil
}

// maxPages bounds a listing, so a server that loops its nextLinks cannot
// keep a job busy forever.
const maxPages = 10000

// list GETs first and every page after it; page decodes one page's body
// and returns its nextLink.
func (c *Client) list(ctx context.Context, first *url.URL, perm string, page func([]byte) (string, error)) error {
	u := first
	seen := map[string]bool{}
	for n := 0; ; n++ {
		if n == maxPages {
			return fmt.Errorf("GET %s: more than %d pages", first.Path, maxPages)
		}
		res, err := c.do(ctx, call{method: http.MethodGet, u: u, perm: perm})
		if err != nil {
			return err
		}
		next, err := page(res.body)
		if err != nil {
			return fmt.Errorf("GET %s: decoding page %d (request-id %s): %w", u.Path, n+1, clean(res.requestID), err)
		}
		if next == "" {
			return nil
		}
		if seen[next] {
			return fmt.Errorf("GET %s: nextLink repeats an earlier page", u.Path)
		}
		seen[next] = true
		if u, err = c.nextLink(next); err != nil {
			return err
		}
	}
}
