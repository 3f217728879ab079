package msgraph

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/countersign/countersign/approvals"
	"github.com/countersign/countersign/providers"
	"github.com/countersign/countersign/providers/internal/providertest"
	"github.com/countersign/countersign/providers/msgraph/graphtest"
)

func TestNewClouds(t *testing.T) {
	tests := []struct {
		cloud, root, token, scope string
	}{
		{"", "https://graph.microsoft.com", "https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/token", "https://graph.microsoft.com/.default"},
		{"global", "https://graph.microsoft.com", "https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/token", "https://graph.microsoft.com/.default"},
		{"usgov", "https://graph.microsoft.us", "https://login.microsoftonline.us/contoso.onmicrosoft.com/oauth2/v2.0/token", "https://graph.microsoft.us/.default"},
		{"usgovdod", "https://dod-graph.microsoft.us", "https://login.microsoftonline.us/contoso.onmicrosoft.com/oauth2/v2.0/token", "https://dod-graph.microsoft.us/.default"},
		{"China", "https://microsoftgraph.chinacloudapi.cn", "https://login.chinacloudapi.cn/contoso.onmicrosoft.com/oauth2/v2.0/token", "https://microsoftgraph.chinacloudapi.cn/.default"},
	}
	for _, tt := range tests {
		t.Run(tt.cloud, func(t *testing.T) {
			c, err := New(Config{Cloud: tt.cloud, TenantID: "contoso.onmicrosoft.com", ClientID: "id", ClientSecret: "s"})
			if err != nil {
				t.Fatalf("New: %v", err)
			}
			got := []string{c.root.String(), c.tokens.cc.TokenURL, strings.Join(c.tokens.cc.Scopes, " "), c.endpoint("v1.0", accountsPath, "").String()}
			want := []string{tt.root, tt.token, tt.scope, tt.root + "/v1.0/security/identities/identityAccounts"}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("endpoints (-want +got):\n%s", diff)
			}
		})
	}
	t.Run("overrides keep the cloud's scope", func(t *testing.T) {
		c, err := New(Config{Cloud: "usgov", TenantID: "t", ClientID: "id", ClientSecret: "s",
			BaseURL: "https://proxy.example/graph/", TokenURL: "https://login.example/t/token"})
		if err != nil {
			t.Fatalf("New: %v", err)
		}
		got := []string{c.endpoint("beta", securityActionsPath, "").String(), c.tokens.cc.TokenURL, c.tokens.cc.Scopes[0]}
		want := []string{"https://proxy.example/graph/beta/security/securityActions", "https://login.example/t/token", "https://graph.microsoft.us/.default"}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("endpoints (-want +got):\n%s", diff)
		}
	})
}

func TestNewRejects(t *testing.T) {
	ok := Config{TenantID: "t", ClientID: "id", ClientSecret: "s"}
	tests := []struct {
		name string
		mod  func(*Config)
		want string
	}{
		{"no tenant", func(c *Config) { c.TenantID = "" }, "tenant id is required"},
		{"no secret", func(c *Config) { c.ClientSecret = " " }, "client secret is required"},
		{"tenant with a slash", func(c *Config) { c.TenantID = "a/b" }, "is not a tenant id"},
		{"unknown cloud", func(c *Config) { c.Cloud = "mars" }, `unknown cloud "mars"`},
		{"http base to a remote host", func(c *Config) { c.BaseURL = "http://graph.example" }, "plain http is allowed only for loopback"},
		{"ftp token URL", func(c *Config) { c.TokenURL = "ftp://login.example/t" }, "scheme must be https"},
		{"base with user", func(c *Config) { c.BaseURL = "https://u:p@graph.example" }, "without user"},
		{"identity provider", func(c *Config) { c.IdentityProvider = "ldap" }, `identity provider "ldap"`},
		{"negative rate", func(c *Config) { c.RequestsPerSecond = -1 }, "must not be negative"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := ok
			tt.mod(&cfg)
			_, err := New(cfg)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("New: got %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

func TestTokenRefused(t *testing.T) {
	f := newFixture(t, graphtest.Options{}, func(c *Config) { c.ClientSecret = "wrong-secret-value" })
	seedDirectory(f.srv)
	_, err := f.c.Resolve(providertest.Context(t), accountSpec(approvals.ActionDisable, "mallory@contoso.com"))
	var ge *Error
	if !errors.As(err, &ge) || !ge.Token || ge.Status != http.StatusUnauthorized || ge.Code != "invalid_client" {
		t.Fatalf("Resolve: got %v, want the token endpoint's 401 invalid_client", err)
	}
	if errors.Is(err, providers.ErrTemporary) || strings.Contains(err.Error(), "wrong-secret-value") {
		t.Errorf("error %q: want permanent and without the secret", err)
	}
	if !strings.Contains(err.Error(), "check tenant_id, client_id and client_secret") {
		t.Errorf("error %q: want a hint at the credentials", err)
	}
	calls := f.srv.Calls()
	if len(calls) != 1 || !strings.HasSuffix(calls[0].Path, "/oauth2/v2.0/token") {
		t.Errorf("got calls %+v, want one token request and no Graph call", calls)
	}
}

func TestTokenCachedAndRefreshed(t *testing.T) {
	f := newFixture(t, graphtest.Options{}, nil)
	seedDirectory(f.srv)
	ctx := providertest.Context(t)
	tokenCalls := func() int {
		n := 0
		for _, c := range f.srv.Calls() {
			if strings.HasSuffix(c.Path, "/token") {
				n++
			}
		}
		return n
	}
	for range 3 {
		if _, err := f.c.Resolve(ctx, accountSpec(approvals.ActionDisable, "mallory@contoso.com")); err != nil {
			t.Fatalf("Resolve: %v", err)
		}
	}
	if n := tokenCalls(); n != 1 {
		t.Errorf("got %d token requests for 3 lookups, want 1", n)
	}
	f.srv.ExpireTokens()
	if _, err := f.c.Resolve(ctx, accountSpec(approvals.ActionDisable, "mallory@contoso.com")); err != nil {
		t.Fatalf("Resolve after the token was revoked: %v", err)
	}
	if n := tokenCalls(); n != 2 {
		t.Errorf("got %d token requests, want 2 (one refresh after the 401)", n)
	}
}

func TestUnauthorizedNamesPermission(t *testing.T) {
	other := graphtest.New(graphtest.Options{}) // issues tokens the first fake never accepts
	defer other.Close()
	f := newFixture(t, graphtest.Options{}, func(c *Config) {
		c.TokenURL = other.TokenURL()
		c.TenantID, c.ClientID, c.ClientSecret = other.Credentials()
	})
	_, err := f.c.Resolve(providertest.Context(t), accountSpec(approvals.ActionDisable, "mallory@contoso.com"))
	var ge *Error
	if !errors.As(err, &ge) || ge.Status != http.StatusUnauthorized || ge.Permission != permAccountsRead ||
		!strings.Contains(err.Error(), "the token was rejected") || !strings.Contains(err.Error(), permAccountsRead) {
		t.Fatalf("got %v, want 401 naming %s", err, permAccountsRead)
	}
	if n := len(other.Calls()); n != 2 {
		t.Errorf("got %d token requests, want 2 (one retry with a fresh token)", n)
	}
}

func TestForbiddenNamesPermission(t *testing.T) {
	tests := []struct {
		perm string
		run  func(t *testing.T, ctx context.Context, c *Client) error
	}{
		{graphtest.PermissionAccountsRead, func(_ *testing.T, ctx context.Context, c *Client) error {
			_, err := c.Resolve(ctx, accountSpec(approvals.ActionDisable, "mallory@contoso.com"))
			return err
		}},
		{graphtest.PermissionActions, func(t *testing.T, ctx context.Context, c *Client) error {
			_, err := c.Submit(ctx, providertest.Batch(t, ctx, c, accountSpec(approvals.ActionDisable, "mallory@contoso.com")))
			return err
		}},
		{graphtest.PermissionMailRead, func(_ *testing.T, ctx context.Context, c *Client) error {
			_, err := c.Resolve(ctx, mailSpec("", nmidA))
			return err
		}},
		{graphtest.PermissionMailReadWrite, func(t *testing.T, ctx context.Context, c *Client) error {
			_, err := c.Submit(ctx, providertest.Batch(t, ctx, c, mailSpec("", nmidA)))
			return err
		}},
		{graphtest.PermissionSecActions, func(_ *testing.T, ctx context.Context, c *Client) error {
			_, err := c.Submit(ctx, providers.Batch{Spec: ipSpec("203.0.113.1"), Items: []providers.Resolved{{Key: "203.0.113.1"}}})
			return err
		}},
		{graphtest.PermissionSecActionRead, func(_ *testing.T, ctx context.Context, c *Client) error {
			sub, err := c.Submit(ctx, providers.Batch{Spec: ipSpec("203.0.113.1"), Items: []providers.Resolved{{Key: "203.0.113.1"}}})
			if err != nil {
				return fmt.Errorf("submit unexpectedly failed: %w", err)
			}
			_, err = c.Poll(ctx, sub)
			return err
		}},
	}
	for _, tt := range tests {
		t.Run(tt.perm, func(t *testing.T) {
			f := newFixture(t, graphtest.Options{Now: mailNow}, func(c *Config) { c.Now = mailNow; legacy(c) })
			seedDirectory(f.srv)
			seedMail(f.srv, "")
			f.srv.SetFaults(graphtest.Faults{DenyPermissions: []string{tt.perm}})
			err := tt.run(t, providertest.Context(t), f.c)
			var ge *Error
			if !errors.As(err, &ge) || ge.Status != http.StatusForbidden || ge.Code != "Authorization_RequestDenied" || ge.Permission != tt.perm {
				t.Fatalf("got %v, want 403 Authorization_RequestDenied naming %s", err, tt.perm)
			}
			if want := "needs the application permission " + tt.perm + " with admin consent"; !strings.Contains(err.Error(), want) {
				t.Errorf("error %q: want %q", err, want)
			}
		})
	}
}

// countCalls counts recorded Graph calls to paths ending in suffix.
func countCalls(srv *graphtest.Server, suffix string) (n, faulted int) {
	return countCallsIn(srv.Calls(), suffix)
}

func countCallsIn(calls []graphtest.Call, suffix string) (n, faulted int) {
	for _, c := range calls {
		if strings.HasSuffix(c.Path, suffix) {
			n++
			if c.Fault != "" {
				faulted++
			}
		}
	}
	return n, faulted
}

func TestRetries(t *testing.T) {
	tests := []struct {
		name       string
		faults     graphtest.Faults
		wantStatus []int // acceptable statuses of the final *Error
		minElapsed time.Duration
		retryAfter string // expected in the log lines
		// wantPosts is how many invokeAction calls are made; a POST
		// answered 5xx may have been performed, so it is uncertain.
		wantPosts     int
		wantUncertain bool
	}{
		{name: "429 with fractional Retry-After", faults: graphtest.Faults{Rate429: 1, RetryAfter: 60 * time.Millisecond},
			wantStatus: []int{429}, minElapsed: 120 * time.Millisecond, retryAfter: "retry_after=0.060", wantPosts: 3},
		{name: "429 without Retry-After", faults: graphtest.Faults{Rate429: 1}, wantStatus: []int{429}, wantPosts: 3},
		{name: "5xx", faults: graphtest.Faults{Rate5xx: 1}, wantStatus: []int{500, 503}, wantPosts: 1, wantUncertain: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, graphtest.Options{Seed: 30}, func(c *Config) { c.MaxRetries = 2 })
			ctx := providertest.Context(t)
			batch := f.disableMallory(t, ctx)
			f.srv.SetFaults(tt.faults)
			start := time.Now()
			_, err := f.c.Submit(ctx, batch)
			elapsed := time.Since(start)
			var ge *Error
			if errors.Is(err, providers.ErrTemporary) == tt.wantUncertain || errors.Is(err, providers.ErrUncertain) != tt.wantUncertain ||
				!errors.As(err, &ge) || !slices.Contains(tt.wantStatus, ge.Status) {
				t.Fatalf("Submit: got %v, want HTTP %v, uncertain %v (else temporary)", err, tt.wantStatus, tt.wantUncertain)
			}
			if n, faulted := countCalls(f.srv, "/invokeAction"); n != tt.wantPosts || faulted != tt.wantPosts {
				t.Errorf("got %d invokeAction calls (%d faulted), want %d refused attempts", n, faulted, tt.wantPosts)
			}
			if elapsed < tt.minElapsed {
				t.Errorf("took %v, want at least %v (Retry-After honoured)", elapsed, tt.minElapsed)
			}
			if tt.retryAfter != "" {
				if got := f.logs.Matching("/invokeAction", tt.retryAfter); len(got) != 3 {
					t.Errorf("got %d log lines with %s, want 3", len(got), tt.retryAfter)
				}
			}
			if u, _ := f.srv.User("mallory@contoso.com"); !u.Enabled {
				t.Errorf("a refused call disabled mallory")
			}
			// GETs are retried until the retries run out.
			f.srv.ResetCalls()
			if _, err := f.c.Resolve(ctx, batch.Spec); !errors.Is(err, providers.ErrTemporary) {
				t.Errorf("Resolve: got %v, want ErrTemporary", err)
			}
			if n, _ := countCalls(f.srv, "/identityAccounts"); n != 3 {
				t.Errorf("got %d identityAccounts GETs, want 3", n)
			}
			// With the faults gone the same batch goes through.
			f.srv.SetFaults(graphtest.Faults{})
			if _, err := f.c.Submit(ctx, batch); err != nil {
				t.Errorf("Submit after the faults: %v", err)
			}
		})
	}
}

// flakyTransport fails the first n requests matching match with a
// transport error, either after the request went to the server (and its
// answer was thrown away, as on a read timeout) or before sending.
type flakyTransport struct {
	rt        http.RoundTripper
	match     func(*http.Request) bool
	afterSend bool
	left      atomic.Int32
}

func (f *flakyTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if !f.match(req) || f.left.Add(-1) < 0 {
		return f.rt.RoundTrip(req)
	}
	if !f.afterSend {
		return nil, errors.New("dial tcp: connection refused (simulated)")
	}
	resp, err := f.rt.RoundTrip(req)
	if err == nil {
		resp.Body.Close()
	}
	return nil, errors.New("read tcp: i/o timeout (simulated)")
}

func TestTransportErrors(t *testing.T) {
	isInvoke := func(r *http.Request) bool { return strings.HasSuffix(r.URL.Path, "/invokeAction") }
	isGet := func(r *http.Request) bool { return r.Method == http.MethodGet }
	tests := []struct {
		name          string
		match         func(*http.Request) bool
		afterSend     bool
		wantUncertain bool
		wantAttempts  int // log lines of invokeAction (POST) or identityAccounts/{id} (GET)
	}{
		{name: "POST timeout after sending is uncertain and not retried", match: isInvoke, afterSend: true, wantUncertain: true, wantAttempts: 1},
		{name: "POST refused before sending is retried", match: isInvoke, wantAttempts: 2},
		{name: "GET timeout after sending is retried", match: isGet, afterSend: true, wantAttempts: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ft := &flakyTransport{rt: http.DefaultTransport, match: tt.match, afterSend: tt.afterSend}
			f := newFixture(t, graphtest.Options{Seed: 31}, func(c *Config) { c.HTTPClient = &http.Client{Transport: ft} })
			ctx := providertest.Context(t)
			batch := f.disableMallory(t, ctx)
			ft.left.Store(1)
			sub, err := f.c.Submit(ctx, batch)
			if tt.wantUncertain {
				if !errors.Is(err, providers.ErrUncertain) || errors.Is(err, providers.ErrTemporary) {
					t.Fatalf("Submit: got %v, want ErrUncertain only", err)
				}
				if strings.Contains(err.Error(), "127.0.0.1") {
					t.Errorf("error %q carries the URL", err)
				}
				// The call did reach Graph, which acted on it.
				if n := len(f.srv.Invocations()); n != 1 {
					t.Errorf("got %d invocations, want 1", n)
				}
				if got := f.logs.Matching("/invokeAction"); len(got) != tt.wantAttempts {
					t.Errorf("got %d invokeAction attempts, want %d: %q", len(got), tt.wantAttempts, got)
				}
				return
			}
			if err != nil {
				t.Fatalf("Submit: %v", err)
			}
			p, err := f.c.Poll(ctx, sub)
			if err != nil || !p.Done {
				t.Fatalf("Poll: %v %+v", err, p)
			}
			path := "/invokeAction"
			if tt.match(&http.Request{Method: http.MethodGet, URL: &url.URL{Path: "/"}}) {
				path = "method=GET path=/v1.0" + accountsPath + "/" + batch.Items[0].Account + " "
			}
			if got := f.logs.Matching(path); len(got) != tt.wantAttempts {
				t.Errorf("got %d attempts on %s, want %d: %q", len(got), path, tt.wantAttempts, got)
			}
		})
	}
}

func TestLatency(t *testing.T) {
	t.Run("slow answers arrive", func(t *testing.T) {
		f := newFixture(t, graphtest.Options{}, nil)
		seedDirectory(f.srv)
		f.srv.SetFaults(graphtest.Faults{Latency: 40 * time.Millisecond})
		start := time.Now()
		if _, err := f.c.Resolve(providertest.Context(t), accountSpec(approvals.ActionDisable, "mallory@contoso.com")); err != nil {
			t.Fatalf("Resolve: %v", err)
		}
		if d := time.Since(start); d < 40*time.Millisecond {
			t.Errorf("took %v, want at least the injected 40ms", d)
		}
	})
	t.Run("a POST that times out is uncertain", func(t *testing.T) {
		f := newFixture(t, graphtest.Options{}, func(c *Config) { c.HTTPClient = &http.Client{Timeout: 100 * time.Millisecond} })
		ctx := providertest.Context(t)
		batch := f.disableMallory(t, ctx)
		f.srv.SetFaults(graphtest.Faults{Latency: 3 * time.Second})
		_, err := f.c.Submit(ctx, batch)
		if !errors.Is(err, providers.ErrUncertain) {
			t.Fatalf("Submit: got %v, want ErrUncertain", err)
		}
		if got := f.logs.Matching("/invokeAction"); len(got) != 1 || !strings.Contains(got[0], "sent=true") {
			t.Errorf("got attempts %q, want one, sent", got)
		}
		// The fake sees the client hang up during its latency: one call,
		// recorded as aborted, nothing applied.
		calls, err := f.srv.WaitCalls(ctx, func(cs []graphtest.Call) bool {
			for _, c := range cs {
				if c.Fault == "aborted" {
					return true
				}
			}
			return false
		})
		if err != nil {
			t.Fatalf("waiting for the aborted call: %v", err)
		}
		if n, faulted := countCallsIn(calls, "/invokeAction"); n != 1 || faulted != 1 {
			t.Errorf("got %d invokeAction calls (%d faulted), want 1 aborted", n, faulted)
		}
		if u, _ := f.srv.User("mallory@contoso.com"); !u.Enabled || len(f.srv.Invocations()) != 0 {
			t.Errorf("the aborted call took effect")
		}
	})
}

func TestTokenEndpointUnreachableOnce(t *testing.T) {
	ft := &flakyTransport{rt: http.DefaultTransport, match: func(r *http.Request) bool { return strings.HasSuffix(r.URL.Path, "/token") }}
	ft.left.Store(1)
	f := newFixture(t, graphtest.Options{}, func(c *Config) { c.HTTPClient = &http.Client{Transport: ft} })
	seedDirectory(f.srv)
	got, err := f.c.Resolve(providertest.Context(t), accountSpec(approvals.ActionDisable, "mallory@contoso.com"))
	if err != nil || len(got) != 1 || got[0].Problem != "" {
		t.Fatalf("Resolve: %v %+v, want it found after a retry of the token request", err, got)
	}
	if warn, ok := f.logs.Matching("WARN graph token", "connection refused"), f.logs.Matching("INFO graph token", "status=200"); len(warn) != 1 || len(ok) != 1 {
		t.Errorf("token log lines: got %q and %q, want one failure and one success", warn, ok)
	}
}

func TestThrottlePausesEveryone(t *testing.T) {
	f := newFixture(t, graphtest.Options{}, func(c *Config) { c.MaxRetries = -1 })
	seedDirectory(f.srv)
	ctx := providertest.Context(t)
	f.srv.SetFaults(graphtest.Faults{Rate429: 1, RetryAfter: 300 * time.Millisecond})
	if _, err := f.c.Resolve(ctx, accountSpec(approvals.ActionDisable, "mallory@contoso.com")); !errors.Is(err, providers.ErrTemporary) {
		t.Fatalf("Resolve: got %v, want ErrTemporary after one 429 with no retries", err)
	}
	f.srv.SetFaults(graphtest.Faults{})
	// Another caller, another operation: it must wait out the pause too.
	if _, err := f.c.Resolve(ctx, mailSpec("", nmidA)); err != nil {
		t.Fatalf("Resolve mail: %v", err)
	}
	var throttled, next time.Time
	for _, c := range f.srv.Calls() {
		switch {
		case c.Fault == "429":
			throttled = c.Time
		case strings.HasSuffix(c.Path, "/analyzedEmails") && next.IsZero():
			next = c.Time
		}
	}
	if gap := next.Sub(throttled); throttled.IsZero() || gap < 290*time.Millisecond {
		t.Errorf("the next request came %v after the 429, want at least its Retry-After of 300ms", gap)
	}
}

func TestPacer(t *testing.T) {
	p := newPacer(20) // one request per 52.5 ms
	ctx := providertest.Context(t)
	start := time.Now()
	for range 5 {
		if err := p.Wait(ctx); err != nil {
			t.Fatalf("wait: %v", err)
		}
	}
	if d, want := time.Since(start), 4*time.Second/20; d < want {
		t.Errorf("5 requests took %v, want at least %v at 20/s", d, want)
	}
	p.Block(time.Now().Add(150 * time.Millisecond))
	start = time.Now()
	if err := p.Wait(ctx); err != nil {
		t.Fatalf("wait: %v", err)
	}
	if d := time.Since(start); d < 140*time.Millisecond {
		t.Errorf("wait after a pause of 150ms took %v", d)
	}
	short, cancel := context.WithTimeout(ctx, 10*time.Millisecond)
	defer cancel()
	p.Block(time.Now().Add(time.Second))
	if err := p.Wait(short); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("wait past the deadline: got %v, want DeadlineExceeded", err)
	}
}

func TestCallLogging(t *testing.T) {
	f, err := refusedDisable(t, 32)
	if err == nil {
		t.Fatal("Submit: want the refusal")
	}
	var failed graphtest.Call
	seen := map[string]bool{}
	guid := regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)
	for _, c := range f.srv.Calls() {
		if strings.HasSuffix(c.Path, "/token") {
			continue
		}
		if !guid.MatchString(c.ClientRequestID) || seen[c.ClientRequestID] {
			t.Errorf("client-request-id %q: want a fresh GUID per request", c.ClientRequestID)
		}
		seen[c.ClientRequestID] = true
		if strings.HasSuffix(c.Path, "/invokeAction") {
			failed = c
		}
	}
	lines := f.logs.Matching("WARN provider call", "provider=graph", "/invokeAction")
	if len(lines) != 1 {
		t.Fatalf("got %d warning lines for invokeAction, want 1", len(lines))
	}
	for _, want := range []string{"status=400", "code=invalidRequest", "request_id=" + failed.RequestID,
		"client_request_id=" + failed.ClientRequestID, "inner_date=" + failed.Time.UTC().Format("2006-01-02T15:04:05")} {
		if !strings.Contains(lines[0], want) {
			t.Errorf("log line %q lacks %q", lines[0], want)
		}
	}
	if n := len(f.logs.Matching("provider call provider=graph")); n != len(seen) {
		t.Errorf("got %d call log lines for %d calls, want one each", n, len(seen))
	}
}

func TestNoSecretsInLogs(t *testing.T) {
	f := newFixture(t, graphtest.Options{Seed: 33, Now: mailNow}, func(c *Config) { c.Now = mailNow; legacy(c) })
	seedDirectory(f.srv)
	seedMail(f.srv, "")
	ctx := providertest.Context(t)
	f.srv.SetFaults(graphtest.Faults{Rate429: 0.2, RetryAfter: time.Millisecond, Rate5xxGET: 0.2, FailRecipients: []string{"user2@contoso.com"}})
	for _, spec := range []approvals.Spec{
		accountSpec(approvals.ActionDisable, "mallory@contoso.com", "alice@contoso.com"),
		mailSpec("hard-delete", nmidA),
		ipSpec("203.0.113.5"),
	} {
		if _, err := runToEnd(ctx, f.c, spec, 10); err != nil {
			t.Fatalf("%s: %v", spec.Action, err)
		}
	}
	f.srv.ExpireTokens() // a 401 and a refresh get logged too
	if _, err := f.c.Resolve(ctx, accountSpec(approvals.ActionEnable, "mallory@contoso.com")); err != nil {
		t.Fatalf("Resolve: %v", err)
	}
	bad := newFixture(t, graphtest.Options{}, func(c *Config) { c.ClientSecret = "another-secret-value"; c.Logger = f.c.log })
	_, _ = bad.c.Resolve(ctx, accountSpec(approvals.ActionDisable, "mallory@contoso.com"))

	_, _, secret := f.srv.Credentials()
	forbidden := append(f.srv.IssuedTokens(), secret, "another-secret-value", "Bearer", "Invoice overdue", "billing@fabrikam.example")
	lines := f.logs.Lines()
	if len(lines) < 20 {
		t.Fatalf("got %d log lines, want a full run's worth", len(lines))
	}
	for _, l := range lines {
		for _, s := range forbidden {
			if strings.Contains(l.Text, s) {
				t.Errorf("log line %q contains %q", l.Text, s)
			}
		}
	}
}

func TestForeignNextLink(t *testing.T) {
	var foreignHits atomic.Int32
	foreign := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { foreignHits.Add(1) }))
	defer foreign.Close()
	srv := graphtest.New(graphtest.Options{})
	defer srv.Close()
	graph := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = json.NewEncoder(w).Encode(map[string]any{"value": []any{},
			"@odata.nextLink": foreign.URL + "/v1.0/security/identities/identityAccounts?$skiptoken=x"})
	}))
	defer graph.Close()
	cfg := clientConfig(srv, providertest.NewLog())
	cfg.BaseURL = graph.URL
	c, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	_, err = c.Resolve(providertest.Context(t), accountSpec(approvals.ActionDisable, "mallory@contoso.com"))
	if !errors.Is(err, ErrForeignLink) {
		t.Errorf("Resolve: got %v, want ErrForeignLink", err)
	}
	if n := foreignHits.Load(); n != 0 {
		t.Errorf("the foreign host got %d requests, want none", n)
	}
}

// TestUnderInjectedFaults is the acceptance test: under 20% injected 5xx
// (on reads) and 10% 429, every operation completes with the correct
// per-target outcomes, also with several requests running at once.
func TestUnderInjectedFaults(t *testing.T) {
	f := newFixture(t, graphtest.Options{Seed: 34, PageSize: 4, Now: mailNow}, func(c *Config) {
		c.Now = mailNow
		c.MaxRetries = 25
		legacy(c)
	})
	var targets []string
	for i := range 24 {
		u := f.srv.AddUser(graphtest.User{DisplayName: fmt.Sprintf("User %d", i), UPN: fmt.Sprintf("u%02d@contoso.com", i),
			Email: fmt.Sprintf("u%02d@contoso.com", i), Enabled: true})
		targets = append(targets, u.UPN)
	}
	seedMail(f.srv, "")
	f.srv.SetBehavior(graphtest.Behavior{ApplyAfterReads: 1, RemediateAfterReads: 1})
	f.srv.SetFaults(graphtest.Faults{
		// A POST answered 5xx is uncertain and never retried (see
		// TestUncertainPOSTNeverRepeated), so 5xx hit reads only.
		Rate5xxGET: 0.2, Rate429: 0.1, RetryAfter: 3 * time.Millisecond,
		FailAccounts:   []string{"u03@contoso.com", "u17@contoso.com"},
		FailRecipients: []string{"user4@contoso.com"},
		FailIPs:        []string{"198.51.100.66"},
	})
	type job struct {
		spec approvals.Spec
		want map[string]approvals.ItemStatus
	}
	accounts := map[string]approvals.ItemStatus{}
	for _, u := range targets {
		accounts[u] = approvals.ItemSucceeded
	}
	accounts["u03@contoso.com"], accounts["u17@contoso.com"] = approvals.ItemFailed, approvals.ItemFailed
	mails := map[string]approvals.ItemStatus{}
	for _, r := range mailRecipients(5) {
		mails[nmidA+"/"+r] = approvals.ItemSucceeded
	}
	mails[nmidA+"/user4@contoso.com"] = approvals.ItemFailed
	jobs := []job{
		{accountSpec(approvals.ActionDisable, targets[:12]...), nil},
		{accountSpec(approvals.ActionDisable, targets[12:]...), nil},
		{mailSpec("soft-delete", nmidA), mails},
		{ipSpec("198.51.100.65", "198.51.100.66"), map[string]approvals.ItemStatus{"198.51.100.65": approvals.ItemSucceeded, "198.51.100.66": approvals.ItemFailed}},
	}
	ctx := providertest.Context(t)
	var wg sync.WaitGroup
	results := make([]map[string]providers.ItemStatus, len(jobs))
	errs := make([]error, len(jobs))
	for i, j := range jobs {
		wg.Go(func() { results[i], errs[i] = runToEnd(ctx, f.c, j.spec, 20) })
	}
	wg.Wait()
	got := map[string]approvals.ItemStatus{}
	for i := range jobs {
		if errs[i] != nil {
			t.Fatalf("%s: %v", jobs[i].spec.Action, errs[i])
		}
		for k, st := range results[i] {
			got[k] = st.Status
		}
	}
	want := map[string]approvals.ItemStatus{}
	for k, v := range accounts {
		want[k] = v
	}
	for _, j := range jobs[2:] {
		for k, v := range j.want {
			want[k] = v
		}
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("outcomes (-want +got):\n%s", diff)
	}
	for _, u := range targets {
		fu, _ := f.srv.User(u)
		if fu.Enabled != (accounts[u] == approvals.ItemFailed) {
			t.Errorf("%s: enabled %v after its outcome %s", u, fu.Enabled, accounts[u])
		}
	}
	// Exactly once: every account got one invokeAction, the mail one remediate.
	if n := len(f.srv.Invocations()); n != len(targets)-2 {
		t.Errorf("got %d invocations, want %d", n, len(targets)-2)
	}
	if n := len(f.srv.Remediations()); n != 1 {
		t.Errorf("got %d remediations, want 1", n)
	}
	var faults5xx, faults429, total int
	for _, c := range f.srv.Calls() {
		if strings.HasSuffix(c.Path, "/token") {
			continue
		}
		total++
		switch c.Fault {
		case "5xx":
			faults5xx++
		case "429":
			faults429++
		}
	}
	if faults5xx == 0 || faults429 == 0 {
		t.Errorf("got %d 5xx and %d 429 in %d calls, want both injected", faults5xx, faults429, total)
	}
	t.Logf("%d Graph calls, %d answered 5xx, %d answered 429", total, faults5xx, faults429)
}

func TestRateLimitWaitObserved(t *testing.T) {
	var mu sync.Mutex
	var waits []time.Duration
	f := newFixture(t, graphtest.Options{}, func(c *Config) {
		c.RequestsPerSecond = 20 // one request per 52.5 ms
		c.RateLimitWait = func(d time.Duration) { mu.Lock(); waits = append(waits, d); mu.Unlock() }
	})
	seedDirectory(f.srv)
	ctx := providertest.Context(t)
	for range 3 {
		if _, err := f.c.get(ctx, f.c.endpoint("v1.0", accountsPath, ""), permAccountsRead); err != nil {
			t.Fatalf("get: %v", err)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(waits) != 3 {
		t.Fatalf("observer called %d times for 3 requests", len(waits))
	}
	if waits[2] < 40*time.Millisecond {
		t.Errorf("third wait observed as %v, want about 52ms at 20/s", waits[2])
	}
}
