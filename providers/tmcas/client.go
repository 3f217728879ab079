// Package tmcas is the Trend Micro Cloud App Security (Cloud Email and
// Collaboration Protection) provider: account actions through
// POST /v1/mitigation/accounts and mail purges through a sweep
// (GET /v1/sweeping/mails) followed by POST /v1/mitigation/mails. Results are
// read back with GET /v1/mitigation/{accounts|mails}?batch_id=….
//
// Every request of a Client shares one rate limiter, because TMCAS throttles
// each token to 20 requests per minute and answers the 21st with 429.
package tmcas

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/countersign/countersign/approvals"
	"github.com/countersign/countersign/internal/httpx"
	"github.com/countersign/countersign/providers"
)

// Defaults of Config.
const (
	DefaultRequestsPerMinute = 20
	DefaultMaxItemsPerCall   = 100
	DefaultMaxRetries        = 5
	DefaultSweepDays         = 30
	DefaultTimeout           = 30 * time.Second
	DefaultRetryInitial      = time.Second
	DefaultRetryMax          = 30 * time.Second
	// DefaultWindow is the throttle window TMCAS documents: "more than 20
	// requests over the past 1 minute".
	DefaultWindow = time.Minute
	// maxSweepDays is how long TMCAS keeps mail metadata.
	maxSweepDays = 90
)

// Config configures a Client. Token and either Region or BaseURL are
// required; zero values of the rest take the defaults above.
type Config struct {
	// Region selects the service URL of §1.1: us, eu, jp, au, uk, ca, sg, in.
	Region string
	// BaseURL overrides Region ("https://api.tmcas.trendmicro.com", or a fake).
	// Plain http is accepted only for loopback hosts, so a token never
	// crosses a network in clear text.
	BaseURL string
	// Token is the bearer token from Administration > Automation and
	// Integration APIs. It is never logged.
	Token string
	// RequestsPerMinute is the token's allowance per Window (default 20).
	// Several Clients sharing one token must share a Limiter instead.
	RequestsPerMinute int
	// MaxItemsPerCall caps the rows of one POST body (one per account, one
	// per copy of a message); TMCAS documents no maximum.
	MaxItemsPerCall int
	// HTTPClient sends the requests; nil means one with DefaultTimeout. It is
	// copied, and the copy never follows redirects.
	HTTPClient *http.Client
	// Logger receives one line per HTTP call, with provider=tmcas; nil
	// discards.
	Logger *slog.Logger
	// Now is the clock of the throttle arithmetic; nil means time.Now.
	// Deadlines of contexts are compared with it, so only tests that check
	// window arithmetic replace it.
	Now func() time.Time
	// MaxRetries is how many times a refused call (429, 5xx) or a GET that
	// timed out is tried again; 0 means DefaultMaxRetries, negative none.
	MaxRetries int
	// RetryInitial and RetryMax bound the jittered exponential backoff
	// between retries of 5xx answers and transport errors.
	RetryInitial, RetryMax time.Duration
	// SweepDays is the sweep's lastndays when resolving mail (default 30,
	// at most 90: TMCAS keeps metadata for 90 days).
	SweepDays int
	// Window is the length of the server's throttle window (default one
	// minute, as documented). Tests shorten it to run in real time.
	Window time.Duration
	// Limiter, when set, is shared with other Clients using the same token;
	// RequestsPerMinute and Window are then ignored for pacing.
	Limiter *httpx.WindowLimiter
	// RateLimitWait, when set, is told how long each request waited for
	// the rate limiter, including a throttle's pause (zero when it did not
	// wait), for metrics.
	RateLimitWait func(time.Duration)
	// CallObserved, when set, is told about every attempt (its idempotency
	// class and outcome), for metrics.
	CallObserved func(httpx.Attempt)
}

// Client talks to one TMCAS tenant with one token. It is safe for
// concurrent use.
type Client struct {
	base      *url.URL
	caller    *httpx.Caller
	now       func() time.Time
	maxItems  int
	sweepDays int
}

// Compile-time checks that Client is a provider that chunks by rows.
var (
	_ providers.Provider   = (*Client)(nil)
	_ providers.Chunker    = (*Client)(nil)
	_ providers.RowCounter = (*Client)(nil)
)

// RegionHost returns the service host of a documented site
// (reference/providers.md §1.1).
func RegionHost(region string) (string, bool) {
	switch strings.ToLower(strings.TrimSpace(region)) {
	case "us", "global":
		return "api.tmcas.trendmicro.com", true
	case "eu":
		return "api-eu.tmcas.trendmicro.com", true
	case "jp":
		return "api.tmcas.trendmicro.co.jp", true
	case "au", "anz":
		return "api-au.tmcas.trendmicro.com", true
	case "uk":
		return "api.tmcas.trendmicro.co.uk", true
	case "ca":
		return "api-ca.tmcas.trendmicro.com", true
	case "sg":
		return "api.tmcas.trendmicro.com.sg", true
	case "in":
		return "api-in.tmcas.trendmicro.com", true
	}
	return "", false
}

// Regions lists the region names Config.Region accepts, in the order of
// reference/providers.md §1.1; au is Australia and New Zealand, in is India.
func Regions() []string { return []string{"us", "eu", "uk", "ca", "jp", "sg", "au", "in"} }

// safetyMargin widens the limiter's window beyond the server's. TMCAS
// starts its window when the first request arrives; we count when requests
// leave. A first request that is slow on the wire and a 21st that is fast
// could otherwise land in one server window. One thirtieth of the window (2 s
// of the documented minute) covers latency jitter far beyond a healthy HTTPS
// path and costs about 3% of throughput.
func safetyMargin(window time.Duration) time.Duration { return window / 30 }

// New checks cfg and returns a Client.
func New(cfg Config) (*Client, error) {
	if strings.TrimSpace(cfg.Token) == "" {
		return nil, errors.New("tmcas: token is required")
	}
	if strings.ContainsAny(cfg.Token, "\r\n") {
		return nil, errors.New("tmcas: token contains a line break")
	}
	base, err := baseURL(cfg.Region, cfg.BaseURL)
	if err != nil {
		return nil, err
	}
	c := &Client{
		base:      base,
		now:       cfg.Now,
		maxItems:  orDefault(cfg.MaxItemsPerCall, DefaultMaxItemsPerCall),
		sweepDays: orDefault(cfg.SweepDays, DefaultSweepDays),
	}
	if c.now == nil {
		c.now = time.Now
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	log = log.With("provider", providers.TMCAS)
	if c.sweepDays > maxSweepDays {
		return nil, fmt.Errorf("tmcas: sweep days %d exceed the %d days TMCAS keeps mail metadata", c.sweepDays, maxSweepDays)
	}
	if cfg.RequestsPerMinute < 0 || cfg.MaxItemsPerCall < 0 || cfg.SweepDays < 0 || cfg.Window < 0 {
		return nil, errors.New("tmcas: requests per minute, max items, sweep days and window must not be negative")
	}
	window := cfg.Window
	if window == 0 {
		window = DefaultWindow
	}
	sw := &serverWindow{per: window, margin: safetyMargin(window)}
	limiter := cfg.Limiter
	if limiter == nil {
		rpm := orDefault(cfg.RequestsPerMinute, DefaultRequestsPerMinute)
		limiter = httpx.NewWindowLimiter(rpm, window+safetyMargin(window), c.now)
	}
	c.caller = &httpx.Caller{
		// A redirect would resend the token and, for a POST, possibly the
		// action; TMCAS never redirects, so treat one as an answer.
		Client:      httpx.NoRedirects(cfg.HTTPClient, DefaultTimeout),
		Log:         log,
		Now:         c.now,
		Gate:        &gate{limiter: limiter, window: sw, now: c.now},
		Credentials: httpx.Bearer(cfg.Token),
		Refused:     refused,
		Retry: httpx.Retry{Times: DefaultMaxRetries, Initial: DefaultRetryInitial, Max: DefaultRetryMax}.
			Configured(cfg.MaxRetries, cfg.RetryInitial, cfg.RetryMax),
		// Without Retry-After (the documented case): "The user can start
		// new requests in the next minute from the first request."
		ThrottleEnd: sw.end,
		MaxBody:     maxBody,
		Hooks:       httpx.Hooks{Waited: cfg.RateLimitWait, Attempt: cfg.CallObserved},
	}
	return c, nil
}

func orDefault(v, def int) int {
	if v == 0 {
		return def
	}
	return v
}

// baseURL picks the service URL from the override or the region table.
func baseURL(region, override string) (*url.URL, error) {
	if override == "" {
		host, ok := RegionHost(region)
		if !ok {
			if region == "" {
				return nil, errors.New("tmcas: region or base URL is required")
			}
			return nil, fmt.Errorf("tmcas: unknown region %q (known: %s; set base_url for others)",
				region, strings.Join(Regions(), ", "))
		}
		return &url.URL{Scheme: "https", Host: host}, nil
	}
	u, err := url.Parse(strings.TrimRight(override, "/"))
	if err != nil {
		return nil, fmt.Errorf("tmcas: base URL: %w", err)
	}
	if u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("tmcas: base URL %q must be scheme://host[/path] without user, query or fragment", override)
	}
	if err := httpx.CheckScheme(u); err != nil {
		return nil, fmt.Errorf("tmcas: base URL %q: %w", override, err)
	}
	return u, nil
}

// Name returns providers.TMCAS.
func (c *Client) Name() string { return providers.TMCAS }

// Supports reports whether TMCAS can perform action: disable, reset-password,
// enable-mfa, revoke-sessions and purge-mail.
func (c *Client) Supports(action approvals.Action) bool {
	if action == approvals.ActionPurgeMail {
		return true
	}
	_, ok := accountActionTypes[action]
	return ok
}

// MaxItems returns how many body rows one Submit may carry: one per
// account, one per copy of a message (Rows).
func (c *Client) MaxItems(action approvals.Action) int {
	if !c.Supports(action) {
		return 0
	}
	return c.maxItems
}

// Rows returns how many rows of a POST body item takes: one per copy of a
// message in a mailbox, one for an account. Data that does not decode
// counts one; Submit refuses it.
func (c *Client) Rows(item providers.Resolved) int {
	var d mailData
	if len(item.Data) == 0 || json.Unmarshal(item.Data, &d) != nil || len(d.Copies) == 0 {
		return 1
	}
	return len(d.Copies)
}

// accountActionTypes maps the account actions TMCAS performs to their
// action_type (§1.9).
var accountActionTypes = map[approvals.Action]string{
	approvals.ActionDisable: "ACCOUNT_DISABLE", approvals.ActionResetPassword: "ACCOUNT_RESET_PASSWORD",
	approvals.ActionEnableMFA: "ACCOUNT_ENABLE_MFA", approvals.ActionRevokeSessions: "ACCOUNT_REVOKE_SIGNIN_SESSIONS",
}

// mailActionTypes maps the purge-mail --action values to their action_type.
var mailActionTypes = map[string]string{"delete": "MAIL_DELETE", "quarantine": "MAIL_QUARANTINE"}

// unsupported is the error for an action TMCAS cannot perform.
func unsupported(a approvals.Action) error {
	return &providers.Error{Err: providers.ErrUnsupported, Msg: "tmcas cannot " + string(a)}
}

// BaseURL returns the service URL in use, for `config check` and logs.
func (c *Client) BaseURL() string { return c.base.String() }
