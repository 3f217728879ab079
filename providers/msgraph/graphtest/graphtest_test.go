package graphtest_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/countersign/countersign/providers/msgraph/graphtest"
)

// clock is a settable fake clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

var t0 = time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC)

// harness talks raw HTTP to a fake.
type harness struct {
	t   *testing.T
	srv *graphtest.Server
	clk *clock
	tok string
}

func newHarness(t *testing.T, opts graphtest.Options) *harness {
	t.Helper()
	clk := &clock{t: t0}
	if opts.Now == nil {
		opts.Now = clk.Now
	}
	srv := graphtest.New(opts)
	t.Cleanup(srv.Close)
	h := &harness{t: t, srv: srv, clk: clk}
	status, _, body := h.token(url.Values{})
	if status != http.StatusOK {
		t.Fatalf("token: %d %v", status, body)
	}
	h.tok = body["access_token"].(string)
	return h
}

// token posts the client-credentials form; override replaces fields.
func (h *harness) token(override url.Values) (int, http.Header, map[string]any) {
	tenant, id, secret := h.srv.Credentials()
	_ = tenant
	form := url.Values{"client_id": {id}, "client_secret": {secret}, "grant_type": {"client_credentials"},
		"scope": {"https://graph.microsoft.com/.default"}}
	for k, v := range override {
		form[k] = v
	}
	req, _ := http.NewRequest(http.MethodPost, h.srv.TokenURL(), strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return h.send(req)
}

func (h *harness) send(req *http.Request) (int, http.Header, map[string]any) {
	h.t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var m map[string]any
	if len(b) > 0 {
		if err := json.Unmarshal(b, &m); err != nil {
			h.t.Fatalf("%s %s: body %q: %v", req.Method, req.URL, b, err)
		}
	}
	return resp.StatusCode, resp.Header, m
}

// do sends a Graph request; body is raw JSON text, or nil.
func (h *harness) do(method, path string, body any, headers ...string) (int, http.Header, map[string]any) {
	h.t.Helper()
	var r io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		r = strings.NewReader(b)
	default:
		raw, _ := json.Marshal(b)
		r = bytes.NewReader(raw)
	}
	u := path
	if !strings.HasPrefix(path, "http") {
		u = h.srv.URL() + path
	}
	req, err := http.NewRequest(method, u, r)
	if err != nil {
		h.t.Fatal(err)
	}
	if h.tok != "" {
		req.Header.Set("Authorization", "Bearer "+h.tok)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	return h.send(req)
}

// errCode returns error.code of a Graph error body.
func errCode(m map[string]any) string {
	e, _ := m["error"].(map[string]any)
	s, _ := e["code"].(string)
	return s
}

func TestToken(t *testing.T) {
	h := newHarness(t, graphtest.Options{})
	tests := []struct {
		name       string
		override   url.Values
		wantStatus int
		wantError  string
	}{
		{"documented request", nil, 200, ""},
		{"wrong secret", url.Values{"client_secret": {"nope"}}, 401, "invalid_client"},
		{"wrong client", url.Values{"client_id": {"other"}}, 400, "unauthorized_client"},
		{"wrong scope", url.Values{"scope": {"https://management.azure.com/.default"}}, 400, "invalid_scope"},
		{"US Gov scope", url.Values{"scope": {"https://graph.microsoft.us/.default"}}, 200, ""},
		{"wrong grant", url.Values{"grant_type": {"password"}}, 400, "unsupported_grant_type"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, hdr, body := h.token(tt.override)
			if status != tt.wantStatus || (tt.wantError != "" && body["error"] != tt.wantError) {
				t.Fatalf("got %d %v, want %d %s", status, body, tt.wantStatus, tt.wantError)
			}
			if status == 200 && (body["token_type"] != "Bearer" || body["expires_in"] != 3599.0 || body["ext_expires_in"] != 3599.0 || body["access_token"] == "") {
				t.Errorf("token body: got %v", body)
			}
			if hdr.Get("Cache-Control") == "" {
				t.Error("token response without Cache-Control")
			}
		})
	}
	req, _ := http.NewRequest(http.MethodPost, h.srv.URL()+"/other-tenant/oauth2/v2.0/token", strings.NewReader("grant_type=client_credentials"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if status, _, body := h.send(req); status != 400 || body["error"] != "invalid_request" {
		t.Errorf("other tenant: got %d %v, want 400 invalid_request", status, body)
	}
	for _, c := range h.srv.Calls() {
		if c.Body != nil {
			t.Errorf("token call recorded with its body (the secret): %q", c.Body)
		}
	}
}

func TestAuthentication(t *testing.T) {
	h := newHarness(t, graphtest.Options{TokenLifetime: time.Hour})
	path := "/v1.0/security/identities/identityAccounts"
	status, hdr, body := h.do(http.MethodGet, path, nil, "client-request-id", "crid-1")
	if status != 200 || hdr.Get("client-request-id") != "crid-1" || hdr.Get("request-id") == "" {
		t.Fatalf("good token: got %d, headers %v", status, hdr)
	}
	good := h.tok
	for _, tc := range []struct {
		name string
		tok  string
		prep func()
		want string
	}{
		{"no token", "", nil, "Access token is empty."},
		{"unknown token", "eyJforged", nil, "Access token validation failure. Invalid audience."},
		{"expired", good, func() { h.clk.Set(t0.Add(time.Hour)) }, "Lifetime validation failed, the token is expired."},
		{"revoked", good, func() { h.clk.Set(t0); h.srv.ExpireTokens() }, "Access token validation failure. Invalid audience."},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.prep != nil {
				tc.prep()
			}
			h.tok = tc.tok
			status, hdr, body = h.do(http.MethodGet, path, nil, "client-request-id", "crid-2")
			e, _ := body["error"].(map[string]any)
			inner, _ := e["innerError"].(map[string]any)
			if status != 401 || e["code"] != "InvalidAuthenticationToken" || e["message"] != tc.want {
				t.Fatalf("got %d %v, want 401 InvalidAuthenticationToken %q", status, body, tc.want)
			}
			if inner["request-id"] != hdr.Get("request-id") || inner["client-request-id"] != "crid-2" || inner["date"] == "" {
				t.Errorf("innerError %v: want the request ids and a date", inner)
			}
		})
	}
}

func seedUsers(srv *graphtest.Server, n int) []graphtest.User {
	var out []graphtest.User
	for i := range n {
		out = append(out, srv.AddUser(graphtest.User{DisplayName: "User", UPN: "u" + string(rune('a'+i)) + "@contoso.com",
			Email: "mail" + string(rune('a'+i)) + "@contoso.com", Enabled: true, OnPremSID: "S-1-5-21-" + string(rune('a'+i))}))
	}
	return out
}

func TestIdentityAccounts(t *testing.T) {
	h := newHarness(t, graphtest.Options{PageSize: 2})
	users := seedUsers(h.srv, 5)
	base := "/v1.0/security/identities/identityAccounts"

	t.Run("pages with skiptoken from the server's own URL", func(t *testing.T) {
		var ids []string
		next := base
		for pages := 0; next != ""; pages++ {
			if pages > 5 {
				t.Fatal("too many pages")
			}
			status, _, body := h.do(http.MethodGet, next, nil)
			if status != 200 {
				t.Fatalf("GET %s: %d %v", next, status, body)
			}
			for _, v := range body["value"].([]any) {
				ids = append(ids, v.(map[string]any)["id"].(string))
			}
			next, _ = body["@odata.nextLink"].(string)
			if next != "" && (!strings.HasPrefix(next, h.srv.URL()+base+"?") || !strings.Contains(next, "$skiptoken=")) {
				t.Fatalf("nextLink %q: want the server's URL and a $skiptoken", next)
			}
		}
		var want []string
		for _, u := range users {
			want = append(want, u.ID)
		}
		if diff := cmp.Diff(want, ids); diff != "" {
			t.Errorf("ids (-want +got):\n%s", diff)
		}
	})

	filter := func(f string) (int, map[string]any) {
		status, _, body := h.do(http.MethodGet, base+"?$filter="+url.PathEscape(f), nil)
		return status, body
	}
	count := func(body map[string]any) int { v, _ := body["value"].([]any); return len(v) }

	tests := []struct {
		name    string
		b       graphtest.Behavior
		filter  string
		status  int
		matches int
	}{
		{"SID filter", graphtest.Behavior{}, "onPremisesSecurityIdentifier eq 'S-1-5-21-c'", 200, 1},
		{"derived filter refused by default", graphtest.Behavior{}, "microsoft.graph.security.user/userPrincipalName eq 'UB@contoso.com'", 400, 0},
		{"derived filter behind the switch", graphtest.Behavior{DerivedFilter: true}, "microsoft.graph.security.user/userPrincipalName eq 'UB@contoso.com'", 200, 1},
		{"derived e-mail filter", graphtest.Behavior{DerivedFilter: true}, "microsoft.graph.security.user/emailAddress eq 'maild@contoso.com'", 200, 1},
		{"plain UPN filter is not documented", graphtest.Behavior{DerivedFilter: true}, "userPrincipalName eq 'ub@contoso.com'", 400, 0},
		{"quote escaping", graphtest.Behavior{}, "displayName eq 'O''Brien'", 200, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h.srv.SetBehavior(tt.b)
			status, body := filter(tt.filter)
			if status != tt.status || count(body) != tt.matches {
				t.Errorf("got %d with %d matches (%v), want %d with %d", status, count(body), body, tt.status, tt.matches)
			}
			if status == 400 && errCode(body) != "invalidRequest" {
				t.Errorf("got code %q, want invalidRequest", errCode(body))
			}
		})
	}
	h.srv.SetBehavior(graphtest.Behavior{})

	t.Run("unknown query option", func(t *testing.T) {
		if status, _, _ := h.do(http.MethodGet, base+"?$orderby=displayName", nil); status != 400 {
			t.Errorf("got %d, want 400", status)
		}
	})
	t.Run("get by id in both spellings", func(t *testing.T) {
		for _, b := range []graphtest.Behavior{{}, {ProviderKey: true, PascalCaseEnums: true}} {
			h.srv.SetBehavior(b)
			status, _, body := h.do(http.MethodGet, base+"/"+users[0].ID, nil)
			acct := body["accounts"].([]any)[0].(map[string]any)
			key, prov, action := "identityProvider", "activeDirectory", "disable"
			if b.ProviderKey {
				key, prov, action = "provider", "ActiveDirectory", "Disable"
			}
			if status != 200 || body["isEnabled"] != true || body["userPrincipalName"] != users[0].UPN || acct[key] != prov ||
				acct["actions"].([]any)[0] != action || acct["identifier"] != users[0].Accounts[0].Identifier {
				t.Errorf("%+v: got %d %v", b, status, body)
			}
		}
		h.srv.SetBehavior(graphtest.Behavior{})
		if status, _, body := h.do(http.MethodGet, base+"/nope", nil); status != 404 || errCode(body) != "itemNotFound" {
			t.Errorf("unknown id: got %d %v, want 404 itemNotFound", status, body)
		}
	})
}

func TestInvokeAction(t *testing.T) {
	h := newHarness(t, graphtest.Options{})
	u := seedUsers(h.srv, 1)[0]
	acct := u.Accounts[0].Identifier
	path := "/v1.0/security/identities/identityAccounts/" + u.ID + "/invokeAction"

	bad := []struct {
		name, body, code string
		status           int
	}{
		{"doc-page provider key", `{"accountId": "` + acct + `", "action": "disable", "provider": "ActiveDirectory"}`, "BadRequest", 400},
		{"missing accountId", `{"action": "disable", "identityProvider": "activeDirectory"}`, "BadRequest", 400},
		{"PascalCase enum", `{"accountId": "` + acct + `", "action": "Disable", "identityProvider": "activeDirectory"}`, "BadRequest", 400},
		{"sentinel enum", `{"accountId": "` + acct + `", "action": "unknownFutureValue", "identityProvider": "activeDirectory"}`, "BadRequest", 400},
		{"number for a string", `{"accountId": 5, "action": "disable", "identityProvider": "activeDirectory"}`, "BadRequest", 400},
		{"other account", `{"accountId": "x", "action": "disable", "identityProvider": "activeDirectory"}`, "invalidRequest", 400},
		{"wrong provider for the account", `{"accountId": "` + acct + `", "action": "disable", "identityProvider": "okta"}`, "invalidRequest", 400},
		{"action not offered", `{"accountId": "` + acct + `", "action": "enable", "identityProvider": "activeDirectory"}`, "invalidRequest", 400},
		{"empty body", ``, "BadRequest", 400},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			var body any = tt.body
			if tt.body == "" {
				body = "{}"
			}
			status, _, resp := h.do(http.MethodPost, path, body)
			if status != tt.status || errCode(resp) != tt.code {
				t.Errorf("got %d %v, want %d %s", status, resp, tt.status, tt.code)
			}
		})
	}
	if status, _, _ := h.do(http.MethodPost, path, `{}`, "Content-Type", "text/plain"); status != http.StatusUnsupportedMediaType {
		t.Errorf("text/plain: got %d, want 415", status)
	}
	if status, _, _ := h.do(http.MethodGet, path, nil); status != http.StatusMethodNotAllowed {
		t.Errorf("GET: got %d, want 405", status)
	}
	if n := len(h.srv.Invocations()); n != 0 {
		t.Fatalf("refused calls recorded %d invocations", n)
	}

	pascal := func(s string) string { return strings.ToUpper(s[:1]) + s[1:] }
	shapes := []struct {
		b    graphtest.Behavior
		want func(corr, action string) map[string]any
	}{
		{graphtest.Behavior{}, func(c, a string) map[string]any {
			return map[string]any{"accountId": acct, "action": a, "identityProvider": "activeDirectory", "correlationId": c}
		}},
		{graphtest.Behavior{InvokeResultValue: true, ProviderKey: true}, func(c, a string) map[string]any {
			return map[string]any{"value": map[string]any{"accountId": acct, "action": a, "provider": "activeDirectory", "correlationId": c}}
		}},
		{graphtest.Behavior{InvokeResultValue: true}, func(c, a string) map[string]any {
			return map[string]any{"value": map[string]any{"accountId": acct, "action": a, "identityProvider": "activeDirectory", "correlationId": c}}
		}},
		{graphtest.Behavior{ProviderKey: true, PascalCaseEnums: true}, func(c, a string) map[string]any {
			return map[string]any{"accountId": acct, "action": pascal(a), "provider": "ActiveDirectory", "correlationId": c}
		}},
	}
	for i, sh := range shapes {
		h.srv.SetBehavior(sh.b)
		// Alternate the two URL forms; each call disables, the next enables.
		p, action := path, "disable"
		if i%2 == 1 {
			p = strings.TrimSuffix(path, "invokeAction") + "microsoft.graph.security.invokeAction"
			action = "enable"
		}
		status, _, body := h.do(http.MethodPost, p, map[string]string{"accountId": acct, "action": action, "identityProvider": "activeDirectory"})
		inv := h.srv.Invocations()
		if status != 200 || len(inv) != i+1 {
			t.Fatalf("shape %+v: got %d %v", sh.b, status, body)
		}
		delete(body, "@odata.context")
		if diff := cmp.Diff(sh.want(inv[i].CorrelationID, action), body); diff != "" {
			t.Errorf("shape %+v (-want +got):\n%s", sh.b, diff)
		}
		if got, _ := h.srv.User(u.ID); got.Enabled != (action == "enable") {
			t.Errorf("after %s: enabled %v", action, got.Enabled)
		}
	}
}

func TestInvokeActionDelays(t *testing.T) {
	h := newHarness(t, graphtest.Options{})
	u := seedUsers(h.srv, 1)[0]
	get := func() bool {
		_, _, body := h.do(http.MethodGet, "/v1.0/security/identities/identityAccounts/"+u.ID, nil)
		return body["isEnabled"].(bool)
	}
	disable := func() {
		body := map[string]string{"accountId": u.Accounts[0].Identifier, "action": "disable", "identityProvider": "activeDirectory"}
		if status, _, resp := h.do(http.MethodPost, "/v1.0/security/identities/identityAccounts/"+u.ID+"/invokeAction", body); status != 200 {
			t.Fatalf("invokeAction: %d %v", status, resp)
		}
	}
	h.srv.SetBehavior(graphtest.Behavior{ApplyAfterReads: 2, ApplyAfter: time.Minute})
	disable()
	if !get() || !get() {
		t.Fatal("disabled within the first two reads")
	}
	if !get() {
		t.Fatal("disabled before the delay passed")
	}
	h.clk.Set(t0.Add(time.Minute))
	if get() {
		t.Error("still enabled after two reads and the delay")
	}
	if got, _ := h.srv.User(u.UPN); got.Enabled || got.Accounts[0].Actions[0] != "enable" {
		t.Errorf("after disable: got %+v, want disabled with enable offered", got)
	}
}

func TestAnalyzedEmails(t *testing.T) {
	h := newHarness(t, graphtest.Options{PageSize: 2})
	nmid := "73ca4154-58d8-43d0-a890-08dc18c52e6d"
	for _, r := range []string{"a@contoso.com", "b@contoso.com", "c@contoso.com"} {
		h.srv.AddEmail(graphtest.Email{NetworkMessageID: nmid, Recipient: r, Subject: "Invoice", Logged: t0.Add(-time.Hour)})
	}
	old := h.srv.AddEmail(graphtest.Email{NetworkMessageID: nmid, Recipient: "old@contoso.com", Logged: t0.Add(-40 * 24 * time.Hour)})
	h.srv.AddEmail(graphtest.Email{Recipient: "a@contoso.com", Logged: t0.Add(-time.Hour)}) // another message
	base := "/v1.0/security/collaboration/analyzedEmails"
	q := func(kv ...string) string {
		v := url.Values{}
		for i := 0; i+1 < len(kv); i += 2 {
			v.Set(kv[i], kv[i+1])
		}
		return base + "?" + v.Encode()
	}
	f := "networkMessageId eq '" + nmid + "'"
	tests := []struct {
		name   string
		b      graphtest.Behavior
		path   string
		status int
		n      int // items on the first page
		count  int // @odata.count, when asked
	}{
		{"window required", graphtest.Behavior{}, q("$filter", f), 400, 0, 0},
		{"window optional behind the switch", graphtest.Behavior{OptionalTimeWindow: true}, q("$filter", f, "$count", "true"), 200, 2, 4},
		{"dates", graphtest.Behavior{}, q("startTime", "2026-02-08", "endTime", "2026-03-11", "$filter", f, "$count", "true"), 200, 2, 3},
		{"timestamps", graphtest.Behavior{}, q("startTime", "2026-03-10T10:00:00Z", "endTime", "2026-03-10T11:30:00Z", "$filter", f, "$count", "true"), 200, 2, 3},
		{"end is exclusive", graphtest.Behavior{}, q("startTime", "2026-02-08", "endTime", "2026-03-10", "$filter", f), 200, 0, 0},
		{"message and recipient", graphtest.Behavior{}, q("startTime", "2026-02-08", "endTime", "2026-03-11",
			"$filter", f+" and recipientEmailAddress eq 'B@contoso.com'", "$count", "true"), 200, 1, 1},
		{"other filter", graphtest.Behavior{}, q("startTime", "2026-02-08", "endTime", "2026-03-11", "$filter", "subject eq 'Invoice'"), 400, 0, 0},
		{"beta page typo filter=", graphtest.Behavior{}, q("startTime", "2026-02-08", "endTime", "2026-03-11", "filter", f), 400, 0, 0},
		{"bad date", graphtest.Behavior{}, q("startTime", "yesterday", "endTime", "2026-03-11"), 400, 0, 0},
		{"start after end", graphtest.Behavior{}, q("startTime", "2026-03-11", "endTime", "2026-03-01"), 400, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h.srv.SetBehavior(tt.b)
			status, _, body := h.do(http.MethodGet, tt.path, nil)
			items, _ := body["value"].([]any)
			if status != tt.status || len(items) != tt.n {
				t.Fatalf("got %d with %d items (%v), want %d with %d", status, len(items), body, tt.status, tt.n)
			}
			if c, ok := body["@odata.count"]; ok && int(c.(float64)) != tt.count {
				t.Errorf("@odata.count: got %v, want %d", c, tt.count)
			}
			if status == 400 && errCode(body) != "invalidRequest" {
				t.Errorf("code: got %q, want invalidRequest", errCode(body))
			}
		})
	}
	h.srv.SetBehavior(graphtest.Behavior{})
	status, _, body := h.do(http.MethodGet, base+"/"+old.ID, nil)
	if status != 200 || body["recipientEmailAddress"] != "old@contoso.com" ||
		body["latestDelivery"].(map[string]any)["location"] != "inbox_folder" {
		t.Errorf("get by id: got %d %v", status, body)
	}
}

func TestRemediate(t *testing.T) {
	nmid := "73ca4154-58d8-43d0-a890-08dc18c52e6d"
	valid := func() map[string]any {
		return map[string]any{"displayName": "Countersign request 42", "description": "d", "severity": "medium", "action": "softDelete",
			"remediateSendersCopy": false, "analyzedEmails": []any{map[string]any{"networkMessageId": nmid, "recipientEmailAddress": "a@contoso.com"}}}
	}
	with := func(k string, v any) map[string]any {
		m := valid()
		if v == nil {
			delete(m, k)
		} else {
			m[k] = v
		}
		return m
	}
	path := "/v1.0/security/collaboration/analyzedEmails/remediate"
	bad := []struct {
		name   string
		body   map[string]any
		prefer bool
		code   string
	}{
		{"doc example's string boolean", with("remediateSendersCopy", "false"), false, "BadRequest"},
		{"old beta approverUpn", with("approverUpn", "bob@contoso.com"), false, "BadRequest"},
		{"missing severity", with("severity", nil), false, "BadRequest"},
		{"bad severity", with("severity", "critical"), false, "BadRequest"},
		{"sentinel action", with("action", "unknownFutureValue"), false, "BadRequest"},
		{"quarantine without Prefer", with("action", "moveToQuarantine"), false, "BadRequest"},
		{"quarantine with Prefer", with("action", "moveToQuarantine"), true, "notSupported"},
		{"no emails", with("analyzedEmails", []any{}), false, "invalidRequest"},
		{"item with an unknown field", with("analyzedEmails", []any{map[string]any{"id": "x", "recipientEmailAddresses": []string{}}}), false, "BadRequest"},
		{"item without recipient", with("analyzedEmails", []any{map[string]any{"networkMessageId": nmid}}), false, "invalidRequest"},
	}
	h := newHarness(t, graphtest.Options{})
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			var hdr []string
			if tt.prefer {
				hdr = []string{"Prefer", "include-unknown-enum-members"}
			}
			status, _, resp := h.do(http.MethodPost, path, tt.body, hdr...)
			if status != 400 || errCode(resp) != tt.code {
				t.Errorf("got %d %v, want 400 %s", status, resp, tt.code)
			}
		})
	}
	if n := len(h.srv.Remediations()); n != 0 {
		t.Fatalf("refused calls recorded %d remediations", n)
	}

	t.Run("both URL forms, both item forms, delayed effect and failure", func(t *testing.T) {
		h := newHarness(t, graphtest.Options{})
		a := h.srv.AddEmail(graphtest.Email{NetworkMessageID: nmid, Recipient: "a@contoso.com", Logged: t0.Add(-time.Hour)})
		b := h.srv.AddEmail(graphtest.Email{NetworkMessageID: nmid, Recipient: "b@contoso.com", Logged: t0.Add(-time.Hour)})
		h.srv.SetBehavior(graphtest.Behavior{RemediateAfterReads: 2})
		h.srv.SetFaults(graphtest.Faults{FailRecipients: []string{"B@contoso.com"}})
		body := with("analyzedEmails", []any{
			map[string]any{"networkMessageId": nmid, "recipientEmailAddress": "a@contoso.com"},
			map[string]any{"id": b.ID},
			map[string]any{"networkMessageId": nmid, "recipientEmailAddress": "nobody@contoso.com"},
		})
		status, hdr, resp := h.do(http.MethodPost, strings.TrimSuffix(path, "remediate")+"microsoft.graph.security.remediate", body)
		rs := h.srv.Remediations()
		if status != http.StatusAccepted || resp != nil || len(rs) != 1 {
			t.Fatalf("got %d %v, want 202 with no body", status, resp)
		}
		wantLoc := `https://security.microsoft.com/action-center/history?filters={"bulkId":["` + rs[0].BulkID + `"]}&tid=` + graphtest.DefaultTenantID
		if hdr.Get("Location") != wantLoc || rs[0].Location != wantLoc {
			t.Errorf("Location: got %q, want %q", hdr.Get("Location"), wantLoc)
		}
		wantItems := []graphtest.RemediationItem{{NetworkMessageID: nmid, Recipient: "a@contoso.com", Found: true},
			{ID: b.ID, Found: true}, {NetworkMessageID: nmid, Recipient: "nobody@contoso.com"}}
		if diff := cmp.Diff(wantItems, rs[0].Items); diff != "" {
			t.Errorf("items (-want +got):\n%s", diff)
		}
		read := func(id string) map[string]any {
			_, _, e := h.do(http.MethodGet, "/v1.0/security/collaboration/analyzedEmails/"+id, nil)
			return e
		}
		loc := func(e map[string]any) string { return e["latestDelivery"].(map[string]any)["location"].(string) }
		for i := range 2 {
			if e := read(a.ID); loc(e) != "inbox_folder" {
				t.Fatalf("read %d: moved already to %s", i+1, loc(e))
			}
		}
		ea := read(a.ID)
		read(b.ID)
		read(b.ID)
		eb := read(b.ID)
		lastEvent := func(e map[string]any) map[string]any {
			tl := e["timelineEvents"].([]any)
			return tl[len(tl)-1].(map[string]any)
		}
		if loc(ea) != "deletedFolder" || lastEvent(ea)["eventSource"] != "admin" || lastEvent(ea)["eventResult"] != "Success" {
			t.Errorf("a after 3 reads: got %s %v, want deletedFolder with an admin Success event", loc(ea), lastEvent(ea))
		}
		if loc(eb) != "inbox_folder" || lastEvent(eb)["eventSource"] != "admin" || lastEvent(eb)["eventResult"] != "Failed" {
			t.Errorf("b after 3 reads: got %s %v, want inbox_folder with an admin Failed event", loc(eb), lastEvent(eb))
		}
	})

	t.Run("encoded Location", func(t *testing.T) {
		h := newHarness(t, graphtest.Options{})
		h.srv.SetBehavior(graphtest.Behavior{EncodeLocation: true})
		_, hdr, _ := h.do(http.MethodPost, path, valid())
		u, err := url.Parse(hdr.Get("Location"))
		if err != nil || !strings.Contains(u.RawQuery, "filters=%7B%22bulkId%22") || !strings.Contains(u.Query().Get("filters"), h.srv.Remediations()[0].BulkID) {
			t.Errorf("Location %q: want percent-encoded filters with the bulkId", hdr.Get("Location"))
		}
	})
}

func TestSecurityActions(t *testing.T) {
	h := newHarness(t, graphtest.Options{})
	valid := `{"name": "BlockIp", "actionReason": "r", "parameters": [{"name": "IP", "value": "1.2.3.4"}],
		"vendorInformation": {"provider": "Windows Defender ATP", "vendor": "Microsoft"}}`
	if status, _, body := h.do(http.MethodPost, "/v1.0/security/securityActions", valid); status != 400 || errCode(body) != "BadRequest" {
		t.Errorf("v1.0: got %d %v, want 400: the legacy API is beta only", status, body)
	}
	bad := []struct{ name, body string }{
		{"no vendor", `{"name": "BlockIp", "parameters": [{"name": "IP", "value": "1.2.3.4"}]}`},
		{"other action", `{"name": "BlockUrl", "parameters": [{"name": "IP", "value": "1.2.3.4"}], "vendorInformation": {"provider": "Windows Defender ATP", "vendor": "Microsoft"}}`},
		{"bad IP", `{"name": "BlockIp", "parameters": [{"name": "IP", "value": "1.2.3"}], "vendorInformation": {"provider": "Windows Defender ATP", "vendor": "Microsoft"}}`},
		{"misspelt field", `{"name": "BlockIp", "actionReson": "r", "parameters": [{"name": "IP", "value": "1.2.3.4"}], "vendorInformation": {"provider": "Windows Defender ATP", "vendor": "Microsoft"}}`},
		{"other provider", `{"name": "BlockIp", "parameters": [{"name": "IP", "value": "1.2.3.4"}], "vendorInformation": {"provider": "Acme", "vendor": "Microsoft"}}`},
	}
	for _, tt := range bad {
		if status, _, body := h.do(http.MethodPost, "/beta/security/securityActions", tt.body); status != 400 {
			t.Errorf("%s: got %d %v, want 400", tt.name, status, body)
		}
	}
	for _, doc := range []bool{false, true} {
		h.srv.SetBehavior(graphtest.Behavior{DocSecurityActions: doc})
		status, _, created := h.do(http.MethodPost, "/beta/security/securityActions", valid)
		want := []string{"NotStarted", "Running", "Completed"}
		name := "BlockIp"
		if doc {
			want, name = []string{"notStarted", "running", "completed"}, "blockIp"
		}
		if status != 201 || created["status"] != want[0] || created["name"] != name || created["id"] == "" {
			t.Fatalf("doc %v: create got %d %v", doc, status, created)
		}
		if ts := created["createdDateTime"].(string); doc != !strings.Contains(ts, "T") {
			t.Errorf("doc %v: createdDateTime %q", doc, ts)
		}
		id := created["id"].(string)
		for _, w := range want[1:] {
			_, _, got := h.do(http.MethodGet, "/beta/security/securityActions/"+id, nil)
			if got["status"] != w {
				t.Errorf("doc %v: got status %v, want %s", doc, got["status"], w)
			}
		}
	}
	h.srv.SetBehavior(graphtest.Behavior{})
	_, _, list := h.do(http.MethodGet, "/beta/security/securityActions", nil)
	if n := len(list["value"].([]any)); n != 2 {
		t.Errorf("list: got %d actions, want 2", n)
	}
	h.srv.SetFaults(graphtest.Faults{FailIPs: []string{"1.2.3.4"}})
	_, _, created := h.do(http.MethodPost, "/beta/security/securityActions", valid)
	id := created["id"].(string)
	h.do(http.MethodGet, "/beta/security/securityActions/"+id, nil)
	_, _, got := h.do(http.MethodGet, "/beta/security/securityActions/"+id, nil)
	if got["status"] != "Failed" || got["errorInfo"].(map[string]any)["message"] == "" {
		t.Errorf("failing IP: got %v, want Failed with errorInfo", got)
	}
	_, _, created = h.do(http.MethodPost, "/beta/security/securityActions", strings.Replace(valid, "1.2.3.4", "5.6.7.8", 1))
	id = created["id"].(string)
	if status, _, body := h.do(http.MethodPost, "/beta/security/securityActions/"+id+"/microsoft.graph.cancelSecurityAction", nil); status != 200 || body != nil {
		t.Errorf("cancel: got %d %v, want 200 with no body", status, body)
	}
	if status, _, _ := h.do(http.MethodPost, "/beta/security/securityActions/"+id+"/cancelSecurityAction", nil); status != 400 {
		t.Errorf("second cancel: got %d, want 400", status)
	}
	acts := h.srv.SecurityActions()
	if last := acts[len(acts)-1]; last.Status != "Failed" || !last.Cancelled || last.ErrorMessage != "Cancelled" {
		t.Errorf("cancelled action: got %+v", last)
	}
}

func TestFaults(t *testing.T) {
	h := newHarness(t, graphtest.Options{Seed: 9})
	u := seedUsers(h.srv, 1)[0]
	path := "/v1.0/security/identities/identityAccounts/" + u.ID + "/invokeAction"
	body := map[string]string{"accountId": u.Accounts[0].Identifier, "action": "disable", "identityProvider": "activeDirectory"}

	h.srv.SetFaults(graphtest.Faults{Rate429: 1, RetryAfter: 250 * time.Millisecond})
	status, hdr, resp := h.do(http.MethodPost, path, body)
	inner := resp["error"].(map[string]any)["innerError"].(map[string]any)
	if status != 429 || hdr.Get("Retry-After") != "0.250" || errCode(resp) != "TooManyRequests" || inner["status"] != "429" {
		t.Errorf("429: got %d Retry-After %q %v", status, hdr.Get("Retry-After"), resp)
	}
	h.srv.SetFaults(graphtest.Faults{Rate429: 1})
	if status, hdr, _ := h.do(http.MethodPost, path, body); status != 429 || hdr.Get("Retry-After") != "" {
		t.Errorf("429 without Retry-After: got %d %q", status, hdr.Get("Retry-After"))
	}
	h.srv.SetFaults(graphtest.Faults{Rate5xx: 1})
	for range 6 {
		if status, _, resp := h.do(http.MethodPost, path, body); status != 500 && status != 503 {
			t.Errorf("5xx: got %d %v", status, resp)
		}
	}
	if got, _ := h.srv.User(u.ID); !got.Enabled || len(h.srv.Invocations()) != 0 {
		t.Errorf("refused calls changed state: %+v, %d invocations", got, len(h.srv.Invocations()))
	}
	h.srv.SetFaults(graphtest.Faults{DenyPermissions: []string{graphtest.PermissionActions}})
	if status, _, resp := h.do(http.MethodPost, path, body); status != 403 || errCode(resp) != "Authorization_RequestDenied" {
		t.Errorf("denied permission: got %d %v", status, resp)
	}
	h.srv.SetFaults(graphtest.Faults{Latency: 50 * time.Millisecond})
	start := time.Now()
	if status, _, _ := h.do(http.MethodGet, "/v1.0/security/identities/identityAccounts", nil); status != 200 || time.Since(start) < 50*time.Millisecond {
		t.Errorf("latency: got %d after %v", status, time.Since(start))
	}
	faults := map[string]int{}
	for _, c := range h.srv.Calls() {
		faults[c.Fault]++
	}
	if faults["429"] != 2 || faults["5xx"] != 6 {
		t.Errorf("recorded faults: got %v", faults)
	}
}

func TestThrottleWindows(t *testing.T) {
	tests := []struct {
		name   string
		window graphtest.ThrottleWindow
		steps  []struct {
			at         time.Duration // after t0
			status     int
			retryAfter string
		}
	}{
		{"sliding", graphtest.Sliding, []struct {
			at         time.Duration
			status     int
			retryAfter string
		}{
			{500 * time.Millisecond, 200, ""}, {700 * time.Millisecond, 200, ""}, {900 * time.Millisecond, 200, ""},
			{1100 * time.Millisecond, 429, "0.400"}, {1499 * time.Millisecond, 429, "0.001"},
			{1500 * time.Millisecond, 200, ""}, {1600 * time.Millisecond, 429, "0.100"},
		}},
		{"fixed", graphtest.Fixed, []struct {
			at         time.Duration
			status     int
			retryAfter string
		}{
			{500 * time.Millisecond, 200, ""}, {700 * time.Millisecond, 200, ""}, {900 * time.Millisecond, 200, ""},
			{950 * time.Millisecond, 429, "0.050"},
			// A new calendar second: three more right away, six in 0.6 s.
			{1000 * time.Millisecond, 200, ""}, {1050 * time.Millisecond, 200, ""}, {1100 * time.Millisecond, 200, ""},
			{1200 * time.Millisecond, 429, "0.800"},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, graphtest.Options{})
			h.srv.SetFaults(graphtest.Faults{ThrottlePerSecond: 3, Window: tt.window})
			for _, st := range tt.steps {
				h.clk.Set(t0.Add(st.at))
				status, hdr, _ := h.do(http.MethodGet, "/v1.0/security/identities/identityAccounts", nil)
				if status != st.status || hdr.Get("Retry-After") != st.retryAfter {
					t.Errorf("at %v: got %d Retry-After %q, want %d %q", st.at, status, hdr.Get("Retry-After"), st.status, st.retryAfter)
				}
			}
			h.srv.SetFaults(graphtest.Faults{ThrottlePerSecond: 1, ThrottleNoRetryAfter: true, Window: tt.window})
			h.clk.Set(t0.Add(5 * time.Second))
			h.do(http.MethodGet, "/v1.0/security/identities/identityAccounts", nil)
			if status, hdr, _ := h.do(http.MethodGet, "/v1.0/security/identities/identityAccounts", nil); status != 429 || hdr.Get("Retry-After") != "" {
				t.Errorf("without Retry-After: got %d %q", status, hdr.Get("Retry-After"))
			}
		})
	}
}

func TestConcurrentUse(t *testing.T) {
	h := newHarness(t, graphtest.Options{Seed: 3})
	users := seedUsers(h.srv, 10)
	var wg sync.WaitGroup
	for i, u := range users {
		wg.Go(func() {
			body := map[string]string{"accountId": u.Accounts[0].Identifier, "action": "disable", "identityProvider": "activeDirectory"}
			for {
				status, _, _ := h.do(http.MethodPost, "/v1.0/security/identities/identityAccounts/"+u.ID+"/invokeAction", body)
				if status == 200 {
					return
				}
			}
		})
		wg.Go(func() {
			h.srv.SetFaults(graphtest.Faults{Rate5xx: float64(i%3) / 4, Rate429: 0.1})
			h.srv.SetBehavior(graphtest.Behavior{ProviderKey: i%2 == 0})
			h.do(http.MethodGet, "/v1.0/security/identities/identityAccounts", nil)
			_ = h.srv.Calls()
		})
	}
	wg.Wait()
	if n := len(h.srv.Invocations()); n != len(users) {
		t.Errorf("got %d invocations, want %d", n, len(users))
	}
	for _, u := range h.srv.Users() {
		if u.Enabled {
			t.Errorf("%s still enabled", u.UPN)
		}
	}
}

func TestSeededIDs(t *testing.T) {
	ids := func(seed uint64) []string {
		s := graphtest.New(graphtest.Options{Seed: seed})
		defer s.Close()
		var out []string
		for range 3 {
			u := s.AddUser(graphtest.User{UPN: "x@contoso.com"})
			out = append(out, u.ID, u.Accounts[0].Identifier)
		}
		return out
	}
	a, b, c := ids(1), ids(1), ids(2)
	if diff := cmp.Diff(a, b); diff != "" {
		t.Errorf("same seed, different ids (-first +second):\n%s", diff)
	}
	if cmp.Equal(a, c) {
		t.Error("different seeds gave the same ids")
	}
}

func TestFaultsAfterAction(t *testing.T) {
	const nmid = "73ca4154-58d8-43d0-a890-08dc18c52e6d"
	ops := []struct {
		name    string
		path    func(u graphtest.User) string
		body    func(u graphtest.User) string
		applied func(h *harness, u graphtest.User) bool
	}{
		{"invokeAction",
			func(u graphtest.User) string {
				return "/v1.0/security/identities/identityAccounts/" + u.ID + "/invokeAction"
			},
			func(u graphtest.User) string {
				return `{"accountId": "` + u.Accounts[0].Identifier + `", "action": "disable", "identityProvider": "activeDirectory"}`
			},
			func(h *harness, u graphtest.User) bool { got, _ := h.srv.User(u.ID); return !got.Enabled }},
		{"remediate",
			func(graphtest.User) string { return "/v1.0/security/collaboration/analyzedEmails/remediate" },
			func(graphtest.User) string {
				return `{"displayName": "Countersign request 1", "description": "d", "severity": "medium", "action": "moveToJunk",
					"remediateSendersCopy": false, "analyzedEmails": [{"networkMessageId": "` + nmid + `", "recipientEmailAddress": "a@contoso.com"}]}`
			},
			func(h *harness, _ graphtest.User) bool {
				e, _ := h.srv.Email(nmid, "a@contoso.com")
				return e.Location == "junkFolder"
			}},
		{"securityActions",
			func(graphtest.User) string { return "/beta/security/securityActions" },
			func(graphtest.User) string {
				return `{"name": "BlockIp", "actionReason": "r", "parameters": [{"name": "IP", "value": "1.2.3.4"}],
					"vendorInformation": {"provider": "Windows Defender ATP", "vendor": "Microsoft"}}`
			},
			func(h *harness, _ graphtest.User) bool { return len(h.srv.SecurityActions()) == 1 }},
	}
	setup := func(t *testing.T, f graphtest.Faults) (*harness, graphtest.User) {
		h := newHarness(t, graphtest.Options{})
		u := seedUsers(h.srv, 1)[0]
		h.srv.AddEmail(graphtest.Email{NetworkMessageID: nmid, Recipient: "a@contoso.com", Logged: t0.Add(-time.Hour)})
		h.srv.SetFaults(f)
		return h, u
	}
	for _, op := range ops {
		for _, status := range []int{500, 502, 503, 504} {
			t.Run(fmt.Sprintf("%s %d", op.name, status), func(t *testing.T) {
				h, u := setup(t, graphtest.Faults{StatusAfterAction: status})
				got, _, body := h.do(http.MethodPost, op.path(u), op.body(u))
				if got != status || errCode(body) == "" {
					t.Errorf("got %d %v, want %d with Graph's error body", got, body, status)
				}
				if !op.applied(h, u) {
					t.Error("the operation did not take effect before the error")
				}
				if n := h.srv.Posts(); n != 1 {
					t.Errorf("Posts: got %d, want 1", n)
				}
			})
		}
		t.Run(op.name+" hang", func(t *testing.T) {
			h, u := setup(t, graphtest.Faults{HangAfterAction: true})
			req, _ := http.NewRequest(http.MethodPost, h.srv.URL()+op.path(u), strings.NewReader(op.body(u)))
			req.Header.Set("Authorization", "Bearer "+h.tok)
			req.Header.Set("Content-Type", "application/json")
			resp, err := (&http.Client{Timeout: 100 * time.Millisecond}).Do(req)
			if err == nil {
				resp.Body.Close()
				t.Fatalf("a hanging operation answered %d", resp.StatusCode)
			}
			if !op.applied(h, u) {
				t.Error("the hanging operation did not take effect")
			}
			if n := h.srv.Posts(); n != 1 {
				t.Errorf("Posts: got %d, want 1", n)
			}
		})
	}
	t.Run("5xx on reads only", func(t *testing.T) {
		h, u := setup(t, graphtest.Faults{Rate5xxGET: 1})
		if st, _, _ := h.do(http.MethodGet, "/v1.0/security/identities/identityAccounts/"+u.ID, nil); st != 500 && st != 503 {
			t.Errorf("GET: got %d, want 500 or 503", st)
		}
		if st, _, body := h.do(http.MethodPost, ops[0].path(u), ops[0].body(u)); st != 200 {
			t.Errorf("POST: got %d %v, want 200", st, body)
		}
	})
}

// TestInvokeActionSeedTable: the fake accepts exactly the cells of seed
// 002's table, even for an account whose actions[] lists every action.
func TestInvokeActionSeedTable(t *testing.T) {
	all := []string{"disable", "enable", "forcePasswordReset", "revokeAllSessions", "requireUserToSignInAgain", "markUserAsCompromised"}
	supported := map[string]bool{
		"disable/activeDirectory": true, "disable/okta": true, "enable/activeDirectory": true, "enable/okta": true,
		"forcePasswordReset/activeDirectory": true, "revokeAllSessions/okta": true,
	}
	for _, prov := range []string{"activeDirectory", "entraID", "okta"} {
		for _, action := range all {
			t.Run(action+"/"+prov, func(t *testing.T) {
				h := newHarness(t, graphtest.Options{})
				u := h.srv.AddUser(graphtest.User{UPN: "u@contoso.com", Email: "u@contoso.com", Enabled: true,
					Accounts: []graphtest.Account{{Provider: prov, Actions: all}}})
				body := map[string]string{"accountId": u.Accounts[0].Identifier, "action": action, "identityProvider": prov}
				status, _, resp := h.do(http.MethodPost, "/v1.0/security/identities/identityAccounts/"+u.ID+"/invokeAction", body)
				wantStatus, wantCode, wantInv := http.StatusBadRequest, "invalidRequest", 0
				if supported[action+"/"+prov] {
					wantStatus, wantCode, wantInv = http.StatusOK, "", 1
				}
				if status != wantStatus || errCode(resp) != wantCode {
					t.Errorf("got %d %v, want %d %q", status, resp, wantStatus, wantCode)
				}
				if n := len(h.srv.Invocations()); n != wantInv {
					t.Errorf("got %d invocations, want %d", n, wantInv)
				}
			})
		}
	}
}

// TestNationalCloud: with a token for a national cloud's Graph, every
// operation the fake serves is refused as an unknown segment, because
// their documents mark them for the global service only (or are silent).
func TestNationalCloud(t *testing.T) {
	calls := []struct{ method, path, body, segment string }{
		{http.MethodGet, "/v1.0/security/identities/identityAccounts", "", "identities"},
		{http.MethodPost, "/v1.0/security/identities/identityAccounts/x/invokeAction", `{"accountId": "a", "action": "disable", "identityProvider": "activeDirectory"}`, "identities"},
		{http.MethodGet, "/v1.0/security/collaboration/analyzedEmails", "", "collaboration"},
		{http.MethodPost, "/v1.0/security/collaboration/analyzedEmails/remediate", `{}`, "collaboration"},
		{http.MethodPost, "/beta/security/securityActions", `{}`, "securityActions"},
	}
	for _, root := range []string{"https://graph.microsoft.us", "https://dod-graph.microsoft.us", "https://microsoftgraph.chinacloudapi.cn"} {
		h := newHarness(t, graphtest.Options{})
		status, _, tok := h.token(url.Values{"scope": {root + "/.default"}})
		if status != http.StatusOK {
			t.Fatalf("%s token: %d %v", root, status, tok)
		}
		h.tok = tok["access_token"].(string)
		for _, c := range calls {
			t.Run(root+" "+c.method+" "+c.path, func(t *testing.T) {
				var body any
				if c.body != "" {
					body = c.body
				}
				status, _, resp := h.do(c.method, c.path, body)
				e, _ := resp["error"].(map[string]any)
				want := "Resource not found for the segment '" + c.segment + "'."
				if status != http.StatusBadRequest || errCode(resp) != "BadRequest" || e["message"] != want {
					t.Errorf("got %d %v, want 400 BadRequest %q", status, resp, want)
				}
			})
		}
		if n := len(h.srv.Invocations()); n != 0 {
			t.Errorf("%s: got %d invocations, want none", root, n)
		}
	}
}
