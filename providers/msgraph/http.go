package msgraph

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
	"golang.org/x/time/rate"

	"github.com/countersign/countersign/internal/httpx"
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
	if e.Token {
		return "graph: token endpoint refused the client credentials (" + httpx.RefusalText(e.Status, e.Code, e.Message, "", "") +
			"); check tenant_id, client_id and client_secret"
	}
	s := "graph: " + httpx.RefusalText(e.Status, e.Code, e.Message,
		"the token was rejected: check the tenant and that the app registration has the application permission "+e.Permission+" with admin consent",
		"the app registration needs the application permission "+e.Permission+" with admin consent")
	if e.RequestID != "" || e.Date != "" {
		s += fmt.Sprintf(" (request-id %s, date %s)", orNone(e.RequestID), orNone(e.Date))
	}
	return s
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

// ErrForeignLink means an @odata.nextLink pointed away from the configured
// Graph root; following it would send the token elsewhere.
var ErrForeignLink = errors.New("graph: nextLink leaves the configured Graph root")

// pacer spaces the requests of one Client: a token bucket of burst 1 at
// paceMargin under RequestsPerSecond, and a pause every caller waits out
// after a 429, because Graph throttles the app, not the one request. It is
// the Client's httpx.Gate.
type pacer struct {
	lim *rate.Limiter

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

// Wait blocks until a request may leave or ctx is done.
func (p *pacer) Wait(ctx context.Context) error {
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

// Block holds every request until t.
func (p *pacer) Block(t time.Time) {
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
// *Error with Token set when the credentials were refused, else marked
// httpx.Transient.
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

// Authorization returns the bearer header of a valid token.
func (t *tokenSource) Authorization(ctx context.Context) (string, error) {
	tok, err := t.token(ctx)
	if err != nil {
		return "", err
	}
	return "Bearer " + tok, nil
}

// Rejected drops the cached token if it is still the one Graph rejected:
// it may have been revoked or expired early, and a fresh one may pass.
func (t *tokenSource) Rejected(value string) bool {
	old := strings.TrimPrefix(value, "Bearer ")
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.tok != nil && t.tok.AccessToken == old {
		t.tok = nil
	}
	return true
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
		return httpx.Transient(fmt.Errorf("getting a token: %w", httpx.StripURL(err)))
	}
	e := &Error{Status: re.Response.StatusCode, Code: clean(re.ErrorCode), Message: clean(re.ErrorDescription), Token: true}
	if e.Status == http.StatusTooManyRequests || e.Status >= 500 {
		return httpx.Transient(fmt.Errorf("getting a token: token endpoint answered HTTP %d %s", e.Status, e.Code))
	}
	return e
}

// get reads u with the caller.
func (c *Client) get(ctx context.Context, u *url.URL, perm string) (httpx.Response, error) {
	return c.caller.Do(ctx, httpx.Call{Method: http.MethodGet, URL: u, Class: httpx.Repeatable, Needs: perm})
}

// post makes a call that acts: it is never sent twice once it may have
// reached Graph.
func (c *Client) post(ctx context.Context, u *url.URL, body []byte, perm string) (httpx.Response, error) {
	return c.caller.Do(ctx, httpx.Call{Method: http.MethodPost, URL: u, Body: body, Class: httpx.Once, Needs: perm})
}

// refused decodes a non-2xx answer of Graph for the caller.
func refused(call httpx.Call, a httpx.Answer) httpx.Refusal {
	e := decodeError(a.Status, a.Body)
	if e.RequestID == "" {
		e.RequestID = clean(a.Header.Get("request-id"))
	}
	e.ClientRequestID = a.ClientID
	if e.Status == http.StatusUnauthorized || e.Status == http.StatusForbidden {
		e.Permission = call.Needs
	}
	r := httpx.Refusal{Err: e, RequestID: e.RequestID, Code: e.Code}
	if e.Date != "" {
		// Support asks for innerError.date with the request ids (§2.3).
		r.Attrs = []slog.Attr{slog.String("inner_date", e.Date)}
	}
	return r
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
		res, err := c.get(ctx, u, perm)
		if err != nil {
			return err
		}
		next, err := page(res.Body)
		if err != nil {
			return fmt.Errorf("GET %s: decoding page %d (request-id %s): %w", u.Path, n+1, clean(res.RequestID), err)
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

// listEach GETs first and every page after it, a list of T, and calls
// each with every item.
func listEach[T any](ctx context.Context, c *Client, first *url.URL, perm string, each func(T)) error {
	return c.list(ctx, first, perm, func(b []byte) (string, error) {
		p, err := decodePage[T](b)
		if err != nil {
			return "", err
		}
		for _, v := range p.Value {
			each(v)
		}
		return p.NextLink, nil
	})
}
