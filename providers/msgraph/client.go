// Package msgraph is the Microsoft Graph Security provider:
//
//   - account actions through identityAccounts/{id}/invokeAction, verified
//     by re-reading the identity account (reference/providers.md §3);
//   - mail purges through analyzedEmails/remediate, tracked by re-listing
//     the analyzed e-mails of the message (§4);
//   - /block-ip through the deprecated beta securityActions API, only when
//     Config.EnableLegacySecurityActions is set (§5).
//
// Every request of a Client goes through one pacer (RequestsPerSecond,
// paused for everyone by a 429), carries a fresh client-request-id, and is
// logged in one line with Graph's request-id. Tokens come from the client
// credentials flow of the configured national cloud.
package msgraph

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/countersign/countersign/approvals"
	"github.com/countersign/countersign/internal/httpx"
	"github.com/countersign/countersign/providers"
)

// Defaults of Config.
const (
	DefaultCloud             = "global"
	DefaultIdentityProvider  = "activeDirectory"
	DefaultRequestsPerSecond = 20
	DefaultMailLookback      = 30 * 24 * time.Hour
	DefaultMaxMailItems      = 100
	DefaultMaxRetries        = 6
	DefaultTimeout           = 30 * time.Second
	DefaultRetryInitial      = 500 * time.Millisecond
	DefaultRetryMax          = 30 * time.Second
)

// Config configures a Client. TenantID, ClientID and ClientSecret are
// required; zero values of the rest take the defaults above.
type Config struct {
	// Cloud selects the national cloud of §2.2: global, usgov, usgovdod or
	// china.
	Cloud string
	// TenantID is the Entra tenant id or primary domain.
	TenantID string
	// ClientID is the app registration's application (client) id.
	ClientID string
	// ClientSecret is the app's client secret. It is never logged.
	ClientSecret string
	// BaseURL overrides the cloud's Graph root ("https://graph.microsoft.com");
	// the client appends /v1.0 or /beta. Plain http only for loopback hosts.
	BaseURL string
	// TokenURL overrides the cloud's token endpoint
	// (https://login.microsoftonline.com/{tenant}/oauth2/v2.0/token).
	TokenURL string
	// IdentityProvider picks the accounts[] entry account actions use:
	// activeDirectory (default), entraID or okta.
	IdentityProvider string
	// EnableLegacySecurityActions allows /block-ip through the deprecated
	// beta securityActions API.
	EnableLegacySecurityActions bool
	// RequestsPerSecond paces every request of the Client (default 20). Graph
	// documents no limit for these APIs; the client keeps a small margin
	// under this figure so network jitter does not push a burst over it.
	RequestsPerSecond float64
	// MailLookback is how far back purge-mail looks for a message (default
	// 30 days).
	MailLookback time.Duration
	// MaxMailItems caps the recipients of one remediate call (default 100).
	MaxMailItems int
	// HTTPClient sends the requests, also to the token endpoint; nil means one
	// with DefaultTimeout. It is copied, and the copy never follows redirects.
	HTTPClient *http.Client
	// Logger receives one line per HTTP call, with provider=graph; nil
	// discards.
	Logger *slog.Logger
	// Now is the clock for mail windows and submission times; nil means
	// time.Now. Pacing and retries always use real time.
	Now func() time.Time
	// MaxRetries is how many times a refused call (429, 500, 503) or a GET
	// that failed in transport is tried again; 0 means DefaultMaxRetries,
	// negative none.
	MaxRetries int
	// RetryInitial and RetryMax bound the jittered exponential backoff
	// used when Graph sends no Retry-After.
	RetryInitial, RetryMax time.Duration
	// RateLimitWait, when set, is told how long each request waited for
	// the pacer (RequestsPerSecond and any Retry-After pause), for metrics.
	RateLimitWait func(time.Duration)
	// CallObserved, when set, is told about every attempt (its idempotency
	// class and outcome), for metrics.
	CallObserved func(httpx.Attempt)
}

// Client talks to one tenant with one app registration. It is safe for
// concurrent use; share one per credential so the pacing is shared.
type Client struct {
	root        *url.URL // Graph root without version
	cloud       string   // Config.Cloud, for CloudOffers
	tokens      *tokenSource
	caller      *httpx.Caller
	log         *slog.Logger
	now         func() time.Time
	idp         string
	legacy      bool
	lookback    time.Duration
	maxMail     int
	deprecation sync.Once
}

// Compile-time checks that Client is a provider that chunks.
var (
	_ providers.Provider = (*Client)(nil)
	_ providers.Chunker  = (*Client)(nil)
)

// cloudEndpoints returns the token host and Graph root of a national cloud
// (§2.2).
func cloudEndpoints(cloud string) (login, root string, ok bool) {
	switch strings.ToLower(strings.TrimSpace(cloud)) {
	case "", "global":
		return "https://login.microsoftonline.com", "https://graph.microsoft.com", true
	case "usgov":
		return "https://login.microsoftonline.us", "https://graph.microsoft.us", true
	case "usgovdod":
		return "https://login.microsoftonline.us", "https://dod-graph.microsoft.us", true
	case "china":
		return "https://login.chinacloudapi.cn", "https://microsoftgraph.chinacloudapi.cn", true
	}
	return "", "", false
}

// Clouds lists the values Config.Cloud accepts.
func Clouds() []string { return []string{"global", "usgov", "usgovdod", "china"} }

// New checks cfg and returns a Client. It makes no request: the first
// token is fetched by the first call.
func New(cfg Config) (*Client, error) {
	for _, f := range []struct{ name, v string }{
		{"tenant id", cfg.TenantID}, {"client id", cfg.ClientID}, {"client secret", cfg.ClientSecret},
	} {
		if strings.TrimSpace(f.v) == "" {
			return nil, fmt.Errorf("graph: %s is required", f.name)
		}
	}
	if strings.ContainsAny(cfg.TenantID, "/?#% \t\r\n") {
		return nil, fmt.Errorf("graph: tenant id %q is not a tenant id or domain", cfg.TenantID)
	}
	login, root, ok := cloudEndpoints(cfg.Cloud)
	if !ok {
		return nil, fmt.Errorf("graph: unknown cloud %q (known: %s)", cfg.Cloud, strings.Join(Clouds(), ", "))
	}
	// The scope always names the cloud's Graph resource, also when BaseURL
	// points elsewhere (a proxy or a fake): tokens are issued per resource.
	scope := root + "/.default"
	if cfg.BaseURL != "" {
		root = cfg.BaseURL
	}
	rootURL, err := checkURL("base URL", root)
	if err != nil {
		return nil, err
	}
	if rootURL.RawQuery != "" {
		return nil, fmt.Errorf("graph: base URL %q must not have a query", root)
	}
	rootURL.Path = strings.TrimRight(rootURL.Path, "/")
	tokenURL := cfg.TokenURL
	if tokenURL == "" {
		tokenURL = login + "/" + url.PathEscape(cfg.TenantID) + "/oauth2/v2.0/token"
	}
	if _, err := checkURL("token URL", tokenURL); err != nil {
		return nil, err
	}
	idp := cfg.IdentityProvider
	if idp == "" {
		idp = DefaultIdentityProvider
	}
	if canonicalProvider(idp) == "" {
		return nil, fmt.Errorf("graph: identity provider %q is not one of entraID, activeDirectory, okta", idp)
	}
	if cfg.RequestsPerSecond < 0 || cfg.MailLookback < 0 || cfg.MaxMailItems < 0 {
		return nil, errors.New("graph: requests per second, mail lookback and max mail items must not be negative")
	}
	c := &Client{
		root:     rootURL,
		cloud:    cfg.Cloud,
		log:      cfg.Logger,
		now:      cfg.Now,
		idp:      canonicalProvider(idp),
		legacy:   cfg.EnableLegacySecurityActions,
		lookback: cfg.MailLookback,
		maxMail:  cfg.MaxMailItems,
	}
	if c.log == nil {
		c.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	c.log = c.log.With("provider", providers.Graph)
	if c.now == nil {
		c.now = time.Now
	}
	if c.lookback == 0 {
		c.lookback = DefaultMailLookback
	}
	if c.maxMail == 0 {
		c.maxMail = DefaultMaxMailItems
	}
	rps := cfg.RequestsPerSecond
	if rps == 0 {
		rps = DefaultRequestsPerSecond
	}
	// A redirect would resend the bearer token, or the client secret, to
	// wherever it points; Graph and Entra never redirect these calls.
	hc := httpx.NoRedirects(cfg.HTTPClient, DefaultTimeout)
	c.tokens = &tokenSource{
		cc: clientcredentials.Config{
			ClientID: cfg.ClientID, ClientSecret: cfg.ClientSecret, TokenURL: tokenURL,
			Scopes: []string{scope},
			// The documented request carries the secret in the form body.
			AuthStyle: oauth2.AuthStyleInParams,
		},
		hc:  hc,
		log: c.log,
		sem: make(chan struct{}, 1),
	}
	c.caller = &httpx.Caller{
		Client:      hc,
		Log:         c.log,
		Gate:        newPacer(rps),
		Credentials: c.tokens,
		Refused:     refused,
		Retry: httpx.Retry{Times: DefaultMaxRetries, Initial: DefaultRetryInitial, Max: DefaultRetryMax}.
			Configured(cfg.MaxRetries, cfg.RetryInitial, cfg.RetryMax),
		ClientIDHeader: "client-request-id",
		ServerIDHeader: "request-id",
		MaxBody:        maxBody,
		Hooks:          httpx.Hooks{Waited: cfg.RateLimitWait, Attempt: cfg.CallObserved},
	}
	return c, nil
}

// checkURL parses an endpoint override: https, or http to a loopback host
// so a secret never crosses a network in clear text.
func checkURL(what, raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("graph: %s: %w", what, err)
	}
	if u.Host == "" || u.User != nil || u.Fragment != "" {
		return nil, fmt.Errorf("graph: %s %q must be scheme://host[/path] without user or fragment", what, raw)
	}
	if err := httpx.CheckScheme(u); err != nil {
		return nil, fmt.Errorf("graph: %s %q: %w", what, raw, err)
	}
	return u, nil
}

// Name returns providers.Graph.
func (c *Client) Name() string { return providers.Graph }

// Supports reports whether Graph can perform action: every account action
// but enable-mfa, purge-mail, and block-ip when legacy security actions are
// enabled, each only when the configured cloud offers its operation
// (CloudOffers). Whether an account action is available for a given account
// is decided by that account's actions[] at Resolve.
func (c *Client) Supports(action approvals.Action) bool {
	if CloudOffers(c.cloud, action) != nil {
		return false
	}
	switch action {
	case approvals.ActionPurgeMail:
		return true
	case approvals.ActionBlockIP:
		return c.legacy
	}
	_, ok := invokeActions[action]
	return ok
}

// MaxItems returns how many items one Submit may carry: 1 for account
// actions and block-ip, which are one Graph call per target, and
// Config.MaxMailItems (default 100) recipients for purge-mail. Graph
// documents no maximum for remediate; 100 keeps one call's body small, one
// Action Center entry readable and a failed call cheap to look into, and
// matches the default policy.max_targets.
func (c *Client) MaxItems(action approvals.Action) int {
	switch {
	case !c.Supports(action):
		return 0
	case action == approvals.ActionPurgeMail:
		return c.maxMail
	}
	return 1
}

// invokeActions maps the account actions Graph performs to their
// invokeAction action (§3.5).
var invokeActions = map[approvals.Action]string{
	approvals.ActionDisable: "disable", approvals.ActionEnable: "enable",
	approvals.ActionResetPassword: "forcePasswordReset", approvals.ActionRevokeSessions: "revokeAllSessions",
	approvals.ActionRequireSignIn: "requireUserToSignInAgain", approvals.ActionMarkCompromised: "markUserAsCompromised",
}

// unsupportedMail is the error for a purge-mail --action Graph has no
// remediation for.
func unsupportedMail(action string) error {
	return &providers.Error{Err: providers.ErrUnsupported, Msg: fmt.Sprintf("graph cannot purge mail with --action %s", action)}
}

// unsupported is the error for an action Graph cannot perform.
func (c *Client) unsupported(a approvals.Action) error {
	if err := CloudOffers(c.cloud, a); err != nil {
		return &providers.Error{Err: providers.ErrUnsupported, Msg: err.Error()}
	}
	return &providers.Error{Err: providers.ErrUnsupported, Msg: "graph cannot " + string(a)}
}

// Resolve previews spec: identity accounts for account actions, the
// recipients of a message for purge-mail, the address for block-ip.
func (c *Client) Resolve(ctx context.Context, spec approvals.Spec) ([]providers.Resolved, error) {
	switch {
	case !c.Supports(spec.Action):
		return nil, c.unsupported(spec.Action)
	case spec.Action == approvals.ActionPurgeMail:
		return c.resolveMail(ctx, spec)
	case spec.Action == approvals.ActionBlockIP:
		return resolveIPs(spec.Targets), nil
	}
	return c.resolveAccounts(ctx, spec)
}

// Submit performs one batch: one invokeAction, one remediate, or one
// securityAction.
func (c *Client) Submit(ctx context.Context, batch providers.Batch) (providers.Submission, error) {
	if err := c.check(batch); err != nil {
		return providers.Submission{}, err
	}
	switch batch.Spec.Action {
	case approvals.ActionPurgeMail:
		return c.submitMail(ctx, batch)
	case approvals.ActionBlockIP:
		return c.submitBlockIP(ctx, batch)
	}
	return c.submitAccount(ctx, batch)
}

// check refuses a batch Submit cannot send.
func (c *Client) check(batch providers.Batch) error {
	a := batch.Spec.Action
	if !c.Supports(a) {
		return c.unsupported(a)
	}
	n := len(batch.Items)
	switch {
	case n == 0:
		return errors.New("graph: nothing to submit")
	case n > c.MaxItems(a):
		return fmt.Errorf("graph: %d items exceed the %d allowed per %s call", n, c.MaxItems(a), a)
	}
	seen := make(map[string]bool, n)
	for _, it := range batch.Items {
		if it.Problem != "" {
			return fmt.Errorf("graph: item %s cannot be acted on: %s", it.Key, it.Problem)
		}
		if it.Key == "" || seen[it.Key] {
			return fmt.Errorf("graph: item key %q is empty or repeated", it.Key)
		}
		seen[it.Key] = true
	}
	return nil
}

// Poll reports every item of a submission.
func (c *Client) Poll(ctx context.Context, sub providers.Submission) (providers.Progress, error) {
	if sub.Provider != providers.Graph {
		return providers.Progress{}, fmt.Errorf("graph: submission belongs to provider %q", sub.Provider)
	}
	head, err := decodeData[pollHead](sub.Data, "submission data")
	if err != nil {
		return providers.Progress{}, err
	}
	switch head.Kind {
	case kindAccount:
		return c.pollAccount(ctx, sub)
	case kindMail:
		return c.pollMail(ctx, sub)
	case kindBlockIP:
		return c.pollBlockIP(ctx, sub)
	}
	return providers.Progress{}, fmt.Errorf("graph: submission data has unknown kind %q", head.Kind)
}

// pollHead is what every kind of Submission.Data starts with.
type pollHead struct {
	Kind string `json:"kind"`
}

// Kinds of submission, stored in Submission.Data.
const (
	kindAccount = "account"
	kindMail    = "mail"
	kindBlockIP = "block-ip"
)
