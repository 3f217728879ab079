package tmcas_test

import (
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/countersign/countersign/approvals"
	"github.com/countersign/countersign/providers"
	"github.com/countersign/countersign/providers/internal/providertest"
	"github.com/countersign/countersign/providers/tmcas"
	"github.com/countersign/countersign/providers/tmcas/tmcastest"
)

func TestNew(t *testing.T) {
	tests := []struct {
		name    string
		cfg     tmcas.Config
		want    string // base URL
		wantErr string
	}{
		{name: "us", cfg: tmcas.Config{Region: "us", Token: "t"}, want: "https://api.tmcas.trendmicro.com"},
		{name: "eu", cfg: tmcas.Config{Region: "eu", Token: "t"}, want: "https://api-eu.tmcas.trendmicro.com"},
		{name: "jp", cfg: tmcas.Config{Region: "jp", Token: "t"}, want: "https://api.tmcas.trendmicro.co.jp"},
		{name: "au", cfg: tmcas.Config{Region: "au", Token: "t"}, want: "https://api-au.tmcas.trendmicro.com"},
		{name: "uk", cfg: tmcas.Config{Region: "uk", Token: "t"}, want: "https://api.tmcas.trendmicro.co.uk"},
		{name: "ca", cfg: tmcas.Config{Region: "ca", Token: "t"}, want: "https://api-ca.tmcas.trendmicro.com"},
		{name: "sg", cfg: tmcas.Config{Region: "sg", Token: "t"}, want: "https://api.tmcas.trendmicro.com.sg"},
		{name: "in", cfg: tmcas.Config{Region: "in", Token: "t"}, want: "https://api-in.tmcas.trendmicro.com"},
		{name: "region case", cfg: tmcas.Config{Region: "EU", Token: "t"}, want: "https://api-eu.tmcas.trendmicro.com"},
		{name: "base URL overrides region", cfg: tmcas.Config{Region: "eu", BaseURL: "https://proxy.example/tmcas/", Token: "t"}, want: "https://proxy.example/tmcas"},
		{name: "loopback http", cfg: tmcas.Config{BaseURL: "http://127.0.0.1:8080", Token: "t"}, want: "http://127.0.0.1:8080"},
		{name: "unknown region", cfg: tmcas.Config{Region: "uae", Token: "t"}, wantErr: `unknown region "uae" (known: us, eu, uk, ca, jp, sg, au, in; set base_url for others)`},
		{name: "no region", cfg: tmcas.Config{Token: "t"}, wantErr: "region or base URL is required"},
		{name: "no token", cfg: tmcas.Config{Region: "us"}, wantErr: "token is required"},
		{name: "token with newline", cfg: tmcas.Config{Region: "us", Token: "a\nb"}, wantErr: "line break"},
		{name: "plain http elsewhere", cfg: tmcas.Config{BaseURL: "http://api.example", Token: "t"}, wantErr: "plain http is allowed only for loopback"},
		{name: "other scheme", cfg: tmcas.Config{BaseURL: "ftp://api.example", Token: "t"}, wantErr: "scheme must be https"},
		{name: "query in base", cfg: tmcas.Config{BaseURL: "https://api.example/?x=1", Token: "t"}, wantErr: "without user, query or fragment"},
		{name: "too many sweep days", cfg: tmcas.Config{Region: "us", Token: "t", SweepDays: 91}, wantErr: "exceed the 90 days"},
		{name: "negative", cfg: tmcas.Config{Region: "us", Token: "t", RequestsPerMinute: -1}, wantErr: "must not be negative"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := tmcas.New(tt.cfg)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("New: got error %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("New: %v", err)
			}
			if got := c.BaseURL(); got != tt.want {
				t.Errorf("BaseURL: got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestSupportsAndMaxItems(t *testing.T) {
	f := newFake(t, tmcastest.Options{})
	c := newClient(t, f, func(cfg *tmcas.Config) { cfg.MaxItemsPerCall = 7 })
	if got := c.Name(); got != providers.TMCAS {
		t.Errorf("Name: got %q, want %q", got, providers.TMCAS)
	}
	want := map[approvals.Action]bool{
		approvals.ActionDisable: true, approvals.ActionResetPassword: true, approvals.ActionEnableMFA: true,
		approvals.ActionRevokeSessions: true, approvals.ActionPurgeMail: true,
		approvals.ActionEnable: false, approvals.ActionRequireSignIn: false, approvals.ActionMarkCompromised: false,
		approvals.ActionBlockIP: false,
	}
	for _, a := range approvals.Actions() {
		if got := c.Supports(a); got != want[a] {
			t.Errorf("Supports(%s): got %v, want %v", a, got, want[a])
		}
		// The capability matrix and the client must agree.
		if got := providers.Capable(providers.TMCAS, a); got != want[a] {
			t.Errorf("providers.Capable(tmcas, %s): got %v, want %v", a, got, want[a])
		}
		wantMax := 0
		if want[a] {
			wantMax = 7
		}
		if got := providers.MaxItems(c, a); got != wantMax {
			t.Errorf("MaxItems(%s): got %d, want %d", a, got, wantMax)
		}
	}
}

func TestResolveAccounts(t *testing.T) {
	f := newFake(t, tmcastest.Options{})
	c := newClient(t, f, nil)
	got, err := c.Resolve(providertest.Context(t), accountSpec(approvals.ActionDisable, "Mallory@Contoso.com", "mallory@contoso.com", "not an address", "a@b"))
	if err != nil {
		t.Fatalf("Resolve: %v", err)
	}
	want := []providers.Resolved{
		{Key: "mallory@contoso.com", Target: "Mallory@Contoso.com", Display: "Mallory@Contoso.com", Account: "Mallory@Contoso.com", State: tmcas.StateUnknownAccount,
			Identity: approvals.Identity{ID: "mallory@contoso.com", Addresses: []string{"mallory@contoso.com"}}},
		{Key: "not an address", Target: "not an address", Display: "not an address", Account: "not an address", Problem: "not a valid e-mail address"},
		{Key: "a@b", Target: "a@b", Display: "a@b", Account: "a@b", Problem: "not a valid e-mail address"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Resolve (-want +got):\n%s", diff)
	}
	if n := len(f.Calls()); n != 0 {
		t.Errorf("Resolve of accounts made %d calls, want 0 (TMCAS has no lookup)", n)
	}
	var perr *providers.Error
	if _, err := c.Resolve(providertest.Context(t), accountSpec(approvals.ActionEnable, "a@contoso.com")); !errors.Is(err, providers.ErrUnsupported) ||
		!errors.As(err, &perr) || perr.Msg != "tmcas cannot enable" {
		t.Errorf("Resolve(enable): got %v, want ErrUnsupported saying %q", err, "tmcas cannot enable")
	}
}

// seedMessage puts one message into several mailboxes.
func seedMessage(f *tmcastest.Server, id, subject string, delivered time.Time, boxes ...string) []tmcastest.Mail {
	var out []tmcastest.Mail
	for _, b := range boxes {
		out = append(out, f.AddMail(tmcastest.Mail{Mailbox: b, MessageID: id, Subject: subject, Delivered: delivered}))
	}
	return out
}

func TestResolveMail(t *testing.T) {
	const id = "<DB7PR07MB1234@DB7PR07MB1234.eurprd07.prod.outlook.com>"
	delivered := time.Now().Add(-2 * time.Hour).UTC().Truncate(time.Millisecond)
	f := newFake(t, tmcastest.Options{})
	seeded := seedMessage(f, id, "Invoice overdue", delivered, "hannah@contoso.com", "Preston@contoso.com")
	second := f.AddMail(tmcastest.Mail{Mailbox: "hannah@contoso.com", MessageID: id, Subject: "Invoice overdue", Delivered: delivered.Add(time.Minute)})
	f.AddMail(tmcastest.Mail{Mailbox: "old@contoso.com", MessageID: id, Delivered: time.Now().Add(-40 * 24 * time.Hour)})
	f.AddMail(tmcastest.Mail{Mailbox: "other@contoso.com", MessageID: "<other@contoso.com>"})
	c := newClient(t, f, nil)

	data := func(copies ...tmcastest.Mail) json.RawMessage {
		type cp struct {
			UniqueID  string `json:"mail_unique_id"`
			Delivered string `json:"mail_message_delivery_time"`
		}
		d := struct {
			MessageID string `json:"mail_message_id"`
			Copies    []cp   `json:"copies"`
		}{MessageID: id}
		for _, m := range copies {
			d.Copies = append(d.Copies, cp{m.UniqueID, m.Delivered.Format("2006-01-02T15:04:05.000Z")})
		}
		b, _ := json.Marshal(d)
		return b
	}
	state := "delivered " + delivered.Format(time.RFC3339)
	hannah := providers.Resolved{Key: id + "/hannah@contoso.com", Target: id, Display: "Invoice overdue", State: state + " (2 copies)",
		Account: "hannah@contoso.com", Mailbox: "hannah@contoso.com", Subject: "Invoice overdue", Data: data(seeded[0], second),
		Identity: approvals.Identity{ID: id + "/hannah@contoso.com", Addresses: []string{"hannah@contoso.com"}}}
	preston := providers.Resolved{Key: id + "/preston@contoso.com", Target: id, Display: "Invoice overdue", State: state,
		Account: "preston@contoso.com", Mailbox: "preston@contoso.com", Subject: "Invoice overdue", Data: data(seeded[1]),
		Identity: approvals.Identity{ID: id + "/preston@contoso.com", Addresses: []string{"preston@contoso.com"}}}

	tests := []struct {
		name       string
		recipients []string
		targets    []string
		want       []providers.Resolved
	}{
		{name: "every mailbox", targets: []string{id}, want: []providers.Resolved{hannah, preston}},
		{name: "recipient filter", recipients: []string{"PRESTON@contoso.com"}, targets: []string{id}, want: []providers.Resolved{preston}},
		{name: "recipient not found", recipients: []string{"hannah@contoso.com", "nobody@contoso.com"}, targets: []string{id},
			want: []providers.Resolved{hannah, {Key: id + "/nobody@contoso.com", Target: id, Display: id, Account: "nobody@contoso.com",
				Mailbox: "nobody@contoso.com", Problem: "not found in this mailbox in the last 30 days"}}},
		{name: "nowhere", targets: []string{"<gone@contoso.com>"},
			want: []providers.Resolved{{Key: "<gone@contoso.com>", Target: "<gone@contoso.com>", Display: "<gone@contoso.com>",
				Problem: "not found in any mailbox in the last 30 days"}}},
		{name: "graph network message id", targets: []string{"73ca4154-58d8-43d0-a890-08dc18c52e6d"},
			want: []providers.Resolved{{Key: "73ca4154-58d8-43d0-a890-08dc18c52e6d", Target: "73ca4154-58d8-43d0-a890-08dc18c52e6d",
				Display: "73ca4154-58d8-43d0-a890-08dc18c52e6d",
				Problem: "this looks like a Microsoft Graph network message id; TMCAS needs the Internet Message-ID (<…@…>) from the message headers"}}},
		{name: "no angle brackets", targets: []string{"abc@contoso.com"},
			want: []providers.Resolved{{Key: "abc@contoso.com", Target: "abc@contoso.com", Display: "abc@contoso.com",
				Problem: "not an Internet Message-ID: expected <…@…> with the angle brackets"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := c.Resolve(providertest.Context(t), mailSpec("delete", tt.recipients, tt.targets...))
			if err != nil {
				t.Fatalf("Resolve: %v", err)
			}
			if diff := cmp.Diff(tt.want, got, cmp.Transformer("json", func(r json.RawMessage) string { return string(r) })); diff != "" {
				t.Errorf("Resolve (-want +got):\n%s", diff)
			}
		})
	}

	// The sweep asks the way §1.7 shows, percent-encoding the Message-ID.
	calls := f.Calls()
	var sweep *tmcastest.Call
	for i := range calls {
		if calls[i].Path == "/v1/sweeping/mails" {
			sweep = &calls[i]
			break
		}
	}
	if sweep == nil {
		t.Fatal("no sweep call recorded")
	}
	wantQuery := "lastndays=30&limit=1000&message_id=%3CDB7PR07MB1234%40DB7PR07MB1234.eurprd07.prod.outlook.com%3E"
	if got := sweep.Query.Encode(); got != wantQuery {
		t.Errorf("sweep query: got %q, want %q", got, wantQuery)
	}
	if n := countCalls(calls, http.MethodGet, "/v1/sweeping/mails"); n != 4 {
		t.Errorf("sweep calls: got %d, want 4 (GUID and bracket-less targets need none)", n)
	}
}

func TestResolveMailSweepDays(t *testing.T) {
	f := newFake(t, tmcastest.Options{})
	f.AddMail(tmcastest.Mail{Mailbox: "a@contoso.com", MessageID: "<m@x>", Delivered: time.Now().Add(-10 * 24 * time.Hour)})
	c := newClient(t, f, func(cfg *tmcas.Config) { cfg.SweepDays = 7 })
	got, err := c.Resolve(providertest.Context(t), mailSpec("quarantine", nil, "<m@x>"))
	if err != nil {
		t.Fatalf("Resolve: %v", err)
	}
	if len(got) != 1 || got[0].Problem != "not found in any mailbox in the last 7 days" {
		t.Errorf("Resolve: got %+v, want one item with the 7-day problem", got)
	}
	if q := f.Calls()[0].Query.Get("lastndays"); q != "7" {
		t.Errorf("lastndays: got %q, want 7", q)
	}
}

func TestSubmitAndPollAccounts(t *testing.T) {
	tests := []struct {
		action approvals.Action
		wire   string
		check  func(tmcastest.Account) bool
	}{
		{approvals.ActionDisable, "ACCOUNT_DISABLE", func(a tmcastest.Account) bool { return a.Disabled }},
		{approvals.ActionResetPassword, "ACCOUNT_RESET_PASSWORD", func(a tmcastest.Account) bool { return a.PasswordResets == 1 }},
		{approvals.ActionEnableMFA, "ACCOUNT_ENABLE_MFA", func(a tmcastest.Account) bool { return a.MFAEnabled }},
		{approvals.ActionRevokeSessions, "ACCOUNT_REVOKE_SIGNIN_SESSIONS", func(a tmcastest.Account) bool { return a.SessionsRevoked == 1 }},
	}
	for _, tt := range tests {
		t.Run(string(tt.action), func(t *testing.T) {
			now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
			f := newFake(t, tmcastest.Options{})
			f.AddAccount("alice@contoso.com")
			f.AddAccount("bob@contoso.com")
			c := newClient(t, f, func(cfg *tmcas.Config) { cfg.Now = func() time.Time { return now } })
			ctx := providertest.Context(t)
			sub := providertest.Submit(t, ctx, c, accountSpec(tt.action, "alice@contoso.com", "bob@contoso.com"))
			batches := f.BatchIDs()
			if len(batches) != 1 || sub.ID != batches[0] {
				t.Fatalf("Submit: batch id %q, fake has %v", sub.ID, batches)
			}
			wantSub := providers.Submission{Provider: providers.TMCAS, ID: batches[0], SubmittedAt: now,
				Items: []providers.SubmittedItem{{Key: "alice@contoso.com"}, {Key: "bob@contoso.com"}}}
			if diff := cmp.Diff(wantSub, sub, cmp.FilterPath(func(p cmp.Path) bool { return p.Last().String() == ".Data" }, cmp.Ignore())); diff != "" {
				t.Errorf("Submission (-want +got):\n%s", diff)
			}
			// The submission survives the engine's JSON round trip.
			b, err := json.Marshal(sub)
			if err != nil {
				t.Fatal(err)
			}
			var stored providers.Submission
			if err := json.Unmarshal(b, &stored); err != nil {
				t.Fatal(err)
			}
			post := f.Calls()[0]
			wantBody := `[{"action_type":"` + tt.wire + `","service":"exchange","account_provider":"office365","account_user_email":"alice@contoso.com"},` +
				`{"action_type":"` + tt.wire + `","service":"exchange","account_provider":"office365","account_user_email":"bob@contoso.com"}]`
			if got := string(post.Body); got != wantBody {
				t.Errorf("POST body:\ngot  %s\nwant %s", got, wantBody)
			}
			p := providertest.PollToEnd(t, ctx, c, stored, 50)
			if diff := cmp.Diff(map[string]approvals.ItemStatus{"alice@contoso.com": approvals.ItemSucceeded, "bob@contoso.com": approvals.ItemSucceeded}, providertest.Statuses(p)); diff != "" {
				t.Errorf("statuses (-want +got):\n%s", diff)
			}
			for _, it := range p.Items {
				if it.Ref == "" {
					t.Errorf("item %s has no action_id ref", it.Key)
				}
			}
			for _, e := range []string{"alice@contoso.com", "bob@contoso.com"} {
				if a, _ := f.Account(e); !tt.check(a) {
					t.Errorf("fake account %s after %s: %+v", e, tt.action, a)
				}
			}
		})
	}
}

func TestSubmitAndPollMail(t *testing.T) {
	const id = "<phish@fabrikam.example>"
	tests := []struct {
		action, wire, folder string
	}{
		{"delete", "MAIL_DELETE", tmcastest.FolderDeleted},
		{"quarantine", "MAIL_QUARANTINE", tmcastest.FolderQuarantine},
	}
	for _, tt := range tests {
		t.Run(tt.action, func(t *testing.T) {
			f := newFake(t, tmcastest.Options{})
			seedMessage(f, id, "Invoice", time.Now().Add(-time.Hour), "a@contoso.com", "b@contoso.com")
			f.AddMail(tmcastest.Mail{Mailbox: "a@contoso.com", MessageID: id, Subject: "Invoice"}) // a second copy
			c := newClient(t, f, nil)
			ctx := providertest.Context(t)
			sub := providertest.Submit(t, ctx, c, mailSpec(tt.action, nil, id))
			acts := f.Actions(sub.ID)
			if len(acts) != 3 {
				t.Fatalf("fake batch has %d actions, want 3 (one per copy)", len(acts))
			}
			for _, a := range acts {
				if a.Type != tt.wire || a.MessageID != id || a.UniqueID == "" {
					t.Errorf("action %+v: want type %s, message id and unique id", a, tt.wire)
				}
			}
			p := providertest.PollToEnd(t, ctx, c, sub, 50)
			want := map[string]approvals.ItemStatus{id + "/a@contoso.com": approvals.ItemSucceeded, id + "/b@contoso.com": approvals.ItemSucceeded}
			if diff := cmp.Diff(want, providertest.Statuses(p)); diff != "" {
				t.Errorf("statuses (-want +got):\n%s", diff)
			}
			if p.Items[0].Ref == "" || !strings.Contains(p.Items[0].Ref, ",") {
				t.Errorf("mailbox with two copies: got ref %q, want two action ids", p.Items[0].Ref)
			}
			for _, m := range f.Mails(id) {
				if m.Folder != tt.folder {
					t.Errorf("mail %s in %s: got folder %q, want %q", m.UniqueID, m.Mailbox, m.Folder, tt.folder)
				}
			}
		})
	}
}

func TestSubmitRefuses(t *testing.T) {
	f := newFake(t, tmcastest.Options{})
	c := newClient(t, f, func(cfg *tmcas.Config) { cfg.MaxItemsPerCall = 3 })
	acct := func(keys ...string) []providers.Resolved {
		var out []providers.Resolved
		for _, k := range keys {
			out = append(out, providers.Resolved{Key: k, Account: k})
		}
		return out
	}
	tests := []struct {
		name    string
		batch   providers.Batch
		wantErr string
		is      error
	}{
		{name: "more than MaxItemsPerCall", batch: providers.Batch{Spec: accountSpec(approvals.ActionDisable),
			Items: acct("a@x.com", "b@x.com", "c@x.com", "d@x.com")}, wantErr: "makes 4 rows (one per account or copy of a message), more than the 3 allowed"},
		{name: "mail copies over MaxItemsPerCall", batch: providers.Batch{Spec: mailSpec("delete", nil),
			Items: []providers.Resolved{{Key: "k", Mailbox: "a@x.com", Data: json.RawMessage(`{"mail_message_id":"<a@b>","copies":[{"mail_unique_id":"u1"},{"mail_unique_id":"u2"},{"mail_unique_id":"u3"},{"mail_unique_id":"u4"}]}`)}}},
			wantErr: "makes 4 rows (one per account or copy of a message), more than the 3 allowed"},
		{name: "empty", batch: providers.Batch{Spec: accountSpec(approvals.ActionDisable)}, wantErr: "nothing to submit"},
		{name: "item with a problem", batch: providers.Batch{Spec: accountSpec(approvals.ActionDisable),
			Items: []providers.Resolved{{Key: "x", Problem: "not a valid e-mail address"}}}, wantErr: "cannot be acted on"},
		{name: "repeated key", batch: providers.Batch{Spec: accountSpec(approvals.ActionDisable),
			Items: acct("a@x.com", "a@x.com")}, wantErr: "empty or repeated"},
		{name: "unsupported action", batch: providers.Batch{Spec: accountSpec(approvals.ActionEnable),
			Items: acct("a@x.com")}, is: providers.ErrUnsupported},
		{name: "bad address", batch: providers.Batch{Spec: accountSpec(approvals.ActionDisable),
			Items: acct("a@@x")}, wantErr: "not a valid e-mail address"},
		{name: "graph mail action", batch: providers.Batch{Spec: mailSpec("soft-delete", nil),
			Items: []providers.Resolved{{Key: "k", Mailbox: "a@x.com", Data: json.RawMessage(`{"mail_message_id":"<a@b>","copies":[{"mail_unique_id":"u"}]}`)}}},
			is: providers.ErrUnsupported},
		{name: "mail without sweep data", batch: providers.Batch{Spec: mailSpec("delete", nil),
			Items: []providers.Resolved{{Key: "k", Mailbox: "a@x.com"}}}, wantErr: "mail data"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := c.Submit(providertest.Context(t), tt.batch)
			switch {
			case err == nil:
				t.Fatal("Submit: got nil error")
			case tt.is != nil && !errors.Is(err, tt.is):
				t.Errorf("Submit: got %v, want %v", err, tt.is)
			case tt.wantErr != "" && !strings.Contains(err.Error(), tt.wantErr):
				t.Errorf("Submit: got %v, want it to contain %q", err, tt.wantErr)
			}
			if errors.Is(err, providers.ErrUncertain) || errors.Is(err, providers.ErrTemporary) {
				t.Errorf("Submit: %v must be neither uncertain nor temporary", err)
			}
		})
	}
	if n := len(f.Calls()); n != 0 {
		t.Errorf("refused batches made %d calls, want 0", n)
	}
}

func TestPollProgress(t *testing.T) {
	f := newFake(t, tmcastest.Options{Faults: tmcastest.Faults{HiddenPolls: 1, CreatedPolls: 1, ExecutingPolls: 2,
		FailTargets: []string{"CAROL@contoso.com"}}})
	for _, e := range []string{"alice@contoso.com", "carol@contoso.com"} {
		f.AddAccount(e)
	}
	c := newClient(t, f, nil)
	ctx := providertest.Context(t)
	spec := accountSpec(approvals.ActionDisable, "alice@contoso.com", "carol@contoso.com", "nobody@contoso.com")
	sub := providertest.Submit(t, providertest.Context(t), c, spec)
	type st = map[string]approvals.ItemStatus
	all := func(s approvals.ItemStatus) st {
		return st{"alice@contoso.com": s, "carol@contoso.com": s, "nobody@contoso.com": s}
	}
	want := []st{
		all(approvals.ItemSubmitted), // hidden: not listed yet
		all(approvals.ItemRunning),   // Created
		all(approvals.ItemRunning),   // Executing
		all(approvals.ItemRunning),   // Executing
		{"alice@contoso.com": approvals.ItemSucceeded, "carol@contoso.com": approvals.ItemFailed, "nobody@contoso.com": approvals.ItemFailed},
	}
	for i, w := range want {
		p, err := c.Poll(ctx, sub)
		if err != nil {
			t.Fatalf("poll %d: %v", i+1, err)
		}
		if diff := cmp.Diff(w, providertest.Statuses(p)); diff != "" {
			t.Errorf("poll %d statuses (-want +got):\n%s", i+1, diff)
		}
		if wantDone := i == len(want)-1; p.Done != wantDone {
			t.Errorf("poll %d: Done %v, want %v", i+1, p.Done, wantDone)
		}
		if i == len(want)-1 {
			details := map[string]string{}
			for _, it := range p.Items {
				details[it.Key] = it.Detail
			}
			wantDetails := map[string]string{
				"alice@contoso.com":  "",
				"carol@contoso.com":  "graph api exception, message=One or more errors occurred.",
				"nobody@contoso.com": "graph api exception, message=User not found.",
			}
			if diff := cmp.Diff(wantDetails, details); diff != "" {
				t.Errorf("details (-want +got):\n%s", diff)
			}
		}
	}
	if a, _ := f.Account("carol@contoso.com"); a.Disabled {
		t.Error("failed target carol was disabled")
	}
}

func TestUnknownUsers(t *testing.T) {
	tests := []struct {
		mode       tmcastest.UnknownUsers
		want       approvals.ItemStatus
		wantSubmit string // error from Submit
	}{
		{mode: tmcastest.UnknownFail, want: approvals.ItemFailed},
		{mode: tmcastest.UnknownSkip, want: approvals.ItemSkipped},
		{mode: tmcastest.UnknownAccept, want: approvals.ItemSucceeded},
		{mode: tmcastest.UnknownReject, wantSubmit: "HTTP 400"},
	}
	for _, tt := range tests {
		t.Run(string(tt.want)+tt.wantSubmit, func(t *testing.T) {
			f := newFake(t, tmcastest.Options{Faults: tmcastest.Faults{UnknownUsers: tt.mode}})
			c := newClient(t, f, nil)
			ctx := providertest.Context(t)
			spec := accountSpec(approvals.ActionDisable, "ghost@contoso.com")
			items, _ := c.Resolve(ctx, spec)
			sub, err := c.Submit(ctx, providers.Batch{Spec: spec, Items: items})
			if tt.wantSubmit != "" {
				var apiErr *tmcas.Error
				if err == nil || !strings.Contains(err.Error(), tt.wantSubmit) || !errors.As(err, &apiErr) || apiErr.Status != http.StatusBadRequest {
					t.Fatalf("Submit: got %v, want a *tmcas.Error with %q", err, tt.wantSubmit)
				}
				if apiErr.TraceID == "" || apiErr.Code == 0 {
					t.Errorf("decoded error %+v lacks traceId or code", apiErr)
				}
				if errors.Is(err, providers.ErrTemporary) || errors.Is(err, providers.ErrUncertain) {
					t.Errorf("a 400 is neither temporary nor uncertain: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Submit: %v", err)
			}
			p := providertest.PollToEnd(t, ctx, c, sub, 50)
			if got := p.Items[0].Status; got != tt.want {
				t.Errorf("status: got %s, want %s", got, tt.want)
			}
		})
	}
}

func TestMsgNull(t *testing.T) {
	for _, null := range []bool{false, true} {
		f := newFake(t, tmcastest.Options{Faults: tmcastest.Faults{MsgNull: null}})
		f.AddAccount("a@contoso.com")
		c := newClient(t, f, nil)
		spec := accountSpec(approvals.ActionDisable, "a@contoso.com")
		items, _ := c.Resolve(providertest.Context(t), spec)
		sub, err := c.Submit(providertest.Context(t), providers.Batch{Spec: spec, Items: items})
		if err != nil || sub.ID == "" {
			t.Errorf("MsgNull=%v: Submit got %+v, %v", null, sub, err)
		}
	}
}

func TestPollRejectsForeignSubmission(t *testing.T) {
	f := newFake(t, tmcastest.Options{})
	c := newClient(t, f, nil)
	tests := []struct {
		name string
		sub  providers.Submission
	}{
		{"other provider", providers.Submission{Provider: providers.Graph, ID: "x", Data: json.RawMessage(`{"kind":"accounts"}`)}},
		{"no batch id", providers.Submission{Provider: providers.TMCAS, Data: json.RawMessage(`{"kind":"accounts"}`)}},
		{"bad kind", providers.Submission{Provider: providers.TMCAS, ID: "x", Data: json.RawMessage(`{"kind":"siem"}`)}},
		{"bad data", providers.Submission{Provider: providers.TMCAS, ID: "x", Data: json.RawMessage(`[`)}},
	}
	for _, tt := range tests {
		if _, err := c.Poll(providertest.Context(t), tt.sub); err == nil {
			t.Errorf("%s: Poll got nil error", tt.name)
		}
	}
	if n := len(f.Calls()); n != 0 {
		t.Errorf("got %d calls, want 0", n)
	}
}

func TestPollIgnoresOtherBatches(t *testing.T) {
	// Two batches for the same account: each poll reports only its own.
	f := newFake(t, tmcastest.Options{Faults: tmcastest.Faults{FailTargets: []string{}}})
	f.AddAccount("a@contoso.com")
	c := newClient(t, f, nil)
	ctx := providertest.Context(t)
	spec := accountSpec(approvals.ActionDisable, "a@contoso.com")
	items, _ := c.Resolve(ctx, spec)
	first, err := c.Submit(ctx, providers.Batch{Spec: spec, Items: items})
	if err != nil {
		t.Fatal(err)
	}
	f.UpdateFaults(func(fl *tmcastest.Faults) { fl.FailTargets = []string{"a@contoso.com"} })
	second, err := c.Submit(ctx, providers.Batch{Spec: spec, Items: items})
	if err != nil {
		t.Fatal(err)
	}
	if got := providertest.PollToEnd(t, ctx, c, second, 50).Items[0].Status; got != approvals.ItemFailed {
		t.Errorf("second batch: got %s, want failed", got)
	}
	f.UpdateFaults(func(fl *tmcastest.Faults) { fl.FailTargets = nil })
	if got := providertest.PollToEnd(t, ctx, c, first, 50).Items[0].Status; got != approvals.ItemSucceeded {
		t.Errorf("first batch: got %s, want succeeded", got)
	}
	if ids := f.BatchIDs(); !slices.Equal(ids, []string{first.ID, second.ID}) {
		t.Errorf("batches: got %v", ids)
	}
}

func TestRateLimitWaitObserved(t *testing.T) {
	f := newFake(t, tmcastest.Options{})
	var mu sync.Mutex
	waits := 0
	c := newClient(t, f, func(cfg *tmcas.Config) {
		cfg.RateLimitWait = func(time.Duration) { mu.Lock(); waits++; mu.Unlock() }
	})
	seedMessage(f, "<m1@x>", "hello", time.Now().Add(-time.Hour), "a@contoso.com")
	if _, err := c.Resolve(providertest.Context(t), approvals.Spec{Action: approvals.ActionPurgeMail, Provider: "tmcas", Targets: []string{"<m1@x>"}, Mail: &approvals.MailOptions{Action: "quarantine"}}); err != nil {
		t.Fatalf("Resolve: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if calls := len(f.Calls()); waits != calls || calls == 0 {
		t.Errorf("observer told of %d waits for %d calls", waits, calls)
	}
}
