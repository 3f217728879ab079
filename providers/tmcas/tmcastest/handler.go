package tmcastest

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
)

const (
	maxBody     = 1 << 20
	maxResults  = 500  // limit of the results API
	maxSweep    = 1000 // limit of the sweep API
	sweepLimit  = 20   // the sweep's default limit
	retention   = 90 * 24 * time.Hour
	resultsBack = 72 * time.Hour // how far back start may reach
	timeLayout  = "2006-01-02T15:04:05.000Z"
)

// errorCode is the result code of an error body. TMCAS publishes no table
// (§7), so clients must not depend on these values; -4290001 is what an
// unofficial client expects for throttling.
func errorCode(status int) int { return -(status*10000 + 1) }

// reply is an answer decided under the lock and written after it.
type reply struct {
	status     int
	body       any
	retryAfter string
	allow      string
	latency    time.Duration
	hang       bool
}

type errorBody struct {
	Code    int    `json:"code"`
	TraceID string `json:"traceId"`
	Msg     string `json:"msg"`
}

func errReply(status int, format string, args ...any) reply {
	return reply{status: status, body: errorBody{Code: errorCode(status), TraceID: uuid.NewString(), Msg: fmt.Sprintf(format, args...)}}
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	body, readErr := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	rep := s.handle(r, body, readErr)
	s.Notify() // the call is recorded, even if its answer is delayed
	if rep.hang {
		s.hang(r.Context())
		// Abort without an answer, as a connection that died would.
		panic(http.ErrAbortHandler)
	}
	s.wait(r.Context(), rep.latency)
	w.Header().Set("Content-Type", "application/json")
	if rep.retryAfter != "" {
		w.Header().Set("Retry-After", rep.retryAfter)
	}
	if rep.allow != "" {
		w.Header().Set("Allow", rep.allow)
	}
	b, err := json.Marshal(rep.body)
	if err != nil {
		panic(fmt.Sprintf("tmcastest: encoding answer: %v", err))
	}
	w.WriteHeader(rep.status)
	_, _ = w.Write(b)
}

// handle decides the answer and records the call.
func (s *Server) handle(r *http.Request, body []byte, readErr error) reply {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.opts.Now()
	token := bearer(r.Header.Get("Authorization"))
	rep := s.route(r, body, readErr, token, now)
	rep.latency = s.faults.Latency
	s.calls = append(s.calls, Call{Method: r.Method, Path: r.URL.Path, Query: r.URL.Query(), Body: body,
		Token: token, Status: rep.status, Time: now})
	return rep
}

func bearer(h string) string {
	scheme, tok, ok := strings.Cut(strings.TrimSpace(h), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return ""
	}
	return strings.TrimSpace(tok)
}

func (s *Server) validToken(tok string) bool {
	return tok != "" && (tok == s.opts.Token || slices.Contains(s.opts.ExtraTokens, tok))
}

func (s *Server) route(r *http.Request, body []byte, readErr error, token string, now time.Time) reply {
	if !s.validToken(token) {
		return errReply(http.StatusUnauthorized, "No authorization information or incorrect authorization information")
	}
	if rep, throttled := s.throttle(token, now); throttled {
		return rep
	}
	for _, p := range s.faults.Forbidden {
		if strings.HasPrefix(r.URL.Path, p) {
			return errReply(http.StatusForbidden, "No permission to access the API")
		}
	}
	switch x := s.rng.Float64(); {
	case x < s.faults.Rate429:
		rep := errReply(http.StatusTooManyRequests, "The user has made too many requests and has been throttled.")
		if s.faults.RetryAfter {
			d := s.faults.InjectedRetryAfter
			if d <= 0 {
				d = time.Second
			}
			rep.retryAfter = strconv.FormatFloat(d.Seconds(), 'f', -1, 64)
		}
		return rep
	case x < s.faults.Rate429+s.faults.Rate5xx,
		r.Method == http.MethodGet && x < s.faults.Rate429+s.faults.Rate5xx+s.faults.Rate5xxGET:
		if s.rng.IntN(2) == 0 {
			return errReply(http.StatusInternalServerError, "Unexpected server error")
		}
		return errReply(http.StatusServiceUnavailable, "The service is overloaded or under maintenance")
	}
	if readErr != nil {
		return errReply(http.StatusBadRequest, "request body exceeds %d bytes", maxBody)
	}
	switch r.URL.Path {
	case "/v1/mitigation/accounts", "/v1/mitigation/mails":
		kind := strings.TrimPrefix(r.URL.Path, "/v1/mitigation/")
		switch r.Method {
		case http.MethodPost:
			return s.create(kind, r, body, now)
		case http.MethodGet:
			return s.results(kind, r, now)
		}
		rep := errReply(http.StatusMethodNotAllowed, "method %s is not supported", r.Method)
		rep.allow = "GET, POST"
		return rep
	case "/v1/sweeping/mails":
		if r.Method == http.MethodGet {
			return s.sweep(r, now)
		}
		rep := errReply(http.StatusMethodNotAllowed, "method %s is not supported", r.Method)
		rep.allow = "GET"
		return rep
	}
	return errReply(http.StatusNotFound, "The requested API was not found")
}

// throttle counts a request of token in its window: the window starts at
// the first request after the previous one ended, and the request after the
// Limit-th within it is refused.
func (s *Server) throttle(token string, now time.Time) (reply, bool) {
	if s.opts.Limit < 0 {
		return reply{}, false
	}
	w := s.windows[token]
	if w == nil {
		w = &window{}
		s.windows[token] = w
	}
	if w.start.IsZero() || now.Sub(w.start) >= s.opts.Window {
		w.start, w.n = now, 0
	}
	w.n++
	if w.n <= s.opts.Limit {
		return reply{}, false
	}
	rep := errReply(http.StatusTooManyRequests,
		"The user has made more than %d requests over the past 1 minute and has been throttled. The user can start new requests in the next minute from the first request.", s.opts.Limit)
	if s.faults.RetryAfter {
		left := w.start.Add(s.opts.Window).Sub(now)
		rep.retryAfter = strconv.Itoa(int(math.Ceil(left.Seconds())))
	}
	return rep, true
}

// item is one validated element of a POST body.
type item struct {
	ActionType, Service, Provider string
	Email                         string // accounts
	Mailbox, MessageID, UniqueID  string // mails
	Delivery, Detection           string
}

// Field sets of §1.5 and §1.6.
func accountFields() []string {
	return []string{"action_type", "service", "account_provider", "account_user_email"}
}

func mailRequired() []string {
	return []string{"action_type", "service", "account_provider", "mailbox", "mail_message_delivery_time"}
}

func mailOptional() []string { return []string{"mail_message_id", "mail_unique_id", "detection_time"} }

func (s *Server) create(kind string, r *http.Request, body []byte, now time.Time) reply {
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		return errReply(http.StatusBadRequest, "Content-Type must be application/json")
	}
	if r.URL.RawQuery != "" {
		return errReply(http.StatusBadRequest, "unexpected query parameters")
	}
	items, err := parseItems(kind, body)
	if err != nil {
		return errReply(http.StatusBadRequest, "%v", err)
	}
	if m := s.faults.MaxRows; m > 0 && len(items) > m {
		return errReply(http.StatusBadRequest, "at most %d items per request, got %d", m, len(items))
	}
	if kind == "accounts" && s.faults.UnknownUsers == UnknownReject {
		for i, it := range items {
			if _, ok := s.accounts[strings.ToLower(it.Email)]; !ok {
				return errReply(http.StatusBadRequest, "item %d: account_user_email %q is not a protected account", i, it.Email)
			}
		}
	}
	b := &batch{id: uuid.NewString(), kind: kind}
	requested := now.Truncate(time.Millisecond) // TMCAS's times have millisecond precision
	for _, it := range items {
		b.actions = append(b.actions, &actionRec{id: uuid.NewString(), batch: b.id, it: it, requested: requested, status: statusCreated})
	}
	s.batches[b.id] = b
	s.order = append(s.order, b)
	if st := s.faults.StatusAfterCreate; st != 0 {
		return errReply(st, "%s", strings.ToLower(http.StatusText(st)))
	}
	var msg any = ""
	if s.faults.MsgNull {
		msg = nil
	}
	if s.faults.CreatedCode != 0 {
		msg = s.faults.CreatedMsg
	}
	answer := map[string]any{"code": s.faults.CreatedCode, "msg": msg, "batch_id": b.id, "traceId": uuid.NewString()}
	if s.faults.OmitBatchID {
		delete(answer, "batch_id")
	}
	return reply{status: http.StatusCreated, hang: s.faults.HangAfterCreate, body: answer}
}

// parseItems checks a POST body strictly: a non-empty JSON array of objects
// with exactly the documented fields, all strings, with valid values.
func parseItems(kind string, body []byte) ([]item, error) {
	if t := bytes.TrimSpace(body); len(t) == 0 || t[0] != '[' {
		return nil, errors.New("request body must be a JSON array")
	}
	var raw []json.RawMessage
	if err := json.Unmarshal(body, &raw); err != nil {
		return nil, fmt.Errorf("malformed JSON: %v", err)
	}
	if len(raw) == 0 {
		return nil, errors.New("request body must contain at least one item")
	}
	items := make([]item, 0, len(raw))
	for i, r := range raw {
		if t := bytes.TrimSpace(r); len(t) == 0 || t[0] != '{' {
			return nil, fmt.Errorf("item %d: must be an object", i)
		}
		var m map[string]json.RawMessage
		if err := json.Unmarshal(r, &m); err != nil {
			return nil, fmt.Errorf("item %d: %v", i, err)
		}
		f := map[string]string{}
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			allowed := slices.Contains(accountFields(), k)
			if kind == "mails" {
				allowed = slices.Contains(mailRequired(), k) || slices.Contains(mailOptional(), k)
			}
			if !allowed {
				return nil, fmt.Errorf("item %d: unknown field %q", i, k)
			}
			v := bytes.TrimSpace(m[k])
			var str string
			if len(v) == 0 || v[0] != '"' || json.Unmarshal(v, &str) != nil {
				return nil, fmt.Errorf("item %d: field %q must be a string", i, k)
			}
			f[k] = str
		}
		var it item
		var err error
		if kind == "accounts" {
			it, err = accountItem(f)
		} else {
			it, err = mailItem(f)
		}
		if err != nil {
			return nil, fmt.Errorf("item %d: %v", i, err)
		}
		items = append(items, it)
	}
	return items, nil
}

func require(f map[string]string, names []string) error {
	for _, n := range names {
		if _, ok := f[n]; !ok {
			return fmt.Errorf("missing required field %q", n)
		}
	}
	return nil
}

func accountItem(f map[string]string) (item, error) {
	if err := require(f, accountFields()); err != nil {
		return item{}, err
	}
	it := item{ActionType: f["action_type"], Service: f["service"], Provider: f["account_provider"], Email: f["account_user_email"]}
	switch it.ActionType {
	case "ACCOUNT_DISABLE", "ACCOUNT_ENABLE_MFA", "ACCOUNT_RESET_PASSWORD", "ACCOUNT_REVOKE_SIGNIN_SESSIONS":
	default:
		return item{}, fmt.Errorf("invalid action_type %q", it.ActionType)
	}
	if it.Service != "exchange" {
		return item{}, fmt.Errorf("invalid service %q", it.Service)
	}
	if it.Provider != "office365" {
		return item{}, fmt.Errorf("invalid account_provider %q", it.Provider)
	}
	if !plausibleAddress(it.Email) {
		return item{}, fmt.Errorf("invalid account_user_email %q", it.Email)
	}
	return it, nil
}

func mailItem(f map[string]string) (item, error) {
	if err := require(f, mailRequired()); err != nil {
		return item{}, err
	}
	it := item{ActionType: f["action_type"], Service: f["service"], Provider: f["account_provider"], Mailbox: f["mailbox"],
		MessageID: f["mail_message_id"], UniqueID: f["mail_unique_id"], Delivery: f["mail_message_delivery_time"], Detection: f["detection_time"]}
	switch it.ActionType {
	case "MAIL_DELETE", "MAIL_QUARANTINE", "MAIL_RESTORE":
	default:
		return item{}, fmt.Errorf("invalid action_type %q", it.ActionType)
	}
	switch {
	case it.Service == "exchange" && it.Provider == "office365":
	case it.Service == "gmail" && it.Provider == "google":
		if it.ActionType != "MAIL_DELETE" {
			return item{}, fmt.Errorf("action_type %s is not available for gmail", it.ActionType)
		}
	default:
		return item{}, fmt.Errorf("invalid service/account_provider %q/%q", it.Service, it.Provider)
	}
	if !plausibleAddress(it.Mailbox) {
		return item{}, fmt.Errorf("invalid mailbox %q", it.Mailbox)
	}
	_, hasMID := f["mail_message_id"]
	_, hasUID := f["mail_unique_id"]
	if !hasMID && !hasUID {
		return item{}, errors.New("provide at least one of mail_message_id and mail_unique_id")
	}
	if hasMID && !messageIDShape(it.MessageID) {
		return item{}, fmt.Errorf("invalid mail_message_id %q", it.MessageID)
	}
	if hasUID && it.UniqueID == "" {
		return item{}, errors.New("mail_unique_id is empty")
	}
	if _, err := time.Parse(time.RFC3339Nano, it.Delivery); err != nil {
		return item{}, fmt.Errorf("invalid mail_message_delivery_time %q", it.Delivery)
	}
	_, hasDetection := f["detection_time"]
	switch {
	case it.ActionType == "MAIL_RESTORE" && !hasDetection:
		return item{}, errors.New("MAIL_RESTORE needs detection_time")
	case it.ActionType != "MAIL_RESTORE" && hasDetection:
		return item{}, errors.New("detection_time is only for MAIL_RESTORE")
	case hasDetection:
		if _, err := time.Parse(time.RFC3339Nano, it.Detection); err != nil {
			return item{}, fmt.Errorf("invalid detection_time %q", it.Detection)
		}
	}
	return it, nil
}

func plausibleAddress(s string) bool {
	at := strings.IndexByte(s, '@')
	return at > 0 && at < len(s)-1 && strings.Count(s, "@") == 1 && len(s) <= 254 &&
		!strings.ContainsFunc(s, func(r rune) bool { return r <= ' ' || r == '<' || r == '>' })
}

func messageIDShape(s string) bool {
	return len(s) >= 5 && s[0] == '<' && s[len(s)-1] == '>' && strings.Contains(s, "@") &&
		!strings.ContainsFunc(s[1:len(s)-1], func(r rune) bool { return r <= ' ' || r == '<' || r == '>' })
}

// query checks a GET's parameters: only known names, each once.
func query(r *http.Request, known ...string) (url.Values, error) {
	q := r.URL.Query()
	keys := make([]string, 0, len(q))
	for k := range q {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		if !slices.Contains(known, k) {
			return nil, fmt.Errorf("unknown parameter %q", k)
		}
		if len(q[k]) != 1 {
			return nil, fmt.Errorf("parameter %q given more than once", k)
		}
	}
	return q, nil
}

func intParam(q url.Values, name string, def, lo, hi int) (int, error) {
	v := q.Get(name)
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		return 0, fmt.Errorf("parameter %q must be an integer from %d to %d", name, lo, hi)
	}
	return n, nil
}

// skipToken encodes a page offset; clients treat it as opaque.
func skipToken(offset int) string {
	return base64.RawURLEncoding.EncodeToString([]byte("o:" + strconv.Itoa(offset)))
}

func parseSkipToken(tok string, total int) (int, error) {
	if tok == "" {
		return 0, nil
	}
	b, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil || !bytes.HasPrefix(b, []byte("o:")) {
		return 0, errors.New("invalid skiptoken")
	}
	n, err := strconv.Atoi(string(b[2:]))
	if err != nil || n < 0 || n > total {
		return 0, errors.New("invalid skiptoken")
	}
	return n, nil
}

// page picks the page of total results the request's skiptoken points at,
// at most limit (and pageSize, when set) long, and builds the links.
func (s *Server) page(r *http.Request, q url.Values, total, limit, pageSize int) (lo, hi int, current string, next any, err error) {
	offset, err := parseSkipToken(q.Get("skiptoken"), total)
	if err != nil {
		return 0, 0, "", nil, err
	}
	size := limit
	if pageSize > 0 {
		size = min(size, pageSize)
	}
	base := s.faults.LinkBase
	if base == "" {
		base = s.srv.URL
	}
	base = strings.TrimRight(base, "/") + r.URL.Path + "?"
	current = base + r.URL.RawQuery
	lo, hi = offset, min(offset+size, total)
	if hi < total {
		nq := cloneValues(q)
		nq.Set("skiptoken", skipToken(hi))
		return lo, hi, current, base + nq.Encode(), nil
	}
	switch s.faults.EndOfPages {
	case EndNull:
		return lo, hi, current, nil, nil
	case EndEmpty:
		return lo, hi, current, "", nil
	}
	return lo, hi, current, "null", nil
}

// timeRange parses the start and end parameters.
func timeRange(q url.Values) (start, end time.Time, err error) {
	for _, p := range []struct {
		name string
		t    *time.Time
	}{{"start", &start}, {"end", &end}} {
		if *p.t, err = time.Parse(time.RFC3339Nano, q.Get(p.name)); err != nil {
			return start, end, fmt.Errorf("parameter %q must be an ISO-8601 UTC time", p.name)
		}
	}
	if end.Before(start) {
		return start, end, errors.New("start must not be after end")
	}
	return start, end, nil
}

// results answers GET /v1/mitigation/{accounts|mails}. A request by
// batch_id without a skiptoken is a poll and moves the batch along.
func (s *Server) results(kind string, r *http.Request, now time.Time) reply {
	q, err := query(r, "batch_id", "start", "end", "limit", "skiptoken")
	if err != nil {
		return errReply(http.StatusBadRequest, "%v", err)
	}
	limit, err := intParam(q, "limit", maxResults, 1, maxResults)
	if err != nil {
		return errReply(http.StatusBadRequest, "%v", err)
	}
	var acts []*actionRec
	switch id := q.Get("batch_id"); {
	case id != "":
		if b := s.batches[id]; b != nil && b.kind == kind {
			if q.Get("skiptoken") == "" {
				s.advance(b, now)
			}
			if b.polls > s.faults.HiddenPolls {
				acts = b.actions
			}
		}
	case q.Has("start") && q.Has("end"):
		start, end, err := timeRange(q)
		if err != nil {
			return errReply(http.StatusBadRequest, "%v", err)
		}
		if start.Before(now.Add(-resultsBack)) {
			return errReply(http.StatusBadRequest, "start must be within 72 hours")
		}
		// The documents do not say an end in the future is accepted:
		// refused, the least convenient plausible answer.
		if end.After(now) {
			return errReply(http.StatusBadRequest, "end must not be in the future")
		}
		// A query by time is a look at every batch in the window like a
		// poll by batch_id: it moves the batch along, and a batch stays
		// unlisted for its first HiddenPolls looks either way (§7: whether
		// results list every action from the start is not documented).
		for _, ob := range s.order {
			if ob.kind != kind || len(ob.actions) == 0 {
				continue
			}
			if at := ob.actions[0].requested; at.Before(start) || at.After(end) {
				continue
			}
			if q.Get("skiptoken") == "" {
				s.advance(ob, now)
			}
			if ob.polls > s.faults.HiddenPolls {
				acts = append(acts, ob.actions...)
			}
		}
	default:
		return errReply(http.StatusBadRequest, "batch_id or start and end are required")
	}
	lo, hi, current, next, err := s.page(r, q, len(acts), limit, s.faults.ResultPageSize)
	if err != nil {
		return errReply(http.StatusBadRequest, "%v", err)
	}
	out := make([]actionJSON, 0, hi-lo)
	for _, a := range acts[lo:hi] {
		out = append(out, a.json(kind))
	}
	return reply{status: http.StatusOK, body: map[string]any{
		"code": 0, "msg": "", "traceId": uuid.NewString(), "count": len(out),
		"current_link": current, "next_link": next, "actions": out,
	}}
}

// sweep answers GET /v1/sweeping/mails.
func (s *Server) sweep(r *http.Request, now time.Time) reply {
	q, err := query(r, "mailbox", "lastndays", "start", "end", "subject", "file_sha1", "file_name", "file_extension",
		"url", "sender", "recipient", "message_id", "source_ip", "source_domain", "limit", "skiptoken")
	if err != nil {
		return errReply(http.StatusBadRequest, "%v", err)
	}
	for _, k := range []string{"file_sha1", "file_name", "file_extension", "url", "source_ip", "source_domain"} {
		if q.Has(k) {
			return errReply(http.StatusBadRequest, "tmcastest does not model parameter %q", k)
		}
	}
	limit, err := intParam(q, "limit", sweepLimit, 1, maxSweep)
	if err != nil {
		return errReply(http.StatusBadRequest, "%v", err)
	}
	days, err := intParam(q, "lastndays", 0, 1, 90)
	if err != nil {
		return errReply(http.StatusBadRequest, "%v", err)
	}
	from := now.Add(-retention)
	to := now
	if days > 0 {
		from = later(from, now.Add(-time.Duration(days)*24*time.Hour))
	}
	if q.Has("start") != q.Has("end") {
		return errReply(http.StatusBadRequest, "start and end go together")
	}
	if q.Has("start") {
		start, end, err := timeRange(q)
		if err != nil {
			return errReply(http.StatusBadRequest, "%v", err)
		}
		from, to = later(from, start), earlier(to, end)
	}
	var found []*MailState
	for _, m := range s.mails {
		switch {
		case m.Folder == FolderDeleted, m.Delivered.Before(from), m.Delivered.After(to),
			q.Has("message_id") && m.MessageID != q.Get("message_id"),
			q.Has("mailbox") && !strings.EqualFold(m.Mailbox, q.Get("mailbox")),
			q.Has("recipient") && !strings.EqualFold(m.Mailbox, q.Get("recipient")),
			q.Has("sender") && !strings.EqualFold(m.Sender, q.Get("sender")),
			q.Has("subject") && !strings.Contains(strings.ToLower(m.Subject), strings.ToLower(q.Get("subject"))):
			continue
		}
		found = append(found, m)
	}
	lo, hi, current, next, err := s.page(r, q, len(found), limit, s.faults.SweepPageSize)
	if err != nil {
		return errReply(http.StatusBadRequest, "%v", err)
	}
	value := make([]sweepJSON, 0, hi-lo)
	for _, m := range found[lo:hi] {
		value = append(value, sweepItem(m))
	}
	return reply{status: http.StatusOK, body: map[string]any{
		"traceId": uuid.NewString(), "current_link": current, "next_link": next, "value": value,
	}}
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

func earlier(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

// sweepJSON is one sweep result with the metadata third-party clients show.
type sweepJSON struct {
	Attachments  []any        `json:"mail_attachments"`
	Headers      []headerJSON `json:"mail_internet_headers"`
	Delivered    string       `json:"mail_message_delivery_time"`
	MessageID    string       `json:"mail_message_id"`
	Recipients   []string     `json:"mail_message_recipient"`
	Sender       string       `json:"mail_message_sender"`
	Subject      string       `json:"mail_message_subject"`
	UniqueID     string       `json:"mail_unique_id"`
	URLs         []any        `json:"mail_urls"`
	Mailbox      string       `json:"mailbox"`
	SourceDomain string       `json:"source_domain"`
	SourceIP     string       `json:"source_ip"`
}

type headerJSON struct {
	HeaderName string `json:"HeaderName"`
	Value      string `json:"Value"`
}

func sweepItem(m *MailState) sweepJSON {
	domain := ""
	if _, d, ok := strings.Cut(m.Sender, "@"); ok {
		domain = d
	}
	return sweepJSON{
		Attachments:  []any{},
		Headers:      []headerJSON{{HeaderName: "Message-ID", Value: m.MessageID}},
		Delivered:    m.Delivered.UTC().Format(timeLayout),
		MessageID:    m.MessageID,
		Recipients:   []string{m.Mailbox},
		Sender:       m.Sender,
		Subject:      m.Subject,
		UniqueID:     m.UniqueID,
		URLs:         []any{},
		Mailbox:      m.Mailbox,
		SourceDomain: domain,
		SourceIP:     "0.0.0.0",
	}
}

func uniqueID(seq int) string {
	return "AAMkAGZha2UtdG1jYXM" + base64.StdEncoding.EncodeToString([]byte(fmt.Sprintf("%08d", seq)))
}
