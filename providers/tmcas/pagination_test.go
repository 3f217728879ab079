package tmcas_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/countersign/countersign/approvals"
	"github.com/countersign/countersign/providers"
	"github.com/countersign/countersign/providers/internal/providertest"
	"github.com/countersign/countersign/providers/tmcas"
	"github.com/countersign/countersign/providers/tmcas/tmcastest"
)

var endForms = []struct {
	name string
	form tmcastest.EndForm
	raw  string
}{
	{"string null", tmcastest.EndNullString, `"null"`},
	{"json null", tmcastest.EndNull, `null`},
	{"empty string", tmcastest.EndEmpty, `""`},
}

func TestPollPagination(t *testing.T) {
	for _, ef := range endForms {
		t.Run(ef.name, func(t *testing.T) {
			f := newFake(t, tmcastest.Options{Faults: tmcastest.Faults{ResultPageSize: 2, EndOfPages: ef.form}})
			targets := []string{"a@contoso.com", "b@contoso.com", "c@contoso.com", "d@contoso.com", "e@contoso.com"}
			for _, e := range targets {
				f.AddAccount(e)
			}
			c := newClient(t, f, nil)
			ctx := providertest.Context(t)
			spec := accountSpec(approvals.ActionDisable, targets...)
			sub := providertest.Submit(t, providertest.Context(t), c, spec)
			p, err := c.Poll(ctx, sub)
			if err != nil {
				t.Fatalf("Poll: %v", err)
			}
			if !p.Done || len(p.Items) != 5 {
				t.Fatalf("Poll: got %+v, want 5 items done", p)
			}
			for _, it := range p.Items {
				if it.Status != approvals.ItemSucceeded {
					t.Errorf("%s: got %s, want succeeded", it.Key, it.Status)
				}
			}
			var gets []tmcastest.Call
			for _, cl := range f.Calls() {
				if cl.Method == http.MethodGet {
					gets = append(gets, cl)
				}
			}
			if len(gets) != 3 {
				t.Fatalf("GETs: got %d, want 3 pages", len(gets))
			}
			for i, g := range gets {
				if g.Query.Get("batch_id") != sub.ID {
					t.Errorf("page %d: batch_id %q, want %q", i+1, g.Query.Get("batch_id"), sub.ID)
				}
				if hasSkip := g.Query.Has("skiptoken"); hasSkip != (i > 0) {
					t.Errorf("page %d: skiptoken present %v", i+1, hasSkip)
				}
			}
		})
	}
}

func TestSweepPagination(t *testing.T) {
	const id = "<paged@fabrikam.example>"
	for _, ef := range endForms {
		t.Run(ef.name, func(t *testing.T) {
			f := newFake(t, tmcastest.Options{Faults: tmcastest.Faults{SweepPageSize: 2, EndOfPages: ef.form}})
			seedMessage(f, id, "s", time.Now().Add(-time.Hour), "a@x.com", "b@x.com", "c@x.com", "d@x.com", "e@x.com")
			c := newClient(t, f, nil)
			got, err := c.Resolve(providertest.Context(t), mailSpec("delete", nil, id))
			if err != nil {
				t.Fatalf("Resolve: %v", err)
			}
			var keys []string
			for _, r := range got {
				keys = append(keys, r.Key)
			}
			want := []string{id + "/a@x.com", id + "/b@x.com", id + "/c@x.com", id + "/d@x.com", id + "/e@x.com"}
			if diff := cmp.Diff(want, keys); diff != "" {
				t.Errorf("keys (-want +got):\n%s", diff)
			}
			if n := countCalls(f.Calls(), http.MethodGet, "/v1/sweeping/mails"); n != 3 {
				t.Errorf("sweep pages: got %d, want 3", n)
			}
		})
	}
}

// recorder is a server that must never be called: it stands for a foreign
// host a next_link might point to.
func recorder(t *testing.T) (*httptest.Server, *atomic.Int32) {
	var hits atomic.Int32
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.WriteHeader(http.StatusTeapot)
	}))
	t.Cleanup(s.Close)
	return s, &hits
}

func TestForeignNextLinkRefused(t *testing.T) {
	foreign, hits := recorder(t)
	f := newFake(t, tmcastest.Options{Faults: tmcastest.Faults{ResultPageSize: 1, SweepPageSize: 1, LinkBase: foreign.URL}})
	f.AddAccount("a@x.com")
	f.AddAccount("b@x.com")
	seedMessage(f, "<m@x>", "s", time.Time{}, "a@x.com", "b@x.com")
	c := newClient(t, f, nil)
	ctx := providertest.Context(t)

	if _, err := c.Resolve(ctx, mailSpec("delete", nil, "<m@x>")); !errors.Is(err, tmcas.ErrForeignLink) {
		t.Errorf("Resolve: got %v, want ErrForeignLink", err)
	}
	spec := accountSpec(approvals.ActionDisable, "a@x.com", "b@x.com")
	sub := providertest.Submit(t, providertest.Context(t), c, spec)
	if _, err := c.Poll(ctx, sub); !errors.Is(err, tmcas.ErrForeignLink) {
		t.Errorf("Poll: got %v, want ErrForeignLink", err)
	}
	if n := hits.Load(); n != 0 {
		t.Errorf("foreign host got %d requests, want 0", n)
	}
	if n := countCalls(f.Calls(), http.MethodGet, ""); n != 2 {
		t.Errorf("fake GETs: got %d, want 2 (first pages only)", n)
	}
}

func TestForeignOriginVariants(t *testing.T) {
	tests := []struct {
		name    string
		link    func(base, host string) string
		foreign bool
	}{
		{"same origin", func(base, _ string) string { return base + "/v1/mitigation/accounts?batch_id=b1&skiptoken=x" }, false},
		{"relative", func(string, string) string { return "/v1/mitigation/accounts?batch_id=b1&skiptoken=x" }, false},
		{"other scheme", func(_, host string) string { return "https://" + host + "/v1/mitigation/accounts" }, true},
		{"other port", func(string, string) string { return "http://127.0.0.1:1/v1/mitigation/accounts" }, true},
		{"other host", func(string, string) string { return "http://localhost.example/v1/mitigation/accounts" }, true},
		{"user info", func(_, host string) string { return "http://user:pw@" + host + "/v1/mitigation/accounts" }, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var link string
			srv, count := scripted(t, map[string]func(n int) (int, string){
				"POST /v1/mitigation/accounts": func(int) (int, string) { return 201, `{"code":0,"msg":"","batch_id":"b1","traceId":"t"}` },
				"GET /v1/mitigation/accounts": func(n int) (int, string) {
					if n == 1 {
						return 200, fmt.Sprintf(`{"code":0,"msg":"","traceId":"t","actions":[],"next_link":%q}`, link)
					}
					return 200, `{"code":0,"msg":"","traceId":"t","actions":[],"next_link":"null"}`
				},
			})
			link = tt.link(srv.URL, strings.TrimPrefix(srv.URL, "http://"))
			c := newScriptedClient(t, srv, nil)
			sub := submitOne(t, c)
			_, err := c.Poll(providertest.Context(t), sub)
			if got := errors.Is(err, tmcas.ErrForeignLink); got != tt.foreign {
				t.Errorf("Poll: got %v, want foreign=%v", err, tt.foreign)
			}
			if !tt.foreign && err != nil {
				t.Errorf("Poll: %v", err)
			}
			wantGets := 2
			if tt.foreign {
				wantGets = 1
			}
			if n := count("GET /v1/mitigation/accounts"); n != wantGets {
				t.Errorf("GETs: got %d, want %d", n, wantGets)
			}
		})
	}
}

// scripted starts a server that answers "METHOD path" with the status and
// body the script returns for the n-th such request (from 1).
func scripted(t *testing.T, script map[string]func(n int) (int, string)) (*httptest.Server, func(key string) int) {
	t.Helper()
	var mu sync.Mutex
	counts := map[string]int{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		key := r.Method + " " + r.URL.Path
		mu.Lock()
		counts[key]++
		n := counts[key]
		mu.Unlock()
		fn := script[key]
		if fn == nil {
			w.WriteHeader(http.StatusNotFound)
			return
		}
		status, body := fn(n)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = w.Write([]byte(body))
	}))
	t.Cleanup(srv.Close)
	return srv, func(key string) int {
		mu.Lock()
		defer mu.Unlock()
		return counts[key]
	}
}

func newScriptedClient(t *testing.T, srv *httptest.Server, mod func(*tmcas.Config)) *tmcas.Client {
	t.Helper()
	cfg := tmcas.Config{BaseURL: srv.URL, Token: "scripted-token", RetryInitial: time.Millisecond, RetryMax: 2 * time.Millisecond}
	if mod != nil {
		mod(&cfg)
	}
	c, err := tmcas.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// submitOne submits a disable of targets (default a@x.com).
func submitOne(t *testing.T, c *tmcas.Client, targets ...string) providers.Submission {
	t.Helper()
	if len(targets) == 0 {
		targets = []string{"a@x.com"}
	}
	return providertest.Submit(t, providertest.Context(t), c, accountSpec(approvals.ActionDisable, targets...))
}

func TestPaginationLoopsAreCut(t *testing.T) {
	var srvURL string
	srv, count := scripted(t, map[string]func(int) (int, string){
		"POST /v1/mitigation/accounts": func(int) (int, string) { return 201, `{"code":0,"msg":null,"batch_id":"b1","traceId":"t"}` },
		"GET /v1/mitigation/accounts": func(int) (int, string) {
			return 200, `{"code":0,"msg":"","traceId":"t","actions":[],"next_link":"` + srvURL + `/v1/mitigation/accounts?batch_id=b1&skiptoken=same"}`
		},
	})
	srvURL = srv.URL
	c := newScriptedClient(t, srv, nil)
	sub := submitOne(t, c)
	if _, err := c.Poll(providertest.Context(t), sub); err == nil || !strings.Contains(err.Error(), "repeats an earlier page") {
		t.Errorf("Poll: got %v, want a repeated-page error", err)
	}
	if n := count("GET /v1/mitigation/accounts"); n != 2 {
		t.Errorf("GETs: got %d, want 2", n)
	}
}

func TestStatusMapping(t *testing.T) {
	act := func(email, status, msg string, code int) string {
		b, _ := json.Marshal(map[string]any{"action_id": "id-" + strings.Split(email, "@")[0], "batch_id": "b1",
			"action_type": "ACCOUNT_DISABLE", "service": "exchange", "account_provider": "office365",
			"account_user_email": email, "action_requested_at": "2020-08-09T23:27:12.216Z",
			"action_executed_at": nil, "status": status, "error_code": code, "error_message": msg})
		return string(b)
	}
	actions := []string{
		act("created@x.com", "Created", "", 0),
		act("EXECUTING@X.com", "Executing", "", 0), // match ignores case
		act("success@x.com", "Success", "success", 0),
		act("skipped@x.com", "Skipped", "nothing to do", 0),
		act("failed@x.com", "Failed", "graph api exception, message=One or more errors occurred.", -999),
		act("failedbare@x.com", "Failed", "", -999),
		act("odd@x.com", "Pending", "", 0),
		// Another batch's result for a target of ours must be ignored.
		strings.Replace(act("missing@x.com", "Success", "", 0), `"batch_id":"b1"`, `"batch_id":"other"`, 1),
	}
	page := `{"code":0,"msg":"","traceId":"t","count":8,"next_link":null,"actions":[` + strings.Join(actions, ",") + `]}`
	srv, _ := scripted(t, map[string]func(int) (int, string){
		"POST /v1/mitigation/accounts": func(int) (int, string) { return 201, `{"code":0,"msg":"","batch_id":"b1","traceId":"t"}` },
		"GET /v1/mitigation/accounts":  func(int) (int, string) { return 200, page },
	})
	c := newScriptedClient(t, srv, nil)
	sub := submitOne(t, c, "created@x.com", "executing@x.com", "success@x.com", "skipped@x.com", "failed@x.com",
		"failedbare@x.com", "odd@x.com", "missing@x.com")
	p, err := c.Poll(providertest.Context(t), sub)
	if err != nil {
		t.Fatalf("Poll: %v", err)
	}
	want := []providers.ItemStatus{
		{Key: "created@x.com", Status: approvals.ItemRunning, Ref: "id-created"},
		{Key: "executing@x.com", Status: approvals.ItemRunning, Ref: "id-EXECUTING"},
		{Key: "success@x.com", Status: approvals.ItemSucceeded, Ref: "id-success"},
		{Key: "skipped@x.com", Status: approvals.ItemSkipped, Ref: "id-skipped", Detail: "nothing to do"},
		{Key: "failed@x.com", Status: approvals.ItemFailed, Ref: "id-failed", Detail: "graph api exception, message=One or more errors occurred."},
		{Key: "failedbare@x.com", Status: approvals.ItemFailed, Ref: "id-failedbare", Detail: "failed with error_code -999"},
		{Key: "odd@x.com", Status: approvals.ItemRunning, Ref: "id-odd", Detail: `sent; outcome not confirmed by the provider: TMCAS reports status "Pending"`},
		{Key: "missing@x.com", Status: approvals.ItemSubmitted},
	}
	if diff := cmp.Diff(providers.Progress{Items: want}, p); diff != "" {
		t.Errorf("Poll (-want +got):\n%s", diff)
	}
}

func TestMailCopiesCombine(t *testing.T) {
	const id = "<m@x>"
	sweep := `{"traceId":"t","next_link":"","value":[
		{"mailbox":"a@x.com","mail_message_id":"<m@x>","mail_unique_id":"a1","mail_message_delivery_time":"2020-08-08T03:20:53.000Z"},
		{"mailbox":"a@x.com","mail_message_id":"<m@x>","mail_unique_id":"a2","mail_message_delivery_time":"2020-08-08T03:20:54.000Z"},
		{"mailbox":"b@x.com","mail_message_id":"<m@x>","mail_unique_id":"b1","mail_message_delivery_time":"2020-08-08T03:20:53.000Z"},
		{"mailbox":"b@x.com","mail_message_id":"<m@x>","mail_unique_id":"b2","mail_message_delivery_time":"2020-08-08T03:20:54.000Z"},
		{"mailbox":"c@x.com","mail_message_id":"<m@x>","mail_unique_id":"c1","mail_message_delivery_time":"2020-08-08T03:20:53.000Z"},
		{"mailbox":"c@x.com","mail_message_id":"<m@x>","mail_unique_id":"c2","mail_message_delivery_time":"2020-08-08T03:20:54.000Z"},
		{"mailbox":"d@x.com","mail_message_id":"<m@x>","mail_unique_id":"d1","mail_message_delivery_time":"2020-08-08T03:20:53.000Z"},
		{"mailbox":"e@x.com","mail_message_id":"<m@x>","mail_unique_id":"e1","mail_message_delivery_time":"2020-08-08T03:20:53.000Z"},
		{"mailbox":"f@x.com","mail_message_id":"<other@x>","mail_unique_id":"f1","mail_message_delivery_time":"2020-08-08T03:20:53.000Z"}]}`
	res := func(box, uid, status string) string {
		m := map[string]any{"action_id": "id-" + uid, "batch_id": "b1", "action_type": "MAIL_DELETE", "service": "exchange",
			"account_provider": "office365", "account_user_email": box, "mailbox": box, "mail_message_id": id,
			"status": status, "error_code": 0, "error_message": status}
		if uid != "" {
			m["mail_unique_id"] = uid
		} else {
			m["action_id"] = "id-" + box
		}
		b, _ := json.Marshal(m)
		return string(b)
	}
	page := `{"code":0,"msg":"","traceId":"t","next_link":"null","actions":[` + strings.Join([]string{
		res("a@x.com", "a1", "Success"), res("a@x.com", "a2", "Failed"), // one copy failed → failed
		res("b@x.com", "b1", "Success"),                                  // b2 not listed yet → submitted
		res("c@x.com", "c1", "Success"), res("c@x.com", "c2", "Skipped"), // → succeeded
		res("D@x.com", "", "Success"), // no unique id: matched by Message-ID
		res("e@x.com", "e1", "Skipped"),
	}, ",") + `]}`
	srv, _ := scripted(t, map[string]func(int) (int, string){
		"GET /v1/sweeping/mails":    func(int) (int, string) { return 200, sweep },
		"POST /v1/mitigation/mails": func(int) (int, string) { return 201, `{"code":0,"msg":"","batch_id":"b1","traceId":"t"}` },
		"GET /v1/mitigation/mails":  func(int) (int, string) { return 200, page },
	})
	c := newScriptedClient(t, srv, nil)
	ctx := providertest.Context(t)
	batch := providertest.Batch(t, ctx, c, mailSpec("delete", nil, id))
	if len(batch.Items) != 5 {
		t.Fatalf("Resolve: got %d items, want 5 (f@x.com holds another message)", len(batch.Items))
	}
	sub, err := c.Submit(ctx, batch)
	if err != nil {
		t.Fatalf("Submit: %v", err)
	}
	p, err := c.Poll(ctx, sub)
	if err != nil {
		t.Fatalf("Poll: %v", err)
	}
	want := []providers.ItemStatus{
		{Key: id + "/a@x.com", Status: approvals.ItemFailed, Ref: "id-a1,id-a2", Detail: "Failed"},
		{Key: id + "/b@x.com", Status: approvals.ItemSubmitted, Ref: "id-b1"},
		{Key: id + "/c@x.com", Status: approvals.ItemSucceeded, Ref: "id-c1,id-c2"},
		{Key: id + "/d@x.com", Status: approvals.ItemSucceeded, Ref: "id-D@x.com"},
		{Key: id + "/e@x.com", Status: approvals.ItemSkipped, Ref: "id-e1", Detail: "Skipped"},
	}
	if diff := cmp.Diff(providers.Progress{Items: want}, p); diff != "" {
		t.Errorf("Poll (-want +got):\n%s", diff)
	}
}
