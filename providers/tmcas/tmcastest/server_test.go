package tmcastest_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/countersign/countersign/providers/tmcas/tmcastest"
)

// req describes one request to the fake.
type req struct {
	method, path string
	query        url.Values
	body         string
	token        string // "" means the server's token; "-" means none
	contentType  string // "" means application/json for bodies
	url          string // a full URL instead of path and query
}

type resp struct {
	status int
	header http.Header
	body   map[string]any
	raw    []byte
}

func send(t *testing.T, s *tmcastest.Server, r req) resp {
	t.Helper()
	u := r.url
	if u == "" {
		u = s.URL() + r.path
		if len(r.query) > 0 {
			u += "?" + r.query.Encode()
		}
	}
	var body io.Reader
	if r.body != "" {
		body = strings.NewReader(r.body)
	}
	method := r.method
	if method == "" {
		method = http.MethodGet
	}
	hr, err := http.NewRequestWithContext(context.Background(), method, u, body)
	if err != nil {
		t.Fatal(err)
	}
	switch r.token {
	case "":
		hr.Header.Set("Authorization", "Bearer "+s.Token())
	case "-":
	default:
		hr.Header.Set("Authorization", r.token)
	}
	switch {
	case r.contentType != "":
		hr.Header.Set("Content-Type", r.contentType)
	case r.body != "":
		hr.Header.Set("Content-Type", "application/json")
	}
	hresp, err := http.DefaultClient.Do(hr)
	if err != nil {
		t.Fatalf("%s %s: %v", method, u, err)
	}
	defer hresp.Body.Close()
	raw, _ := io.ReadAll(hresp.Body)
	out := resp{status: hresp.StatusCode, header: hresp.Header, raw: raw}
	if err := json.Unmarshal(raw, &out.body); err != nil {
		t.Fatalf("%s %s: answer is not a JSON object: %q", method, u, raw)
	}
	return out
}

// checkErrorBody asserts the documented error body {"code","traceId","msg"}.
func checkErrorBody(t *testing.T, r resp, status int, msgPart string) {
	t.Helper()
	if r.status != status {
		t.Fatalf("status: got %d, want %d (%s)", r.status, status, r.raw)
	}
	keys := make([]string, 0, len(r.body))
	for k := range r.body {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	if diff := cmp.Diff([]string{"code", "msg", "traceId"}, keys); diff != "" {
		t.Errorf("error body keys (-want +got):\n%s", diff)
	}
	if code, _ := r.body["code"].(float64); code == 0 {
		t.Errorf("error body code is 0: %s", r.raw)
	}
	if id, _ := r.body["traceId"].(string); id == "" {
		t.Errorf("error body has no traceId: %s", r.raw)
	}
	if msg, _ := r.body["msg"].(string); !strings.Contains(msg, msgPart) {
		t.Errorf("msg %q does not contain %q", msg, msgPart)
	}
}

const (
	acctItem = `{"action_type":"ACCOUNT_DISABLE","service":"exchange","account_provider":"office365","account_user_email":"a@x.com"}`
	mailItem = `{"action_type":"MAIL_DELETE","service":"exchange","account_provider":"office365","mailbox":"a@x.com","mail_message_id":"<m@x>","mail_unique_id":"U1","mail_message_delivery_time":"2020-08-08T03:20:53.000Z"}`
)

func TestStrictPOST(t *testing.T) {
	s := tmcastest.New(tmcastest.Options{Limit: -1})
	defer s.Close()
	tests := []struct {
		name, path, body, contentType string
		status                        int
		msg                           string
	}{
		{name: "documented accounts example", path: "/v1/mitigation/accounts", status: 201,
			body: `[{"action_type": "ACCOUNT_DISABLE", "service": "exchange", "account_provider": "office365", "account_user_email": "user1@example1.com"},
 {"action_type": "ACCOUNT_ENABLE_MFA", "service": "exchange", "account_provider": "office365", "account_user_email": "user2@example2.com"}]`},
		{name: "documented mails example", path: "/v1/mitigation/mails", status: 201,
			body: `[{"action_type": "MAIL_DELETE", "service": "exchange", "account_provider": "office365", "mailbox": "user1@example.com",
  "mail_message_id": "<DB7PR07MB1234@DB7PR07MB1234.eurprd07.prod.outlook.com>",
  "mail_unique_id": "AAMkAGVmMDEzMTM4LTZmYWUtNDdkNC1hMDZiLTU1OGY5OTZhYmY4OABGAAAAAAD",
  "mail_message_delivery_time": "2020-08-08T03:20:53.000Z"}]`},
		{name: "charset parameter", path: "/v1/mitigation/accounts", body: "[" + acctItem + "]", contentType: "application/json; charset=utf-8", status: 201},
		{name: "gmail delete by unique id", path: "/v1/mitigation/mails", status: 201,
			body: `[{"action_type":"MAIL_DELETE","service":"gmail","account_provider":"google","mailbox":"a@x.com","mail_unique_id":"g1","mail_message_delivery_time":"2020-08-08T03:20:53Z"}]`},
		{name: "restore with detection time", path: "/v1/mitigation/mails", status: 201,
			body: `[{"action_type":"MAIL_RESTORE","service":"exchange","account_provider":"office365","mailbox":"a@x.com","mail_unique_id":"u","mail_message_delivery_time":"2020-08-08T03:20:53Z","detection_time":"2020-08-08T03:21:00Z"}]`},

		{name: "wrong content type", path: "/v1/mitigation/accounts", body: "[" + acctItem + "]", contentType: "text/plain", status: 400, msg: "Content-Type must be application/json"},
		{name: "object instead of array", path: "/v1/mitigation/accounts", body: acctItem, status: 400, msg: "must be a JSON array"},
		{name: "empty array", path: "/v1/mitigation/accounts", body: `[]`, status: 400, msg: "at least one item"},
		{name: "malformed JSON", path: "/v1/mitigation/accounts", body: `[{"action_type":`, status: 400, msg: "malformed JSON"},
		{name: "item not an object", path: "/v1/mitigation/accounts", body: `["a@x.com"]`, status: 400, msg: "item 0: must be an object"},
		{name: "misspelled field", path: "/v1/mitigation/accounts", body: `[{"action_type":"ACCOUNT_DISABLE","service":"exchange","acount_provider":"office365","account_user_email":"a@x.com"}]`, status: 400, msg: `unknown field "acount_provider"`},
		{name: "extra field", path: "/v1/mitigation/accounts", body: `[{"action_type":"ACCOUNT_DISABLE","service":"exchange","account_provider":"office365","account_user_email":"a@x.com","reason":"x"}]`, status: 400, msg: `unknown field "reason"`},
		{name: "missing field", path: "/v1/mitigation/accounts", body: `[{"action_type":"ACCOUNT_DISABLE","service":"exchange","account_user_email":"a@x.com"}]`, status: 400, msg: `missing required field "account_provider"`},
		{name: "null value", path: "/v1/mitigation/accounts", body: `[{"action_type":"ACCOUNT_DISABLE","service":null,"account_provider":"office365","account_user_email":"a@x.com"}]`, status: 400, msg: `field "service" must be a string`},
		{name: "number value", path: "/v1/mitigation/accounts", body: `[{"action_type":"ACCOUNT_DISABLE","service":"exchange","account_provider":"office365","account_user_email":5}]`, status: 400, msg: `"account_user_email" must be a string`},
		{name: "bad account action", path: "/v1/mitigation/accounts", body: `[{"action_type":"ACCOUNT_ENABLE","service":"exchange","account_provider":"office365","account_user_email":"a@x.com"}]`, status: 400, msg: `invalid action_type "ACCOUNT_ENABLE"`},
		{name: "lower-case enum", path: "/v1/mitigation/accounts", body: `[{"action_type":"account_disable","service":"exchange","account_provider":"office365","account_user_email":"a@x.com"}]`, status: 400, msg: "invalid action_type"},
		{name: "bad service", path: "/v1/mitigation/accounts", body: `[{"action_type":"ACCOUNT_DISABLE","service":"gmail","account_provider":"office365","account_user_email":"a@x.com"}]`, status: 400, msg: `invalid service "gmail"`},
		{name: "bad provider", path: "/v1/mitigation/accounts", body: `[{"action_type":"ACCOUNT_DISABLE","service":"exchange","account_provider":"o365","account_user_email":"a@x.com"}]`, status: 400, msg: `invalid account_provider "o365"`},
		{name: "bad address", path: "/v1/mitigation/accounts", body: `[{"action_type":"ACCOUNT_DISABLE","service":"exchange","account_provider":"office365","account_user_email":"nobody"}]`, status: 400, msg: "invalid account_user_email"},
		{name: "second item bad", path: "/v1/mitigation/accounts", body: "[" + acctItem + `,{"action_type":"ACCOUNT_DISABLE"}]`, status: 400, msg: "item 1: missing required field"},
		{name: "account action on mails", path: "/v1/mitigation/mails", body: `[{"action_type":"ACCOUNT_DISABLE","service":"exchange","account_provider":"office365","mailbox":"a@x.com","mail_unique_id":"u","mail_message_delivery_time":"2020-08-08T03:20:53Z"}]`, status: 400, msg: "invalid action_type"},
		{name: "account fields on mails", path: "/v1/mitigation/mails", body: "[" + acctItem + "]", status: 400, msg: `unknown field "account_user_email"`},
		{name: "no message ids", path: "/v1/mitigation/mails", body: `[{"action_type":"MAIL_DELETE","service":"exchange","account_provider":"office365","mailbox":"a@x.com","mail_message_delivery_time":"2020-08-08T03:20:53Z"}]`, status: 400, msg: "at least one of mail_message_id and mail_unique_id"},
		{name: "bad message id", path: "/v1/mitigation/mails", body: `[{"action_type":"MAIL_DELETE","service":"exchange","account_provider":"office365","mailbox":"a@x.com","mail_message_id":"m@x","mail_message_delivery_time":"2020-08-08T03:20:53Z"}]`, status: 400, msg: "invalid mail_message_id"},
		{name: "bad delivery time", path: "/v1/mitigation/mails", body: `[{"action_type":"MAIL_DELETE","service":"exchange","account_provider":"office365","mailbox":"a@x.com","mail_unique_id":"u","mail_message_delivery_time":"08/08/2020"}]`, status: 400, msg: "invalid mail_message_delivery_time"},
		{name: "no delivery time", path: "/v1/mitigation/mails", body: `[{"action_type":"MAIL_DELETE","service":"exchange","account_provider":"office365","mailbox":"a@x.com","mail_unique_id":"u"}]`, status: 400, msg: `missing required field "mail_message_delivery_time"`},
		{name: "gmail quarantine", path: "/v1/mitigation/mails", body: `[{"action_type":"MAIL_QUARANTINE","service":"gmail","account_provider":"google","mailbox":"a@x.com","mail_unique_id":"u","mail_message_delivery_time":"2020-08-08T03:20:53Z"}]`, status: 400, msg: "not available for gmail"},
		{name: "mixed service and provider", path: "/v1/mitigation/mails", body: `[{"action_type":"MAIL_DELETE","service":"gmail","account_provider":"office365","mailbox":"a@x.com","mail_unique_id":"u","mail_message_delivery_time":"2020-08-08T03:20:53Z"}]`, status: 400, msg: "invalid service/account_provider"},
		{name: "restore without detection time", path: "/v1/mitigation/mails", body: `[{"action_type":"MAIL_RESTORE","service":"exchange","account_provider":"office365","mailbox":"a@x.com","mail_unique_id":"u","mail_message_delivery_time":"2020-08-08T03:20:53Z"}]`, status: 400, msg: "needs detection_time"},
		{name: "detection time on delete", path: "/v1/mitigation/mails", body: `[{"action_type":"MAIL_DELETE","service":"exchange","account_provider":"office365","mailbox":"a@x.com","mail_unique_id":"u","mail_message_delivery_time":"2020-08-08T03:20:53Z","detection_time":"2020-08-08T03:21:00Z"}]`, status: 400, msg: "only for MAIL_RESTORE"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := len(s.BatchIDs())
			r := send(t, s, req{method: http.MethodPost, path: tt.path, body: tt.body, contentType: tt.contentType})
			if tt.status != http.StatusCreated {
				checkErrorBody(t, r, tt.status, tt.msg)
				if n := len(s.BatchIDs()); n != before {
					t.Errorf("a refused POST created a batch")
				}
				return
			}
			if r.status != http.StatusCreated {
				t.Fatalf("status: got %d, want 201 (%s)", r.status, r.raw)
			}
			id, _ := r.body["batch_id"].(string)
			if r.body["code"] != float64(0) || r.body["msg"] != "" || id == "" || r.body["traceId"] == "" {
				t.Errorf("201 body: %s", r.raw)
			}
			if ids := s.BatchIDs(); ids[len(ids)-1] != id {
				t.Errorf("batch %q not recorded (%v)", id, ids)
			}
		})
	}
}

func TestRoutesAndAuth(t *testing.T) {
	s := tmcastest.New(tmcastest.Options{Limit: -1, ExtraTokens: []string{"second"}, Faults: tmcastest.Faults{Forbidden: []string{"/v1/sweeping"}}})
	defer s.Close()
	tests := []struct {
		name   string
		r      req
		status int
		msg    string
	}{
		{name: "no token", r: req{path: "/v1/mitigation/accounts", query: url.Values{"batch_id": {"x"}}, token: "-"}, status: 401, msg: "authorization"},
		{name: "wrong token", r: req{path: "/v1/mitigation/accounts", query: url.Values{"batch_id": {"x"}}, token: "Bearer nope"}, status: 401, msg: "authorization"},
		{name: "basic scheme", r: req{path: "/v1/mitigation/accounts", query: url.Values{"batch_id": {"x"}}, token: "Basic " + s.Token()}, status: 401, msg: "authorization"},
		{name: "extra token", r: req{path: "/v1/mitigation/accounts", query: url.Values{"batch_id": {"x"}}, token: "Bearer second"}, status: 200},
		{name: "scheme any case", r: req{path: "/v1/mitigation/accounts", query: url.Values{"batch_id": {"x"}}, token: "bearer " + s.Token()}, status: 200},
		{name: "forbidden API", r: req{path: "/v1/sweeping/mails", query: url.Values{"message_id": {"<m@x>"}}}, status: 403, msg: "No permission"},
		{name: "unknown path", r: req{path: "/v1/siem/mails"}, status: 404, msg: "not found"},
		{name: "/api/ template path", r: req{path: "/api/v1/mitigation/accounts"}, status: 404, msg: "not found"},
		{name: "delete method", r: req{method: http.MethodDelete, path: "/v1/mitigation/accounts"}, status: 405, msg: "DELETE"},
		{name: "POST query", r: req{method: http.MethodPost, path: "/v1/mitigation/accounts", query: url.Values{"x": {"1"}}, body: "[" + acctItem + "]"}, status: 400, msg: "unexpected query"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := send(t, s, tt.r)
			if tt.status == 200 {
				if r.status != 200 {
					t.Errorf("status: got %d, want 200 (%s)", r.status, r.raw)
				}
				return
			}
			checkErrorBody(t, r, tt.status, tt.msg)
		})
	}
	calls := s.Calls()
	if got, want := calls[0].Token, ""; got != want {
		t.Errorf("recorded token of a call without one: got %q", got)
	}
	if got := calls[3].Token; got != "second" {
		t.Errorf("recorded token: got %q, want %q", got, "second")
	}
}

// clock is a fake clock tests move by hand.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }

func (c *clock) advance(d time.Duration) { c.mu.Lock(); defer c.mu.Unlock(); c.now = c.now.Add(d) }

func TestThrottleWindow(t *testing.T) {
	for _, ra := range []bool{false, true} {
		t.Run(fmt.Sprintf("Retry-After %v", ra), func(t *testing.T) {
			clk := &clock{now: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
			s := tmcastest.New(tmcastest.Options{Now: clk.Now, ExtraTokens: []string{"other"}, Faults: tmcastest.Faults{RetryAfter: ra}})
			defer s.Close()
			get := func(token string) resp {
				return send(t, s, req{path: "/v1/mitigation/accounts", query: url.Values{"batch_id": {"x"}}, token: token})
			}
			// Unauthorised requests do not count against the window.
			for i := 0; i < 5; i++ {
				if r := get("Bearer wrong"); r.status != 401 {
					t.Fatalf("wrong token: got %d", r.status)
				}
			}
			for i := 0; i < 20; i++ {
				if r := get(""); r.status != 200 {
					t.Fatalf("request %d: got %d, want 200", i+1, r.status)
				}
				clk.advance(time.Second)
			}
			// t0+20s: the 21st is throttled with the documented body.
			r := get("")
			checkErrorBody(t, r, 429, "more than 20 requests over the past 1 minute")
			if got, want := r.header.Get("Retry-After"), map[bool]string{false: "", true: "40"}[ra]; got != want {
				t.Errorf("Retry-After: got %q, want %q", got, want)
			}
			// Another token has its own window.
			if r := get("Bearer other"); r.status != 200 {
				t.Errorf("other token: got %d, want 200", r.status)
			}
			// The window runs from its first request, not the last.
			clk.advance(39 * time.Second) // t0+59s
			if r := get(""); r.status != 429 {
				t.Errorf("t0+59s: got %d, want 429", r.status)
			}
			clk.advance(time.Second) // t0+60s: a new window
			for i := 0; i < 20; i++ {
				if r := get(""); r.status != 200 {
					t.Fatalf("new window request %d: got %d, want 200", i+1, r.status)
				}
			}
			if r := get(""); r.status != 429 {
				t.Errorf("21st of the new window: got %d, want 429", r.status)
			}
		})
	}
}

func TestInjectedFaults(t *testing.T) {
	t.Run("5xx applies nothing", func(t *testing.T) {
		s := tmcastest.New(tmcastest.Options{Limit: -1, Faults: tmcastest.Faults{Rate5xx: 1}})
		defer s.Close()
		s.AddAccount("a@x.com")
		seen := map[int]bool{}
		for i := 0; i < 20; i++ {
			r := send(t, s, req{method: http.MethodPost, path: "/v1/mitigation/accounts", body: "[" + acctItem + "]"})
			if r.status != 500 && r.status != 503 {
				t.Fatalf("got %d, want 500 or 503", r.status)
			}
			checkErrorBody(t, r, r.status, "")
			seen[r.status] = true
		}
		if !seen[500] || !seen[503] {
			t.Errorf("statuses seen %v, want both 500 and 503", seen)
		}
		if ids := s.BatchIDs(); len(ids) != 0 {
			t.Errorf("batches created: %v", ids)
		}
	})
	t.Run("429 with and without Retry-After", func(t *testing.T) {
		s := tmcastest.New(tmcastest.Options{Limit: -1, Faults: tmcastest.Faults{Rate429: 1}})
		defer s.Close()
		r := send(t, s, req{path: "/v1/mitigation/accounts", query: url.Values{"batch_id": {"x"}}})
		checkErrorBody(t, r, 429, "throttled")
		if h := r.header.Get("Retry-After"); h != "" {
			t.Errorf("Retry-After without the switch: %q", h)
		}
		s.UpdateFaults(func(f *tmcastest.Faults) { f.RetryAfter = true; f.InjectedRetryAfter = 1500 * time.Millisecond })
		r = send(t, s, req{path: "/v1/mitigation/accounts", query: url.Values{"batch_id": {"x"}}})
		if h := r.header.Get("Retry-After"); h != "1.5" {
			t.Errorf("Retry-After: got %q, want 1.5", h)
		}
	})
	t.Run("seeded randomness repeats", func(t *testing.T) {
		run := func() []int {
			s := tmcastest.New(tmcastest.Options{Limit: -1, Seed: 99, Faults: tmcastest.Faults{Rate5xx: 0.3, Rate429: 0.2}})
			defer s.Close()
			var out []int
			for i := 0; i < 40; i++ {
				out = append(out, send(t, s, req{path: "/v1/mitigation/accounts", query: url.Values{"batch_id": {"x"}}}).status)
			}
			return out
		}
		a, b := run(), run()
		if diff := cmp.Diff(a, b); diff != "" {
			t.Errorf("same seed, different faults (-first +second):\n%s", diff)
		}
		if !slices.Contains(a, 200) || !slices.Contains(a, 429) {
			t.Errorf("statuses %v: want a mix", a)
		}
	})
}

// post submits items and returns the batch id.
func post(t *testing.T, s *tmcastest.Server, path string, items ...string) string {
	t.Helper()
	r := send(t, s, req{method: http.MethodPost, path: path, body: "[" + strings.Join(items, ",") + "]"})
	if r.status != 201 {
		t.Fatalf("POST %s: got %d (%s)", path, r.status, r.raw)
	}
	return r.body["batch_id"].(string)
}

func account(action, email string) string {
	return fmt.Sprintf(`{"action_type":%q,"service":"exchange","account_provider":"office365","account_user_email":%q}`, action, email)
}

func TestBatchProgressAndResults(t *testing.T) {
	clk := &clock{now: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
	s := tmcastest.New(tmcastest.Options{Limit: -1, Now: clk.Now, Faults: tmcastest.Faults{
		HiddenPolls: 1, CreatedPolls: 1, ExecutingPolls: 1, ResultPageSize: 2, FailTargets: []string{"C@x.com"}}})
	defer s.Close()
	for _, e := range []string{"a@x.com", "b@x.com", "c@x.com"} {
		s.AddAccount(e)
	}
	id := post(t, s, "/v1/mitigation/accounts", account("ACCOUNT_DISABLE", "a@x.com"), account("ACCOUNT_ENABLE_MFA", "b@x.com"),
		account("ACCOUNT_DISABLE", "c@x.com"))
	poll := func() (statuses []string, pages []resp) {
		q := url.Values{"batch_id": {id}}
		r := send(t, s, req{path: "/v1/mitigation/accounts", query: q})
		for {
			pages = append(pages, r)
			for _, a := range r.body["actions"].([]any) {
				statuses = append(statuses, a.(map[string]any)["status"].(string))
			}
			next, _ := r.body["next_link"].(string)
			if next == "" || next == "null" {
				return statuses, pages
			}
			r = send(t, s, req{url: next})
		}
	}
	clk.advance(time.Second)
	want := [][]string{
		nil,
		{"Created", "Created", "Created"},
		{"Executing", "Executing", "Executing"},
		{"Success", "Success", "Failed"},
		{"Success", "Success", "Failed"},
	}
	for i, w := range want {
		got, pages := poll()
		if diff := cmp.Diff(w, got); diff != "" {
			t.Errorf("poll %d (-want +got):\n%s", i+1, diff)
		}
		if len(w) == 3 && len(pages) != 2 {
			t.Errorf("poll %d: got %d pages, want 2 of at most 2", i+1, len(pages))
		}
		for j, p := range pages {
			cur, _ := p.body["current_link"].(string)
			if !strings.HasPrefix(cur, s.URL()+"/v1/mitigation/accounts?") || !strings.Contains(cur, "batch_id="+id) {
				t.Errorf("poll %d page %d: current_link %q not built from the server's URL", i+1, j+1, cur)
			}
			if next, _ := p.body["next_link"].(string); j < len(pages)-1 && !strings.HasPrefix(next, s.URL()+"/v1/mitigation/accounts?") {
				t.Errorf("poll %d page %d: next_link %q not built from the server's URL", i+1, j+1, next)
			}
			if p.body["count"] != float64(len(p.body["actions"].([]any))) {
				t.Errorf("count %v does not match the page", p.body["count"])
			}
		}
	}
	if a, _ := s.Account("a@x.com"); !a.Disabled {
		t.Error("a@x.com not disabled")
	}
	if b, _ := s.Account("b@x.com"); !b.MFAEnabled || b.Disabled {
		t.Errorf("b@x.com: %+v, want MFA only", b)
	}
	if c, _ := s.Account("c@x.com"); c.Disabled {
		t.Error("failing target c@x.com was disabled")
	}
	// Every documented field, with the documented values.
	r := send(t, s, req{path: "/v1/mitigation/accounts", query: url.Values{"batch_id": {id}}})
	a := r.body["actions"].([]any)[0].(map[string]any)
	keys := make([]string, 0, len(a))
	for k := range a {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	wantKeys := []string{"account_provider", "account_user_email", "action_executed_at", "action_id", "action_requested_at",
		"action_type", "batch_id", "error_code", "error_message", "service", "status"}
	if diff := cmp.Diff(wantKeys, keys); diff != "" {
		t.Errorf("action keys (-want +got):\n%s", diff)
	}
	if a["action_requested_at"] != "2026-03-01T12:00:00.000Z" || a["action_executed_at"] != "2026-03-01T12:00:01.000Z" {
		t.Errorf("timestamps: %v, %v", a["action_requested_at"], a["action_executed_at"])
	}
	r2 := send(t, s, req{url: r.body["next_link"].(string)})
	failed := r2.body["actions"].([]any)[0].(map[string]any)
	if failed["error_code"] != float64(-999) || failed["error_message"] == "" {
		t.Errorf("failed action: %v", failed)
	}
	for _, k := range []string{"code", "msg", "traceId", "count", "current_link", "next_link", "actions"} {
		if _, ok := r.body[k]; !ok {
			t.Errorf("results page lacks %q", k)
		}
	}
}

func TestEndOfPagesForms(t *testing.T) {
	tests := []struct {
		form tmcastest.EndForm
		want string
	}{
		{tmcastest.EndNullString, `"next_link":"null"`},
		{tmcastest.EndNull, `"next_link":null`},
		{tmcastest.EndEmpty, `"next_link":""`},
	}
	for _, tt := range tests {
		s := tmcastest.New(tmcastest.Options{Faults: tmcastest.Faults{EndOfPages: tt.form}})
		for _, r := range []resp{
			send(t, s, req{path: "/v1/mitigation/mails", query: url.Values{"batch_id": {"x"}}}),
			send(t, s, req{path: "/v1/sweeping/mails", query: url.Values{"message_id": {"<m@x>"}}}),
		} {
			if !bytes.Contains(r.raw, []byte(tt.want)) {
				t.Errorf("form %d: body %s lacks %s", tt.form, r.raw, tt.want)
			}
		}
		s.Close()
	}
}

func TestResultsParameters(t *testing.T) {
	clk := &clock{now: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
	s := tmcastest.New(tmcastest.Options{Limit: -1, Now: clk.Now})
	defer s.Close()
	s.AddAccount("a@x.com")
	id := post(t, s, "/v1/mitigation/accounts", account("ACCOUNT_DISABLE", "a@x.com"))
	tests := []struct {
		name   string
		path   string
		q      url.Values
		status int
		n      int // actions
		msg    string
	}{
		{name: "by batch", path: "/v1/mitigation/accounts", q: url.Values{"batch_id": {id}}, status: 200, n: 1},
		{name: "unknown batch", path: "/v1/mitigation/accounts", q: url.Values{"batch_id": {"nope"}}, status: 200},
		{name: "batch of the other kind", path: "/v1/mitigation/mails", q: url.Values{"batch_id": {id}}, status: 200},
		{name: "by time", path: "/v1/mitigation/accounts", q: url.Values{"start": {"2026-03-01T11:00:00Z"}, "end": {"2026-03-01T12:00:00.000Z"}}, status: 200, n: 1},
		{name: "time before the batch", path: "/v1/mitigation/accounts", q: url.Values{"start": {"2026-03-01T10:00:00Z"}, "end": {"2026-03-01T11:00:00Z"}}, status: 200},
		{name: "start too old", path: "/v1/mitigation/accounts", q: url.Values{"start": {"2026-02-25T11:00:00Z"}, "end": {"2026-03-01T12:00:00Z"}}, status: 400, msg: "72 hours"},
		{name: "end in the future", path: "/v1/mitigation/accounts", q: url.Values{"start": {"2026-03-01T11:00:00Z"}, "end": {"2099-03-01T12:00:00Z"}}, status: 400, msg: "future"},
		{name: "start only", path: "/v1/mitigation/accounts", q: url.Values{"start": {"2026-03-01T11:00:00Z"}}, status: 400, msg: "required"},
		{name: "nothing", path: "/v1/mitigation/accounts", status: 400, msg: "batch_id or start and end are required"},
		{name: "unknown parameter", path: "/v1/mitigation/accounts", q: url.Values{"batchid": {id}}, status: 400, msg: `unknown parameter "batchid"`},
		{name: "repeated parameter", path: "/v1/mitigation/accounts", q: url.Values{"batch_id": {id, id}}, status: 400, msg: "more than once"},
		{name: "limit too big", path: "/v1/mitigation/accounts", q: url.Values{"batch_id": {id}, "limit": {"501"}}, status: 400, msg: "from 1 to 500"},
		{name: "bad skiptoken", path: "/v1/mitigation/accounts", q: url.Values{"batch_id": {id}, "skiptoken": {"zzz"}}, status: 400, msg: "invalid skiptoken"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := send(t, s, req{path: tt.path, query: tt.q})
			if tt.status != 200 {
				checkErrorBody(t, r, tt.status, tt.msg)
				return
			}
			if r.status != 200 {
				t.Fatalf("status: got %d (%s)", r.status, r.raw)
			}
			if got := len(r.body["actions"].([]any)); got != tt.n {
				t.Errorf("actions: got %d, want %d", got, tt.n)
			}
		})
	}
}

func TestSweep(t *testing.T) {
	clk := &clock{now: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
	s := tmcastest.New(tmcastest.Options{Limit: -1, Now: clk.Now})
	defer s.Close()
	const id = "<DB7PR07MB1234@DB7PR07MB1234.eurprd07.prod.outlook.com>"
	day := 24 * time.Hour
	for i := 0; i < 25; i++ {
		s.AddMail(tmcastest.Mail{Mailbox: fmt.Sprintf("u%02d@x.com", i), MessageID: id, Subject: "Invoice", Sender: "bill@fabrikam.example",
			Delivered: clk.Now().Add(-time.Duration(i) * day)})
	}
	s.AddMail(tmcastest.Mail{Mailbox: "old@x.com", MessageID: id, Delivered: clk.Now().Add(-91 * day)})
	s.AddMail(tmcastest.Mail{Mailbox: "u00@x.com", MessageID: "<other@x>", Subject: "Lunch"})
	count := func(q url.Values) int {
		t.Helper()
		r := send(t, s, req{path: "/v1/sweeping/mails", query: q})
		if r.status != 200 {
			t.Fatalf("sweep %v: got %d (%s)", q, r.status, r.raw)
		}
		return len(r.body["value"].([]any))
	}
	tests := []struct {
		name string
		q    url.Values
		want int
	}{
		{"default limit is 20", url.Values{"message_id": {id}}, 20},
		{"limit", url.Values{"message_id": {id}, "limit": {"1000"}}, 25},
		{"lastndays", url.Values{"message_id": {id}, "lastndays": {"7"}, "limit": {"1000"}}, 8},
		{"mailbox", url.Values{"mailbox": {"U03@x.com"}}, 1},
		{"recipient", url.Values{"recipient": {"u00@x.com"}}, 2},
		{"subject", url.Values{"subject": {"lunch"}}, 1},
		{"sender", url.Values{"sender": {"bill@fabrikam.example"}, "limit": {"1000"}}, 25},
		{"start and end", url.Values{"start": {"2026-02-27T00:00:00Z"}, "end": {"2026-03-01T00:00:00Z"}}, 2},
	}
	for _, tt := range tests {
		if got := count(tt.q); got != tt.want {
			t.Errorf("%s: got %d mails, want %d", tt.name, got, tt.want)
		}
	}
	// Deleted mail is gone from the sweep.
	m := s.Mails("<other@x>")[0]
	post(t, s, "/v1/mitigation/mails", fmt.Sprintf(`{"action_type":"MAIL_DELETE","service":"exchange","account_provider":"office365","mailbox":"u00@x.com","mail_message_id":"<other@x>","mail_unique_id":%q,"mail_message_delivery_time":"2026-03-01T12:00:00Z"}`, m.UniqueID))
	send(t, s, req{path: "/v1/mitigation/mails", query: url.Values{"batch_id": {s.BatchIDs()[0]}}})
	if got := count(url.Values{"subject": {"lunch"}}); got != 0 {
		t.Errorf("deleted mail still swept (%d)", got)
	}

	r := send(t, s, req{path: "/v1/sweeping/mails", query: url.Values{"mailbox": {"u01@x.com"}}})
	item := r.body["value"].([]any)[0].(map[string]any)
	for k, want := range map[string]any{"mailbox": "u01@x.com", "mail_message_id": id, "mail_message_subject": "Invoice",
		"mail_message_delivery_time": "2026-02-28T12:00:00.000Z", "mail_message_sender": "bill@fabrikam.example"} {
		if item[k] != want {
			t.Errorf("sweep item %s: got %v, want %v", k, item[k], want)
		}
	}
	if uid, _ := item["mail_unique_id"].(string); uid == "" {
		t.Error("sweep item lacks mail_unique_id")
	}
	for _, bad := range []struct {
		q   url.Values
		msg string
	}{
		{url.Values{"limit": {"1001"}}, "from 1 to 1000"},
		{url.Values{"lastndays": {"91"}}, "from 1 to 90"},
		{url.Values{"file_sha1": {"abc"}}, "does not model"},
		{url.Values{"start": {"2026-02-27T00:00:00Z"}}, "start and end go together"},
		{url.Values{"messageid": {id}}, `unknown parameter "messageid"`},
	} {
		checkErrorBody(t, send(t, s, req{path: "/v1/sweeping/mails", query: bad.q}), 400, bad.msg)
	}
}

func mailAction(action, box, uid string) string {
	extra := ""
	if action == "MAIL_RESTORE" {
		extra = `,"detection_time":"2026-03-01T12:00:00Z"`
	}
	return fmt.Sprintf(`{"action_type":%q,"service":"exchange","account_provider":"office365","mailbox":%q,"mail_message_id":"<m@x>","mail_unique_id":%q,"mail_message_delivery_time":"2026-03-01T12:00:00Z"%s}`,
		action, box, uid, extra)
}

func TestMailActions(t *testing.T) {
	s := tmcastest.New(tmcastest.Options{Limit: -1})
	defer s.Close()
	a := s.AddMail(tmcastest.Mail{Mailbox: "a@x.com", MessageID: "<m@x>"})
	b := s.AddMail(tmcastest.Mail{Mailbox: "b@x.com", MessageID: "<m@x>"})
	run := func(items ...string) []tmcastest.Action {
		id := post(t, s, "/v1/mitigation/mails", items...)
		send(t, s, req{path: "/v1/mitigation/mails", query: url.Values{"batch_id": {id}}})
		return s.Actions(id)
	}
	steps := []struct {
		items  []string
		status []string
		folder map[string]string
	}{
		{[]string{mailAction("MAIL_QUARANTINE", "a@x.com", a.UniqueID), mailAction("MAIL_DELETE", "b@x.com", b.UniqueID)},
			[]string{"Success", "Success"}, map[string]string{a.UniqueID: tmcastest.FolderQuarantine, b.UniqueID: tmcastest.FolderDeleted}},
		{[]string{mailAction("MAIL_QUARANTINE", "a@x.com", a.UniqueID), mailAction("MAIL_DELETE", "b@x.com", b.UniqueID)},
			[]string{"Skipped", "Skipped"}, map[string]string{a.UniqueID: tmcastest.FolderQuarantine, b.UniqueID: tmcastest.FolderDeleted}},
		{[]string{mailAction("MAIL_RESTORE", "a@x.com", a.UniqueID), mailAction("MAIL_QUARANTINE", "b@x.com", b.UniqueID)},
			[]string{"Success", "Failed"}, map[string]string{a.UniqueID: tmcastest.FolderInbox, b.UniqueID: tmcastest.FolderDeleted}},
		{[]string{mailAction("MAIL_DELETE", "a@x.com", "no-such-id"), mailAction("MAIL_DELETE", "b@x.com", a.UniqueID)},
			[]string{"Failed", "Failed"}, map[string]string{a.UniqueID: tmcastest.FolderInbox}},
	}
	for i, st := range steps {
		var got []string
		for _, act := range run(st.items...) {
			got = append(got, act.Status)
			if act.Status == "Failed" && (act.ErrorCode != -999 || act.ErrorMessage != "The action for these mails failed.") {
				t.Errorf("step %d: failed action %+v lacks the documented error", i+1, act)
			}
		}
		if diff := cmp.Diff(st.status, got); diff != "" {
			t.Errorf("step %d statuses (-want +got):\n%s", i+1, diff)
		}
		for uid, want := range st.folder {
			if m, _ := s.MailByUniqueID(uid); m.Folder != want {
				t.Errorf("step %d: %s in %q, want %q", i+1, uid, m.Folder, want)
			}
		}
	}
	// Mail results carry the mail fields too.
	id := post(t, s, "/v1/mitigation/mails", mailAction("MAIL_QUARANTINE", "a@x.com", a.UniqueID))
	r := send(t, s, req{path: "/v1/mitigation/mails", query: url.Values{"batch_id": {id}}})
	act := r.body["actions"].([]any)[0].(map[string]any)
	for k, want := range map[string]any{"mailbox": "a@x.com", "account_user_email": "a@x.com", "mail_message_id": "<m@x>", "mail_unique_id": a.UniqueID} {
		if act[k] != want {
			t.Errorf("mail result %s: got %v, want %v", k, act[k], want)
		}
	}
}

func TestUnknownUsersReject(t *testing.T) {
	s := tmcastest.New(tmcastest.Options{Limit: -1, Faults: tmcastest.Faults{UnknownUsers: tmcastest.UnknownReject}})
	defer s.Close()
	s.AddAccount("a@x.com")
	r := send(t, s, req{method: http.MethodPost, path: "/v1/mitigation/accounts", body: "[" + account("ACCOUNT_DISABLE", "a@x.com") + "," + account("ACCOUNT_DISABLE", "ghost@x.com") + "]"})
	checkErrorBody(t, r, 400, `item 1: account_user_email "ghost@x.com" is not a protected account`)
}

func TestHangAndLatency(t *testing.T) {
	s := tmcastest.New(tmcastest.Options{Limit: -1, Faults: tmcastest.Faults{HangAfterCreate: true}})
	s.AddAccount("a@x.com")
	hc := &http.Client{Timeout: 100 * time.Millisecond}
	hr, _ := http.NewRequest(http.MethodPost, s.URL()+"/v1/mitigation/accounts", strings.NewReader("["+acctItem+"]"))
	hr.Header.Set("Authorization", "Bearer "+s.Token())
	hr.Header.Set("Content-Type", "application/json")
	if resp, err := hc.Do(hr); err == nil {
		resp.Body.Close()
		t.Fatalf("hanging POST answered %d", resp.StatusCode)
	}
	if calls := s.Calls(); len(calls) != 1 || calls[0].Status != 201 || len(s.BatchIDs()) != 1 {
		t.Errorf("hanging POST: calls %v, batches %v; want one 201 and its batch", calls, s.BatchIDs())
	}

	// Close ends requests that are still hanging.
	s.UpdateFaults(func(f *tmcastest.Faults) { f.HangAfterCreate = false; f.Latency = time.Hour })
	errc := make(chan error, 1)
	go func() {
		hr, _ := http.NewRequest(http.MethodGet, s.URL()+"/v1/mitigation/accounts?batch_id=x", nil)
		hr.Header.Set("Authorization", "Bearer "+s.Token())
		resp, err := http.DefaultClient.Do(hr)
		if err == nil {
			resp.Body.Close()
		}
		errc <- err
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.Wait(ctx, func() bool { return len(s.Calls()) >= 2 }); err != nil {
		t.Fatalf("delayed request never arrived: %v", err)
	}
	closed := make(chan struct{})
	go func() { s.Close(); close(closed) }()
	select {
	case <-closed:
	case <-ctx.Done():
		t.Fatal("Close did not end a delayed request")
	}
	<-errc
}

func TestLatency(t *testing.T) {
	s := tmcastest.New(tmcastest.Options{Limit: -1, Faults: tmcastest.Faults{Latency: 50 * time.Millisecond}})
	defer s.Close()
	start := time.Now()
	send(t, s, req{path: "/v1/mitigation/accounts", query: url.Values{"batch_id": {"x"}}})
	if d := time.Since(start); d < 50*time.Millisecond {
		t.Errorf("answer took %v, want at least the 50ms latency", d)
	}
}

func TestLinkBase(t *testing.T) {
	s := tmcastest.New(tmcastest.Options{Limit: -1, Faults: tmcastest.Faults{SweepPageSize: 1, LinkBase: "https://elsewhere.example"}})
	defer s.Close()
	s.AddMail(tmcastest.Mail{Mailbox: "a@x.com", MessageID: "<m@x>"})
	s.AddMail(tmcastest.Mail{Mailbox: "b@x.com", MessageID: "<m@x>"})
	r := send(t, s, req{path: "/v1/sweeping/mails", query: url.Values{"message_id": {"<m@x>"}}})
	if next, _ := r.body["next_link"].(string); !strings.HasPrefix(next, "https://elsewhere.example/v1/sweeping/mails?") || !strings.Contains(next, "skiptoken=") {
		t.Errorf("next_link: got %q", next)
	}
}

func TestResetAndInspection(t *testing.T) {
	initial := tmcastest.Faults{Rate429: 0, CreatedPolls: 2}
	s := tmcastest.New(tmcastest.Options{Limit: -1, Faults: initial})
	defer s.Close()
	s.AddAccount("A@x.com")
	s.AddAccount("a@x.com") // the same account
	if a, ok := s.Account("a@X.com"); !ok || a.Email != "A@x.com" {
		t.Errorf("Account: got %+v, %v", a, ok)
	}
	m := s.AddMail(tmcastest.Mail{Mailbox: "a@x.com", MessageID: "<m@x>"})
	if m.UniqueID == "" || m.Delivered.IsZero() {
		t.Errorf("AddMail did not fill in the unique id and delivery time: %+v", m)
	}
	post(t, s, "/v1/mitigation/accounts", acctItem)
	s.SetFaults(tmcastest.Faults{Rate5xx: 1, FailTargets: []string{"x"}})
	if got := s.Faults(); got.Rate5xx != 1 || len(got.FailTargets) != 1 {
		t.Errorf("Faults: got %+v", got)
	}
	s.Reset()
	if _, ok := s.Account("a@x.com"); ok {
		t.Error("Reset kept an account")
	}
	if len(s.Mails("<m@x>")) != 0 || len(s.BatchIDs()) != 0 || len(s.Calls()) != 0 {
		t.Error("Reset kept mails, batches or calls")
	}
	if diff := cmp.Diff(initial, s.Faults()); diff != "" {
		t.Errorf("Reset faults (-want +got):\n%s", diff)
	}
	// Calls are copies: changing one changes nothing inside the server.
	send(t, s, req{path: "/v1/mitigation/accounts", query: url.Values{"batch_id": {"x"}}})
	calls := s.Calls()
	calls[0].Query.Set("batch_id", "changed")
	if got := s.Calls()[0].Query.Get("batch_id"); got != "x" {
		t.Errorf("Calls shares state: %q", got)
	}
}

func TestConcurrentUse(t *testing.T) {
	// Fault switches change while requests are in flight; run with -race.
	s := tmcastest.New(tmcastest.Options{Limit: -1, Seed: 5})
	defer s.Close()
	s.AddAccount("a@x.com")
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < 10; j++ {
				r := send(t, s, req{method: http.MethodPost, path: "/v1/mitigation/accounts", body: "[" + acctItem + "]"})
				switch r.status {
				case 201, 429, 500, 503:
				default:
					t.Errorf("status %d", r.status)
				}
				if r.status == 201 {
					send(t, s, req{path: "/v1/mitigation/accounts", query: url.Values{"batch_id": {r.body["batch_id"].(string)}}})
				}
			}
		}()
	}
	for i := 0; i < 50; i++ {
		s.SetFaults(tmcastest.Faults{Rate5xx: float64(i%3) / 4, Rate429: float64(i%2) / 4, FailTargets: []string{"a@x.com"}})
		s.UpdateFaults(func(f *tmcastest.Faults) { f.CreatedPolls = i % 3 })
		_ = s.Calls()
		_, _ = s.Account("a@x.com")
	}
	wg.Wait()
	created := 0
	for _, c := range s.Calls() {
		if c.Method == http.MethodPost && c.Status == 201 {
			created++
		}
	}
	if created != len(s.BatchIDs()) {
		t.Errorf("201 answers %d, batches %d", created, len(s.BatchIDs()))
	}
}

func TestStatusAfterCreate(t *testing.T) {
	for _, status := range []int{500, 502, 503, 504} {
		t.Run(fmt.Sprint(status), func(t *testing.T) {
			s := tmcastest.New(tmcastest.Options{Limit: -1, Faults: tmcastest.Faults{StatusAfterCreate: status}})
			defer s.Close()
			s.AddAccount("a@x.com")
			r := send(t, s, req{method: http.MethodPost, path: "/v1/mitigation/accounts", body: "[" + acctItem + "]"})
			checkErrorBody(t, r, status, "")
			if ids := s.BatchIDs(); len(ids) != 1 {
				t.Fatalf("batches: got %v, want the one the POST created", ids)
			}
			if n := s.Posts(); n != 1 {
				t.Errorf("Posts: got %d, want 1", n)
			}
			// The batch runs like any other.
			send(t, s, req{path: "/v1/mitigation/accounts", query: url.Values{"batch_id": {s.BatchIDs()[0]}}})
			if a, _ := s.Account("a@x.com"); !a.Disabled {
				t.Error("the batch created before the error did not run")
			}
			// A refused POST (bad body) answers 400, not the injected status.
			r = send(t, s, req{method: http.MethodPost, path: "/v1/mitigation/accounts", body: "[]"})
			checkErrorBody(t, r, 400, "")
			if n := s.Posts(); n != 2 {
				t.Errorf("Posts: got %d, want 2", n)
			}
		})
	}
}

func TestRate5xxGET(t *testing.T) {
	s := tmcastest.New(tmcastest.Options{Limit: -1, Faults: tmcastest.Faults{Rate5xxGET: 1}})
	defer s.Close()
	s.AddAccount("a@x.com")
	id := post(t, s, "/v1/mitigation/accounts", acctItem)
	r := send(t, s, req{path: "/v1/mitigation/accounts", query: url.Values{"batch_id": {id}}})
	if r.status != 500 && r.status != 503 {
		t.Errorf("GET: got %d, want 500 or 503", r.status)
	}
}

func TestResultsByTimeHideNewBatches(t *testing.T) {
	// A query by time sees a new batch no earlier than a poll by batch_id
	// would: HiddenPolls looks of either kind list nothing.
	clk := &clock{now: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
	s := tmcastest.New(tmcastest.Options{Limit: -1, Now: clk.Now, Faults: tmcastest.Faults{HiddenPolls: 1}})
	defer s.Close()
	s.AddAccount("a@x.com")
	id := post(t, s, "/v1/mitigation/accounts", acctItem)
	q := url.Values{"start": {"2026-03-01T11:59:00Z"}, "end": {"2026-03-01T12:00:00Z"}}
	var got []int
	for range 2 {
		r := send(t, s, req{path: "/v1/mitigation/accounts", query: q})
		got = append(got, len(r.body["actions"].([]any)))
	}
	if diff := cmp.Diff([]int{0, 1}, got); diff != "" {
		t.Errorf("actions listed by time, per query (-want +got):\n%s", diff)
	}
	r := send(t, s, req{path: "/v1/mitigation/accounts", query: q})
	a := r.body["actions"].([]any)[0].(map[string]any)
	if a["batch_id"] != id {
		t.Errorf("batch_id: got %v, want %s", a["batch_id"], id)
	}
}

// TestMaxRows: a longer array is refused whole with 400 and nothing is
// created; one at the cap is accepted.
func TestMaxRows(t *testing.T) {
	tests := []struct {
		name, path, item string
		rows, status     int
	}{
		{"accounts at the cap", "/v1/mitigation/accounts", acctItem, 2, http.StatusCreated},
		{"accounts over the cap", "/v1/mitigation/accounts", acctItem, 3, http.StatusBadRequest},
		{"mails at the cap", "/v1/mitigation/mails", mailItem, 2, http.StatusCreated},
		{"mails over the cap", "/v1/mitigation/mails", mailItem, 3, http.StatusBadRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := tmcastest.New(tmcastest.Options{Limit: -1, Faults: tmcastest.Faults{MaxRows: 2}})
			defer s.Close()
			s.AddAccount("a@x.com")
			body := "[" + strings.TrimSuffix(strings.Repeat(tt.item+",", tt.rows), ",") + "]"
			r := send(t, s, req{method: http.MethodPost, path: tt.path, body: body})
			wantBatches := 1
			if tt.status != http.StatusCreated {
				checkErrorBody(t, r, tt.status, "at most 2 items")
				wantBatches = 0
			} else if r.status != tt.status {
				t.Fatalf("status: got %d, want %d (%s)", r.status, tt.status, r.raw)
			}
			if got := len(s.BatchIDs()); got != wantBatches {
				t.Errorf("batches: got %d, want %d", got, wantBatches)
			}
		})
	}
}

// TestCreatedCode: a 201 carries the configured non-zero code and msg, and
// the batch exists and runs.
func TestCreatedCode(t *testing.T) {
	s := tmcastest.New(tmcastest.Options{Limit: -1, Faults: tmcastest.Faults{CreatedCode: -7, CreatedMsg: "partly refused"}})
	defer s.Close()
	s.AddAccount("a@x.com")
	r := send(t, s, req{method: http.MethodPost, path: "/v1/mitigation/accounts", body: "[" + acctItem + "]"})
	if r.status != http.StatusCreated {
		t.Fatalf("status: got %d, want 201 (%s)", r.status, r.raw)
	}
	if code, msg := r.body["code"], r.body["msg"]; code != float64(-7) || msg != "partly refused" {
		t.Errorf("code, msg: got %v, %v, want -7, partly refused", code, msg)
	}
	ids := s.BatchIDs()
	if len(ids) != 1 || r.body["batch_id"] != ids[0] {
		t.Fatalf("batch_id %v, batches %v: want the one created", r.body["batch_id"], ids)
	}
	send(t, s, req{path: "/v1/mitigation/accounts", query: url.Values{"batch_id": {ids[0]}}})
	if a, _ := s.Account("a@x.com"); !a.Disabled {
		t.Error("the batch of the 201 did not run")
	}
}

// TestOmitBatchIDAndFinalStatus: a 201 without batch_id still creates the
// batch; FinalStatus replaces the status of an action that ran once.
func TestOmitBatchIDAndFinalStatus(t *testing.T) {
	s := tmcastest.New(tmcastest.Options{Limit: -1, Faults: tmcastest.Faults{OmitBatchID: true, FinalStatus: "Queued"}})
	defer s.Close()
	s.AddAccount("a@x.com")
	r := send(t, s, req{method: http.MethodPost, path: "/v1/mitigation/accounts", body: "[" + acctItem + "]"})
	if _, ok := r.body["batch_id"]; ok || r.status != http.StatusCreated || r.body["code"] != float64(0) {
		t.Fatalf("answer: got %d %s, want 201 with code 0 and no batch_id", r.status, r.raw)
	}
	ids := s.BatchIDs()
	if len(ids) != 1 {
		t.Fatalf("batches: got %v, want one", ids)
	}
	for i := range 2 {
		send(t, s, req{path: "/v1/mitigation/accounts", query: url.Values{"batch_id": {ids[0]}}})
		if acts := s.Actions(ids[0]); len(acts) != 1 || acts[0].Status != "Queued" {
			t.Fatalf("poll %d: actions %+v, want one with status Queued", i+1, acts)
		}
	}
	if a, _ := s.Account("a@x.com"); !a.Disabled {
		t.Error("the action did not run")
	}
}
