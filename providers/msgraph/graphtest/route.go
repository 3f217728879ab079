package graphtest

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// maxRequestBody bounds what the fake reads of a request.
const maxRequestBody = 4 << 20

// serve is the single entry point: token endpoint, or a Graph request
// through authentication, injected faults, the throttle, the permission
// check and the operation's handler.
func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxRequestBody+1))
	if err != nil || len(body) > maxRequestBody {
		http.Error(w, "request body unreadable or too large", http.StatusRequestEntityTooLarge)
		return
	}
	clientReqID := r.Header.Get("client-request-id")
	if r.URL.Path == "/"+s.tenant+"/oauth2/v2.0/token" || strings.HasSuffix(r.URL.Path, "/oauth2/v2.0/token") {
		s.serveToken(w, r, body, clientReqID)
		return
	}
	if d := s.Faults().Latency; d > 0 {
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			// The client gave up before the fake acted: recorded, not applied.
			s.mu.Lock()
			s.record(Call{Time: s.now(), Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery,
				ClientRequestID: clientReqID, Fault: "aborted", Body: body})
			s.mu.Unlock()
			return
		}
	}

	s.mu.Lock()
	now := s.now()
	reqID := s.newGUID()
	rep, fault := s.handle(r, body, now)
	s.record(Call{
		Time: now, Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery, Status: rep.status,
		ClientRequestID: clientReqID, RequestID: reqID, Fault: fault, Body: body,
	})
	s.mu.Unlock()
	if rep.hang {
		select {
		case <-r.Context().Done():
		case <-s.done:
		}
		// Abort without an answer, as a connection that died would.
		panic(http.ErrAbortHandler)
	}
	s.write(w, rep, reqID, clientReqID, now)
}

// handle runs one Graph request; callers hold mu.
func (s *Server) handle(r *http.Request, body []byte, now time.Time) (reply, string) {
	if rep, ok := s.authenticate(r, now); !ok {
		return rep, ""
	}
	f := s.faults
	rate5xx := f.Rate5xx
	if r.Method == http.MethodGet {
		rate5xx += f.Rate5xxGET
	}
	if rate5xx > 0 && s.rng.Float64() < rate5xx {
		if s.rng.IntN(2) == 0 {
			return graphError(http.StatusInternalServerError, "generalException", "An unspecified error has occurred."), "5xx"
		}
		return graphError(http.StatusServiceUnavailable, "serviceNotAvailable", "The service is temporarily unavailable."), "5xx"
	}
	if f.Rate429 > 0 && s.rng.Float64() < f.Rate429 {
		rep := graphError(http.StatusTooManyRequests, "TooManyRequests", "Please retry again later.")
		if f.RetryAfter > 0 {
			rep.header = http.Header{"Retry-After": {retryAfter(f.RetryAfter)}}
		}
		return rep, "429"
	}
	if f.ThrottlePerSecond > 0 {
		if wait, limited := s.throttle.admit(now, f.ThrottlePerSecond, f.Window); limited {
			rep := graphError(http.StatusTooManyRequests, "TooManyRequests", "Please retry again later.")
			if !f.ThrottleNoRetryAfter {
				rep.header = http.Header{"Retry-After": {retryAfter(wait)}}
			}
			return rep, "throttle"
		}
	}
	return s.route(r, body, now), ""
}

// acted turns the documented answer of an operation that took effect into
// the faulty one the switches ask for; callers hold mu.
func (s *Server) acted(rep reply) reply {
	switch f := s.faults; {
	case f.HangAfterAction:
		return reply{status: rep.status, hang: true}
	case f.StatusAfterAction != 0:
		code := "generalException"
		switch f.StatusAfterAction {
		case http.StatusServiceUnavailable:
			code = "serviceNotAvailable"
		case http.StatusBadGateway, http.StatusGatewayTimeout:
			code = "UnknownError"
		}
		return graphError(f.StatusAfterAction, code, strings.ToLower(http.StatusText(f.StatusAfterAction)))
	}
	return rep
}

// retryAfter formats seconds with millisecond fractions, rounded up, as
// Graph's "Retry-After: 2.128".
func retryAfter(d time.Duration) string {
	ms := math.Ceil(float64(d) / float64(time.Millisecond))
	return fmt.Sprintf("%.3f", max(ms, 1)/1000)
}

// authenticate checks the bearer token; callers hold mu.
func (s *Server) authenticate(r *http.Request, now time.Time) (reply, bool) {
	h := r.Header.Get("Authorization")
	tok, ok := strings.CutPrefix(h, "Bearer ")
	if !ok || tok == "" {
		return graphError(http.StatusUnauthorized, "InvalidAuthenticationToken", "Access token is empty."), false
	}
	exp, known := s.tokens[tok]
	switch {
	case !known:
		return graphError(http.StatusUnauthorized, "InvalidAuthenticationToken", "Access token validation failure. Invalid audience."), false
	case !now.Before(exp):
		return graphError(http.StatusUnauthorized, "InvalidAuthenticationToken", "Lifetime validation failed, the token is expired."), false
	}
	if aud := s.audience[tok]; aud != "" && aud != globalRoot {
		return nationalCloud(r.URL.Path), false
	}
	return reply{}, true
}

// globalRoot is the Graph resource of the global service.
const globalRoot = "https://graph.microsoft.com"

// nationalCloud is the answer to a token issued for a national cloud's
// Graph. Every operation the fake serves is documented for the global
// service only: identityAccounts and analyzedEmails on their v1.0 pages
// (reference/providers.md §2.2), invokeAction's beta page (seed 002) marks
// China ❌, remediate's (seed 003) lists the clouds without marking any, and
// securityActions' (seed 004) lists none. Where a deployment lacks an API
// its metadata has no such segment, and Graph answers as for any unknown
// segment: 400 with a message that does not mention the cloud, which is
// the least convenient plausible answer.
func nationalCloud(path string) reply {
	seg := strings.Split(strings.Trim(path, "/"), "/")
	name := seg[len(seg)-1]
	if len(seg) >= 3 {
		name = seg[2]
	}
	return graphError(http.StatusBadRequest, "BadRequest", fmt.Sprintf("Resource not found for the segment '%s'.", name))
}

// route dispatches on the path; callers hold mu.
func (s *Server) route(r *http.Request, body []byte, now time.Time) reply {
	seg := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	if len(seg) < 3 || (seg[0] != "v1.0" && seg[0] != "beta") || seg[1] != "security" {
		return graphError(http.StatusBadRequest, "BadRequest", "Invalid version or resource: "+r.URL.Path)
	}
	beta := seg[0] == "beta"
	noSegment := func(s string) reply {
		return graphError(http.StatusBadRequest, "BadRequest", fmt.Sprintf("Resource not found for the segment '%s'.", s))
	}
	var (
		perm string
		op   func() reply
	)
	method := ""
	switch {
	case seg[2] == "identities" && len(seg) >= 4 && seg[3] == "identityAccounts":
		switch len(seg) {
		case 4:
			method, perm, op = http.MethodGet, PermissionAccountsRead, func() reply { return s.listAccounts(r, now) }
		case 5:
			method, perm, op = http.MethodGet, PermissionAccountsRead, func() reply { return getEntity(s, r, setAccounts, s.users, seg[4], now, "identity account") }
		case 6:
			if seg[5] != "invokeAction" && seg[5] != "microsoft.graph.security.invokeAction" {
				return noSegment(seg[5])
			}
			method, perm, op = http.MethodPost, PermissionActions, func() reply { return s.invokeAction(r, seg[4], body, now) }
		default:
			return noSegment(seg[len(seg)-1])
		}
	case seg[2] == "collaboration" && len(seg) >= 4 && seg[3] == "analyzedEmails":
		switch {
		case len(seg) == 4:
			method, perm, op = http.MethodGet, PermissionMailRead, func() reply { return s.listEmails(r, now) }
		case len(seg) == 5 && (seg[4] == "remediate" || seg[4] == "microsoft.graph.security.remediate"):
			method, perm, op = http.MethodPost, PermissionMailReadWrite, func() reply { return s.remediate(r, body, now) }
		case len(seg) == 5:
			method, perm, op = http.MethodGet, PermissionMailRead, func() reply { return getEntity(s, r, setEmails, s.emails, seg[4], now, "analyzed email") }
		default:
			return noSegment(seg[len(seg)-1])
		}
	case seg[2] == "securityActions":
		if !beta {
			return noSegment("securityActions") // the legacy API exists only in beta
		}
		switch len(seg) {
		case 3:
			if r.Method == http.MethodPost {
				method, perm, op = http.MethodPost, PermissionSecActions, func() reply { return s.createSecurityAction(r, body, now) }
			} else {
				method, perm, op = http.MethodGet, PermissionSecActionRead, func() reply { return s.listSecurityActions(r, now) }
			}
		case 4:
			method, perm, op = http.MethodGet, PermissionSecActionRead, func() reply { return getEntity(s, r, setSecurityActions, s.actions, seg[3], now, "security action") }
		case 5:
			if seg[4] != "cancelSecurityAction" && seg[4] != "microsoft.graph.cancelSecurityAction" {
				return noSegment(seg[4])
			}
			method, perm, op = http.MethodPost, PermissionSecActions, func() reply { return s.cancelSecurityAction(seg[3], body, now) }
		default:
			return noSegment(seg[len(seg)-1])
		}
	default:
		return noSegment(seg[2])
	}
	if r.Method != method {
		return graphError(http.StatusMethodNotAllowed, "BadRequest", "The request method '"+r.Method+"' is not allowed for this resource.")
	}
	if containsFold(s.faults.DenyPermissions, perm) {
		return graphError(http.StatusForbidden, "Authorization_RequestDenied", "Insufficient privileges to complete the operation.")
	}
	if method == http.MethodPost && len(body) > 0 {
		mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
		if err != nil || mt != "application/json" {
			return graphError(http.StatusUnsupportedMediaType, "BadRequest", "Content-Type must be application/json.")
		}
	}
	return op()
}

// allowQuery rejects query options other than allowed, as Graph does for
// unknown system query options; it is also strict about custom ones so a
// misspelt startTime or the beta page's "filter" typo is caught.
func allowQuery(q url.Values, allowed ...string) (reply, bool) {
	for k := range q {
		ok := false
		for _, a := range allowed {
			if k == a {
				ok = true
			}
		}
		if !ok {
			return badRequest(fmt.Sprintf("Query option '%s' is not allowed.", k)), false
		}
	}
	return reply{}, true
}

// tokenResponse is the documented success body of the token endpoint.
type tokenResponse struct {
	TokenType    string `json:"token_type"`
	ExpiresIn    int    `json:"expires_in"`
	ExtExpiresIn int    `json:"ext_expires_in"`
	AccessToken  string `json:"access_token"`
}

// graphRoots are the resources of the national clouds (§2.2); the scope
// must be one of them plus /.default.
var graphRoots = []string{
	"https://graph.microsoft.com", "https://graph.microsoft.us",
	"https://dod-graph.microsoft.us", "https://microsoftgraph.chinacloudapi.cn",
}

// serveToken is the client-credentials token endpoint of §2.1.
func (s *Server) serveToken(w http.ResponseWriter, r *http.Request, body []byte, clientReqID string) {
	s.mu.Lock()
	now := s.now()
	reqID := s.newGUID()
	status, resp := s.token(r, body, now)
	s.record(Call{Time: now, Method: r.Method, Path: r.URL.Path, Status: status,
		ClientRequestID: clientReqID, RequestID: reqID})
	s.mu.Unlock()
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store, no-cache")
	w.Header().Set("x-ms-request-id", reqID)
	if clientReqID != "" {
		w.Header().Set("client-request-id", clientReqID)
	}
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(resp)
}

// token decides a token request; callers hold mu.
func (s *Server) token(r *http.Request, body []byte, now time.Time) (int, any) {
	oauthErr := func(status int, code, desc string) (int, any) {
		return status, map[string]any{"error": code, "error_description": desc, "error_codes": []int{}, "timestamp": now.UTC().Format("2006-01-02 15:04:05Z")}
	}
	if r.Method != http.MethodPost {
		return oauthErr(http.StatusMethodNotAllowed, "invalid_request", "AADSTS900561: The endpoint only accepts POST requests.")
	}
	if r.URL.Path != "/"+s.tenant+"/oauth2/v2.0/token" {
		return oauthErr(http.StatusBadRequest, "invalid_request", "AADSTS90002: Tenant not found.")
	}
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/x-www-form-urlencoded" {
		return oauthErr(http.StatusBadRequest, "invalid_request", "AADSTS900144: The request body must contain the following parameter: 'grant_type'.")
	}
	form, err := url.ParseQuery(string(body))
	if err != nil {
		return oauthErr(http.StatusBadRequest, "invalid_request", "AADSTS90014: malformed request body.")
	}
	if form.Get("grant_type") != "client_credentials" {
		return oauthErr(http.StatusBadRequest, "unsupported_grant_type", "AADSTS70003: The app requested an unsupported grant type.")
	}
	if form.Get("client_id") != s.clientID {
		return oauthErr(http.StatusBadRequest, "unauthorized_client", "AADSTS700016: Application was not found in the directory.")
	}
	if form.Get("client_secret") != s.secret {
		return oauthErr(http.StatusUnauthorized, "invalid_client", "AADSTS7000215: Invalid client secret provided.")
	}
	scope := form.Get("scope")
	root, ok := strings.CutSuffix(scope, "/.default")
	if !ok || !containsFold(graphRoots, root) {
		return oauthErr(http.StatusBadRequest, "invalid_scope", "AADSTS1002012: The provided value for scope is not valid.")
	}
	tok := "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9." + strings.ReplaceAll(s.newGUID()+s.newGUID(), "-", "")
	s.tokens[tok] = now.Add(s.tokenLifetime)
	s.audience[tok] = strings.ToLower(root)
	s.issued = append(s.issued, tok)
	secs := int(s.tokenLifetime / time.Second)
	return http.StatusOK, tokenResponse{TokenType: "Bearer", ExpiresIn: secs, ExtExpiresIn: secs, AccessToken: tok}
}

// throttleState counts admitted requests for Faults.ThrottlePerSecond.
type throttleState struct {
	admitted []time.Time // sliding: admissions in the last second, oldest first
	second   time.Time   // fixed: the current calendar second
	count    int         // fixed: admissions in it
}

// admit records an admission at now, or says how long until one is
// possible.
func (t *throttleState) admit(now time.Time, n int, w ThrottleWindow) (time.Duration, bool) {
	if w == Fixed {
		sec := now.Truncate(time.Second)
		if !sec.Equal(t.second) {
			t.second, t.count = sec, 0
		}
		if t.count >= n {
			return sec.Add(time.Second).Sub(now), true
		}
		t.count++
		return 0, false
	}
	cut := 0
	for cut < len(t.admitted) && !t.admitted[cut].After(now.Add(-time.Second)) {
		cut++
	}
	t.admitted = t.admitted[cut:]
	if len(t.admitted) >= n {
		return t.admitted[len(t.admitted)-n].Add(time.Second).Sub(now), true
	}
	t.admitted = append(t.admitted, now)
	return 0, false
}

// encodeQuery encodes q for a nextLink the way Graph writes them: system
// query option names keep their "$", spaces become %20.
func encodeQuery(q url.Values, order ...string) string {
	var b strings.Builder
	add := func(k string, vs []string) {
		for _, v := range vs {
			if b.Len() > 0 {
				b.WriteByte('&')
			}
			b.WriteString(strings.ReplaceAll(url.QueryEscape(k), "%24", "$"))
			b.WriteByte('=')
			b.WriteString(strings.ReplaceAll(url.QueryEscape(v), "+", "%20"))
		}
	}
	done := map[string]bool{}
	for _, k := range order {
		if vs, ok := q[k]; ok {
			add(k, vs)
			done[k] = true
		}
	}
	for k, vs := range q {
		if !done[k] {
			add(k, vs)
		}
	}
	return b.String()
}
