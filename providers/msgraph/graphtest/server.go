// Package graphtest is a fake Microsoft Graph Security API with a fake
// Microsoft identity platform token endpoint, served over real HTTP
// (httptest). It behaves like reference/providers.md §2–§6 describe the real
// service, so tests, benchmarks and `countersign demo` exercise the same
// client code that talks to Graph:
//
//   - Stateful: invokeAction disables and enables identity accounts and
//     changes their available actions; remediate moves analyzed e-mails and
//     adds an admin timeline event; legacy securityActions progress from
//     NotStarted through Running to Completed or Failed.
//   - Strict: bearer tokens must be ones it issued (and the token endpoint
//     checks the client secret); request bodies with missing or unknown
//     fields or bad enum values get Graph's 400 error body; only documented
//     $filter forms are parsed; analyzedEmails needs startTime and endTime.
//   - Faulty on demand: 429 with or without a fractional Retry-After, 5xx
//     before acting, 5xx or no answer after acting, latency, per-target
//     failure and a requests-per-second throttle, all switchable at run
//     time and safe for concurrent use.
//   - Observable: every call is recorded (Calls, Posts) and the state can
//     be inspected (User, Email, Remediations, SecurityActions,
//     Invocations).
//
// Randomness (ids, fault injection) comes from a seeded generator, so a run
// with one request at a time is reproducible.
package graphtest

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/countersign/countersign/internal/changes"
)

// Default credentials of a Server. They are fake and only valid here.
const (
	DefaultTenantID     = "8f4c7d2e-1b3a-4c5d-9e6f-a1b2c3d4e5f6"
	DefaultClientID     = "c0ffee00-1234-4abc-8def-0123456789ab"
	DefaultClientSecret = "graphtest~client~secret~do-not-use"
	// DefaultPageSize is how many items a list page holds.
	DefaultPageSize = 100
	// DefaultTokenLifetime is the expires_in of issued tokens, as Entra ID
	// sends it.
	DefaultTokenLifetime = 3599 * time.Second
)

// Options configure a Server. Zero values take the defaults above.
type Options struct {
	TenantID, ClientID, ClientSecret string
	// Seed seeds ids and fault injection.
	Seed uint64
	// Now is the server's clock for token expiry, the analyzedEmails time
	// window, timeline events, delayed state changes and the throttle
	// window; nil means time.Now. Latency is always real time.
	Now func() time.Time
	// PageSize is how many items one list page holds (default 100).
	PageSize int
	// TokenLifetime is how long issued tokens are valid (default 3599 s).
	TokenLifetime time.Duration
}

// Server is a running fake. Close it when done.
type Server struct {
	hs   *httptest.Server
	done chan struct{} // closed by Close, ending hanging answers
	once sync.Once

	tenant, clientID, secret string
	now                      func() time.Time
	pageSize                 int
	tokenLifetime            time.Duration

	mu       sync.Mutex
	rng      *rand.Rand
	behavior Behavior
	faults   Faults
	tokens   map[string]time.Time // issued token → expiry
	audience map[string]string    // issued token → the Graph root it was issued for
	issued   []string
	users    []*userState
	emails   []*emailState
	remeds   []*Remediation
	actions  []*securityActionState
	invokes  []Invocation
	calls    []Call
	recorded changes.Signal // told whenever a call is recorded
	throttle throttleState
}

// New starts a fake Graph and token endpoint on a loopback port.
func New(opts Options) *Server {
	s := &Server{
		tenant:        opts.TenantID,
		clientID:      opts.ClientID,
		secret:        opts.ClientSecret,
		now:           opts.Now,
		pageSize:      opts.PageSize,
		tokenLifetime: opts.TokenLifetime,
		rng:           rand.New(rand.NewPCG(opts.Seed, opts.Seed^0x9e3779b97f4a7c15)),
		tokens:        map[string]time.Time{},
		audience:      map[string]string{},
		done:          make(chan struct{}),
	}
	if s.tenant == "" {
		s.tenant = DefaultTenantID
	}
	if s.clientID == "" {
		s.clientID = DefaultClientID
	}
	if s.secret == "" {
		s.secret = DefaultClientSecret
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.pageSize <= 0 {
		s.pageSize = DefaultPageSize
	}
	if s.tokenLifetime <= 0 {
		s.tokenLifetime = DefaultTokenLifetime
	}
	s.hs = httptest.NewServer(http.HandlerFunc(s.serve))
	return s
}

// Close shuts the server down, ending hanging answers.
func (s *Server) Close() {
	s.once.Do(func() { close(s.done) })
	s.hs.Close()
}

// URL returns the Graph root (scheme://host:port); clients append /v1.0 or
// /beta, as they do to https://graph.microsoft.com.
func (s *Server) URL() string { return s.hs.URL }

// TokenURL returns the token endpoint,
// {URL}/{tenant}/oauth2/v2.0/token like login.microsoftonline.com's.
func (s *Server) TokenURL() string { return s.hs.URL + "/" + s.tenant + "/oauth2/v2.0/token" }

// Credentials returns the tenant id, client id and client secret the token
// endpoint accepts.
func (s *Server) Credentials() (tenantID, clientID, clientSecret string) {
	return s.tenant, s.clientID, s.secret
}

// Behavior selects between the documented variants of Graph's shapes and
// timing. The zero value is the schema form everywhere, with state changes
// applied immediately.
type Behavior struct {
	// InvokeResultValue returns invokeAction results in the doc-example form
	// {"value": {…}} instead of the schema's bare invokeActionResult.
	InvokeResultValue bool
	// ProviderKey spells the identity provider "provider" (doc examples)
	// instead of "identityProvider" (schema), in accounts[] and in
	// invokeAction results.
	ProviderKey bool
	// PascalCaseEnums writes identity providers and actions as the doc
	// examples do ("ActiveDirectory", "Enable"). Requests must still use the
	// schema's camelCase members.
	PascalCaseEnums bool
	// DerivedFilter accepts
	// $filter=microsoft.graph.security.user/userPrincipalName eq '…' (and
	// …/emailAddress). Off, such a filter gets 400 like any undocumented one.
	DerivedFilter bool
	// OptionalTimeWindow lets analyzedEmails be listed without startTime and
	// endTime (the v1.0 page's wording); off, both are required (beta page).
	OptionalTimeWindow bool
	// ApplyAfterReads delays the effect of invokeAction: the account keeps its
	// old state for this many reads of it (GET by id or in a list page).
	ApplyAfterReads int
	// ApplyAfter delays the effect of invokeAction by server time. With
	// ApplyAfterReads, both must have passed.
	ApplyAfter time.Duration
	// RemediateAfterReads delays the effect of remediate: each e-mail keeps
	// its old location for this many reads of it.
	RemediateAfterReads int
	// SecurityActionStepReads is how many reads a securityAction spends in
	// NotStarted and then in Running before it ends (0 means 1).
	SecurityActionStepReads int
	// DocSecurityActions writes securityActions as the doc sample does:
	// lower-case status and name ("notStarted", "blockIp") and timestamps
	// like "2019-01-10 12:23:23.33333" instead of RFC 3339.
	DocSecurityActions bool
	// EncodeLocation percent-encodes the filters query of remediate's
	// Location header; off, it is raw JSON as in the doc example.
	EncodeLocation bool
}

// SetBehavior replaces the behaviour switches; safe while requests run.
func (s *Server) SetBehavior(b Behavior) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.behavior = b
}

// Behavior returns the current behaviour switches.
func (s *Server) Behavior() Behavior {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.behavior
}

// ThrottleWindow says how the requests-per-second throttle counts.
type ThrottleWindow int

// Throttle windows.
const (
	// Sliding admits at most N requests in any interval of one second
	// (strict: what a token bucket of burst N cannot exceed either).
	Sliding ThrottleWindow = iota
	// Fixed admits at most N requests per calendar second of the server's
	// clock (t.Truncate(time.Second)); two full seconds back to back allow a
	// burst of 2N across the boundary.
	Fixed
)

// Faults are the failure switches. Rates are probabilities per Graph
// request (the token endpoint is never faulted); per-target lists match
// case-insensitively.
type Faults struct {
	// Rate429 answers this share of requests 429 TooManyRequests before
	// doing anything.
	Rate429 float64
	// RetryAfter is sent with those 429s, with millisecond fractions
	// ("2.128"); 0 sends no Retry-After.
	RetryAfter time.Duration
	// Rate5xx answers this share of requests 500 generalException or 503
	// serviceNotAvailable before doing anything: refused, nothing applied.
	// A client cannot tell this from StatusAfterAction, so it must not send
	// a POST again after a 5xx.
	Rate5xx float64
	// Rate5xxGET answers a further share of GET requests 500 or 503 before
	// doing anything, for runs in which only reads should fail.
	Rate5xxGET float64
	// StatusAfterAction makes invokeAction, remediate and the creation of a
	// securityAction take effect and then answer this status (500, 502, 503,
	// 504) with Graph's error body instead of their documented answer, as
	// when Graph or a gateway in front of it fails after acting. Zero
	// answers as documented.
	StatusAfterAction int
	// HangAfterAction makes those operations take effect and then never
	// answer, until the client gives up or the server closes.
	HangAfterAction bool
	// Latency delays every Graph response (real time), also faulted ones.
	Latency time.Duration
	// ThrottlePerSecond admits at most this many Graph requests per second
	// (0 = off) across all callers, counting only admitted requests; the
	// rest get 429 with a fractional Retry-After saying when a slot frees.
	ThrottlePerSecond int
	// Window picks a sliding (default) or fixed per-second window.
	Window ThrottleWindow
	// ThrottleNoRetryAfter leaves Retry-After off the throttle's 429s.
	ThrottleNoRetryAfter bool
	// FailAccounts: invokeAction on these accounts (UPN, e-mail, or
	// identityAccounts id) is refused with 400 invalidRequest.
	FailAccounts []string
	// StuckAccounts: invokeAction on these is accepted but never takes
	// effect.
	StuckAccounts []string
	// FailRecipients: remediation of mail in these mailboxes fails (an admin
	// timeline event with result "Failed"; the message stays put).
	FailRecipients []string
	// FailIPs: BlockIp for these addresses ends Failed.
	FailIPs []string
	// DenyPermissions answers 403 Authorization_RequestDenied to operations
	// needing one of these permissions (Permission* constants).
	DenyPermissions []string
}

// SetFaults replaces the fault switches; safe while requests run.
func (s *Server) SetFaults(f Faults) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = f
}

// Faults returns the current fault switches.
func (s *Server) Faults() Faults {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.faults
}

// Permissions the operations need (§6); DenyPermissions takes them.
const (
	PermissionAccountsRead  = "SecurityIdentitiesAccount.Read.All"
	PermissionActions       = "SecurityIdentitiesActions.ReadWrite.All"
	PermissionMailRead      = "SecurityAnalyzedMessage.Read.All"
	PermissionMailReadWrite = "SecurityAnalyzedMessage.ReadWrite.All"
	PermissionSecActions    = "SecurityActions.ReadWrite.All"
	PermissionSecActionRead = "SecurityActions.Read.All"
)

// Call is one recorded request.
type Call struct {
	Time            time.Time // server clock when it arrived
	Method          string
	Path            string // without the query
	Query           string // raw query
	Status          int
	ClientRequestID string // as sent
	RequestID       string // the request-id the server answered with
	// Fault names an injected answer: "429", "5xx", "throttle", or
	// "aborted" when the client hung up during the injected latency
	// (Status is then 0 and nothing was applied); "" otherwise.
	Fault string
	// Body is the request body of Graph calls; token requests are not
	// kept, as they carry the client secret.
	Body []byte
}

// Calls returns every request so far, in arrival order.
func (s *Server) Calls() []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.calls)
}

// WaitCalls blocks until cond holds for the calls recorded so far, or ctx
// is done; cond must not call the Server. Tests use it to wait for a call
// the server finishes after the client returned (an aborted request).
func (s *Server) WaitCalls(ctx context.Context, cond func([]Call) bool) ([]Call, error) {
	var calls []Call
	err := s.recorded.Wait(ctx, func() bool { calls = s.Calls(); return cond(calls) })
	return calls, err
}

// record keeps one call; callers hold mu.
func (s *Server) record(c Call) {
	s.calls = append(s.calls, c)
	s.recorded.Notify()
}

// Posts returns how many Graph POST requests reached the server, answered
// or not; token requests are not counted.
func (s *Server) Posts() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, c := range s.calls {
		if c.Method == http.MethodPost && !strings.HasSuffix(c.Path, "/oauth2/v2.0/token") {
			n++
		}
	}
	return n
}

// ResetCalls forgets the recorded calls.
func (s *Server) ResetCalls() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = nil
}

// IssuedTokens returns every access token the token endpoint handed out,
// so tests can check none leaks into logs.
func (s *Server) IssuedTokens() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.issued)
}

// ExpireTokens makes every issued token invalid, as a token expiring early
// or being revoked would; the next request with one gets 401.
func (s *Server) ExpireTokens() {
	s.mu.Lock()
	defer s.mu.Unlock()
	clear(s.tokens)
}

// newGUID returns a random GUID from the seeded generator. Callers hold mu.
func (s *Server) newGUID() string {
	a, b := s.rng.Uint64(), s.rng.Uint64()
	a = a&^(0xf<<12) | 4<<12 // version 4
	b = b&^(0x3<<62) | 1<<63 // RFC 4122 variant
	return fmt.Sprintf("%08x-%04x-%04x-%04x-%012x", a>>32, (a>>16)&0xffff, a&0xffff, b>>48, b&0xffffffffffff)
}

// graphDate formats innerError.date as Graph does: no zone, no fraction.
func graphDate(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05") }

// errorBody is Graph's error envelope (§2.4).
type errorBody struct {
	Error errorDetail `json:"error"`
}

type errorDetail struct {
	Code       string         `json:"code"`
	Message    string         `json:"message"`
	InnerError map[string]any `json:"innerError"`
}

// reply carries what a handler decided.
type reply struct {
	status int
	header http.Header
	body   any  // JSON-encoded unless nil
	hang   bool // no answer: the connection is dropped once the client leaves
}

func jsonReply(status int, body any) reply { return reply{status: status, body: body} }

// graphError builds an error reply; the request ids are filled in by serve.
func graphError(status int, code, msg string) reply {
	return reply{status: status, body: &errorBody{Error: errorDetail{Code: code, Message: msg}}}
}

func badRequest(msg string) reply { return graphError(http.StatusBadRequest, "invalidRequest", msg) }

// write sends r with Graph's headers.
func (s *Server) write(w http.ResponseWriter, r reply, reqID, clientReqID string, now time.Time) {
	for k, vs := range r.header {
		for _, v := range vs {
			w.Header().Add(k, v)
		}
	}
	w.Header().Set("request-id", reqID)
	if clientReqID != "" {
		w.Header().Set("client-request-id", clientReqID)
	}
	if r.body == nil {
		w.WriteHeader(r.status)
		return
	}
	if eb, ok := r.body.(*errorBody); ok {
		eb.Error.InnerError = map[string]any{"date": graphDate(now), "request-id": reqID, "client-request-id": clientReqID}
		if r.status == http.StatusTooManyRequests {
			eb.Error.InnerError["code"] = "429"
			eb.Error.InnerError["status"] = "429"
			eb.Error.InnerError["message"] = "Please retry after"
		}
	}
	b, err := json.Marshal(r.body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8")
	w.WriteHeader(r.status)
	_, _ = w.Write(b)
}

// containsFold reports whether list holds v, ignoring case.
func containsFold(list []string, v string) bool {
	return slices.ContainsFunc(list, func(x string) bool { return strings.EqualFold(strings.TrimSpace(x), v) })
}
