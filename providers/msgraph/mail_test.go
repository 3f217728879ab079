package msgraph

import (
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/countersign/countersign/approvals"
	"github.com/countersign/countersign/providers"
	"github.com/countersign/countersign/providers/internal/providertest"
	"github.com/countersign/countersign/providers/msgraph/graphtest"
)

const (
	nmidA = "73ca4154-58d8-43d0-a890-08dc18c52e6d"
	nmidB = "0b1d2c3e-4f50-4a6b-8c7d-9e0f1a2b3c4d"
	nmidC = "c0c0c0c0-1111-4222-8333-444455556666" // logged before the lookback
)

// mailNow is the clock of the mail tests, shared by fake and client.
var mailNow = func() time.Time { return time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC) }

func mailRecipients(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("user%d@contoso.com", i+1)
	}
	return out
}

// seedMail seeds message A to five recipients, message B to two (one of
// them also got A), and message C outside the lookback.
func seedMail(srv *graphtest.Server, location string) map[string]graphtest.Email {
	out := map[string]graphtest.Email{}
	for _, r := range mailRecipients(5) {
		out[nmidA+"/"+r] = srv.AddEmail(graphtest.Email{NetworkMessageID: nmidA, Recipient: r, Subject: "Invoice overdue",
			Sender: "billing@fabrikam.example", InternetMessageID: "<PH0PR11MB1234@PH0PR11MB1234.namprd11.prod.outlook.com>",
			Logged: mailNow().Add(-2 * time.Hour), Location: location})
	}
	for _, r := range []string{"user1@contoso.com", "other@contoso.com"} {
		out[nmidB+"/"+r] = srv.AddEmail(graphtest.Email{NetworkMessageID: nmidB, Recipient: r, Subject: "Other", Logged: mailNow().Add(-time.Hour)})
	}
	out[nmidC+"/old@contoso.com"] = srv.AddEmail(graphtest.Email{NetworkMessageID: nmidC, Recipient: "old@contoso.com", Subject: "Old",
		Logged: mailNow().Add(-40 * 24 * time.Hour)})
	return out
}

func mailSpec(action string, targets ...string) approvals.Spec {
	return approvals.Spec{Action: approvals.ActionPurgeMail, Provider: providers.Graph, Targets: targets,
		Mail: &approvals.MailOptions{Action: action}}
}

func TestResolveMail(t *testing.T) {
	f := newFixture(t, graphtest.Options{Seed: 10, PageSize: 2, Now: mailNow}, func(c *Config) { c.Now = mailNow })
	emails := seedMail(f.srv, "")
	ctx := providertest.Context(t)

	t.Run("every recipient across pages", func(t *testing.T) {
		f.srv.ResetCalls()
		got, err := f.c.Resolve(ctx, mailSpec("soft-delete", strings.ToUpper(nmidA)))
		if err != nil {
			t.Fatalf("Resolve: %v", err)
		}
		var want []providers.Resolved
		for _, r := range mailRecipients(5) {
			e := emails[nmidA+"/"+r]
			data, _ := json.Marshal(mailData{ID: e.ID, NetworkMessageID: nmidA, RecipientEmailAddress: r, Location: "inbox_folder", Since: "2026-02-08"})
			want = append(want, providers.Resolved{Key: nmidA + "/" + r, Target: strings.ToUpper(nmidA), Display: "Invoice overdue",
				State: "inbox_folder", Mailbox: r, Subject: "Invoice overdue", Data: data,
				Identity: approvals.Identity{ID: nmidA + "/" + r, Addresses: []string{r}}})
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("Resolve (-want +got):\n%s", diff)
		}
		var calls []graphtest.Call
		for _, c := range f.srv.Calls() {
			if c.Path == "/v1.0"+emailsPath {
				calls = append(calls, c)
			}
		}
		if len(calls) != 3 { // 5 recipients, 2 per page
			t.Fatalf("got %d analyzedEmails calls, want 3 pages", len(calls))
		}
		q, err := url.ParseQuery(calls[0].Query)
		if err != nil {
			t.Fatalf("query: %v", err)
		}
		wantQ := url.Values{"startTime": {"2026-02-08"}, "endTime": {"2026-03-11"}, "$filter": {"networkMessageId eq '" + nmidA + "'"}}
		if diff := cmp.Diff(wantQ, q); diff != "" {
			t.Errorf("first page query (-want +got):\n%s", diff)
		}
		if !strings.Contains(calls[0].Query, "$filter=networkMessageId%20eq%20") {
			t.Errorf("query %q: want $filter with %%20 for spaces", calls[0].Query)
		}
		for _, c := range calls[1:] {
			if !strings.Contains(c.Query, "$skiptoken=") {
				t.Errorf("follow-up query %q: want the nextLink's $skiptoken", c.Query)
			}
		}
	})

	t.Run("recipients filter", func(t *testing.T) {
		spec := mailSpec("junk", nmidA, nmidC, "<abc@example.com>")
		spec.Mail.Recipients = []string{"USER2@contoso.com", "missing@contoso.com"}
		got, err := f.c.Resolve(ctx, spec)
		if err != nil {
			t.Fatalf("Resolve: %v", err)
		}
		type row struct{ Key, Problem string }
		var rows []row
		for _, r := range got {
			rows = append(rows, row{r.Key, r.Problem})
		}
		want := []row{
			{nmidA + "/user2@contoso.com", ""},
			{nmidA + "/missing@contoso.com", "the message did not reach missing@contoso.com in the last 30 days"},
			{nmidC + "/user2@contoso.com", "the message did not reach user2@contoso.com in the last 30 days"},
			{nmidC + "/missing@contoso.com", "the message did not reach missing@contoso.com in the last 30 days"},
			{"<abc@example.com>", "not a network message id (a GUID such as 73ca4154-58d8-43d0-a890-08dc18c52e6d); an Internet Message-ID needs --provider tmcas"},
		}
		if diff := cmp.Diff(want, rows); diff != "" {
			t.Errorf("Resolve (-want +got):\n%s", diff)
		}
	})

	t.Run("outside the lookback", func(t *testing.T) {
		got, err := f.c.Resolve(ctx, mailSpec("", nmidC))
		if err != nil {
			t.Fatalf("Resolve: %v", err)
		}
		want := []providers.Resolved{{Key: nmidC, Target: nmidC, Display: nmidC, Problem: "no analyzed e-mail with this network message id in the last 30 days"}}
		if diff := cmp.Diff(want, got, cmpopts.EquateEmpty()); diff != "" {
			t.Errorf("Resolve (-want +got):\n%s", diff)
		}
	})
}

func TestPurgeMail(t *testing.T) {
	tests := []struct {
		action, graph, from, to string
	}{
		{"soft-delete", "softDelete", "inbox_folder", "deletedFolder"},
		{"hard-delete", "hardDelete", "inbox_folder", "others"},
		{"junk", "moveToJunk", "inbox_folder", "junkFolder"},
		{"deleted-items", "moveToDeletedItems", "inbox_folder", "deletedFolder"},
		{"inbox", "moveToInbox", "junkFolder", "inbox_folder"},
	}
	for _, tt := range tests {
		t.Run(tt.action, func(t *testing.T) {
			f := newFixture(t, graphtest.Options{Seed: 11, Now: mailNow}, func(c *Config) { c.Now = mailNow })
			f.srv.SetBehavior(graphtest.Behavior{RemediateAfterReads: 1})
			seedMail(f.srv, tt.from)
			ctx := providertest.Context(t)
			spec := mailSpec(tt.action, nmidA)
			spec.Mail.Severity, spec.Mail.SendersCopy = "high", true
			items, err := f.c.Resolve(ctx, spec)
			if err != nil || len(items) != 5 {
				t.Fatalf("Resolve: %v, %d items", err, len(items))
			}
			sub, err := f.c.Submit(ctx, providers.Batch{RequestID: 42, Spec: spec, Items: items,
				Label: "Countersign request 42", Note: "Phishing — approved by bob"})
			if err != nil {
				t.Fatalf("Submit: %v", err)
			}
			rs := f.srv.Remediations()
			if len(rs) != 1 {
				t.Fatalf("got %d remediations, want 1", len(rs))
			}
			var wantItems []graphtest.RemediationItem
			for _, r := range mailRecipients(5) {
				wantItems = append(wantItems, graphtest.RemediationItem{NetworkMessageID: nmidA, Recipient: r, Found: true})
			}
			want := graphtest.Remediation{BulkID: rs[0].BulkID, Location: rs[0].Location, DisplayName: "Countersign request 42",
				Description: "Phishing — approved by bob", Severity: "high", Action: tt.graph, SendersCopy: true, Items: wantItems, Time: mailNow()}
			if diff := cmp.Diff(want, rs[0]); diff != "" {
				t.Errorf("remediation (-want +got):\n%s", diff)
			}
			if sub.ID != rs[0].BulkID || sub.Link != rs[0].Location || rs[0].BulkID == "" {
				t.Errorf("submission: got id %q link %q, want bulkId %q and link %q", sub.ID, sub.Link, rs[0].BulkID, rs[0].Location)
			}
			for _, it := range sub.Items {
				if it.Ref != rs[0].BulkID {
					t.Errorf("item %s ref: got %q, want the bulkId", it.Key, it.Ref)
				}
			}
			// remediateSendersCopy is a JSON boolean, not the doc's "false".
			for _, c := range f.srv.Calls() {
				if strings.HasSuffix(c.Path, "/remediate") && !strings.Contains(string(c.Body), `"remediateSendersCopy":true`) {
					t.Errorf("remediate body %s: want a JSON boolean remediateSendersCopy", c.Body)
				}
			}
			p, err := f.c.Poll(ctx, sub)
			if err != nil {
				t.Fatalf("Poll 1: %v", err)
			}
			for _, it := range p.Items {
				if p.Done || it.Status != approvals.ItemRunning {
					t.Errorf("poll 1: got done %v, %s %s, want running", p.Done, it.Key, it.Status)
				}
			}
			p, err = f.c.Poll(ctx, sub)
			if err != nil {
				t.Fatalf("Poll 2: %v", err)
			}
			if !p.Done || len(p.Items) != 5 {
				t.Fatalf("poll 2: got %+v, want done with 5 items", p)
			}
			for _, it := range p.Items {
				if it.Status != approvals.ItemSucceeded || it.Detail != "the message is now in "+tt.to {
					t.Errorf("poll 2: %s got %s %q, want succeeded in %s", it.Key, it.Status, it.Detail, tt.to)
				}
			}
			if e, _ := f.srv.Email(nmidB, "user1@contoso.com"); e.Location != "inbox_folder" {
				t.Errorf("message B moved to %s; only A was remediated", e.Location)
			}
		})
	}
}

func TestPurgeMailPartialFailure(t *testing.T) {
	f := newFixture(t, graphtest.Options{Seed: 12, Now: mailNow}, func(c *Config) { c.Now = mailNow })
	f.srv.SetBehavior(graphtest.Behavior{EncodeLocation: true})
	seedMail(f.srv, "")
	f.srv.SetFaults(graphtest.Faults{FailRecipients: []string{"USER3@contoso.com"}})
	got, err := runToEnd(providertest.Context(t), f.c, mailSpec("soft-delete", nmidA), 5)
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	rs := f.srv.Remediations()
	for _, r := range mailRecipients(5) {
		st := got[nmidA+"/"+r]
		want := approvals.ItemSucceeded
		if r == "user3@contoso.com" {
			want = approvals.ItemFailed
			if !strings.Contains(st.Detail, "Graph timeline: Failed: Remediable email is still found in the mailbox") {
				t.Errorf("%s detail: got %q, want the timeline's failure", r, st.Detail)
			}
		}
		if st.Status != want || st.Ref != rs[0].BulkID {
			t.Errorf("%s: got %s ref %q, want %s ref %q (from an encoded Location)", r, st.Status, st.Ref, want, rs[0].BulkID)
		}
	}
}

func TestSubmitMailRejects(t *testing.T) {
	f := newFixture(t, graphtest.Options{Seed: 13}, nil)
	item := func(i int) providers.Resolved {
		d, _ := json.Marshal(mailData{NetworkMessageID: nmidA, RecipientEmailAddress: fmt.Sprintf("u%d@contoso.com", i)})
		return providers.Resolved{Key: fmt.Sprintf("%s/u%d@contoso.com", nmidA, i), Data: d}
	}
	many := make([]providers.Resolved, 101)
	for i := range many {
		many[i] = item(i)
	}
	badSeverity := mailSpec("soft-delete", nmidA)
	badSeverity.Mail.Severity = "critical"
	tests := []struct {
		name  string
		batch providers.Batch
		want  string
	}{
		{"over MaxItems", providers.Batch{Spec: mailSpec("soft-delete", nmidA), Items: many}, "101 items exceed the 100 allowed"},
		{"unknown severity", providers.Batch{Spec: badSeverity, Items: many[:1]}, `--severity "critical"`},
		{"tmcas action", providers.Batch{Spec: mailSpec("quarantine", nmidA), Items: many[:1]}, "not supported"},
		{"no data", providers.Batch{Spec: mailSpec("junk", nmidA), Items: []providers.Resolved{{Key: "k", Data: json.RawMessage(`{}`)}}}, "needs a network message id"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := f.c.Submit(providertest.Context(t), tt.batch)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Submit: got %v, want an error containing %q", err, tt.want)
			}
		})
	}
	if got := f.c.MaxItems(approvals.ActionPurgeMail); got != DefaultMaxMailItems {
		t.Errorf("MaxItems(purge-mail): got %d, want %d", got, DefaultMaxMailItems)
	}
	if n := len(f.srv.Calls()); n != 0 {
		t.Errorf("got %d calls to Graph, want none", n)
	}
}

func TestRemediationOutcome(t *testing.T) {
	submitted := time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC)
	ev := func(at time.Time, result string) timelineEvent {
		return timelineEvent{EventDateTime: at.Format(time.RFC3339), EventSource: "admin", EventResult: result, EventDetails: "d"}
	}
	mail := func(loc string, evs ...timelineEvent) *analyzedEmail {
		return &analyzedEmail{LatestDelivery: &deliveryDetail{Location: loc}, TimelineEvents: evs}
	}
	before := mailData{Location: "inbox_folder"}
	oldAdmin := ev(submitted.Add(-time.Hour), "Success")
	tests := []struct {
		name   string
		action string
		before mailData
		now    *analyzedEmail
		want   approvals.ItemStatus
		detail string
	}{
		{"not listed", "softDelete", before, nil, approvals.ItemRunning, "no longer lists"},
		{"junk reached", "moveToJunk", before, mail("junkFolder"), approvals.ItemSucceeded, "now in junkFolder"},
		{"junk pending", "moveToJunk", before, mail("inbox_folder"), approvals.ItemRunning, "still in inbox_folder"},
		{"junk: admin event but not moved", "moveToJunk", before, mail("inbox_folder", ev(submitted, "Success")), approvals.ItemRunning, "admin action"},
		{"inbox reached", "moveToInbox", mailData{Location: "junkFolder"}, mail("inbox_folder"), approvals.ItemSucceeded, "now in inbox_folder"},
		{"deleted items reached", "moveToDeletedItems", before, mail("deletedFolder"), approvals.ItemSucceeded, "now in deletedFolder"},
		{"soft delete left the inbox", "softDelete", before, mail("deletedFolder"), approvals.ItemSucceeded, "now in deletedFolder"},
		{"hard delete by admin event", "hardDelete", mailData{Location: "deletedFolder"}, mail("deletedFolder", ev(submitted, "Success")), approvals.ItemSucceeded, "now in deletedFolder"},
		{"hard delete, nothing yet from deleted items", "hardDelete", mailData{Location: "deletedFolder"}, mail("deletedFolder"), approvals.ItemRunning, "still in deletedFolder"},
		{"soft delete moved to junk only", "softDelete", before, mail("junkFolder"), approvals.ItemRunning, "still in junkFolder"},
		{"failed event", "softDelete", before, mail("inbox_folder", ev(submitted, "Failed")), approvals.ItemFailed, "Graph timeline: Failed: d"},
		{"not found event", "moveToJunk", before, mail("inbox_folder", ev(submitted, "Not found in mailbox")), approvals.ItemSkipped, "Not found"},
		{"admin event counted at resolve is old", "softDelete", mailData{Location: "inbox_folder", AdminEvents: 1},
			mail("inbox_folder", oldAdmin), approvals.ItemRunning, "still in inbox_folder"},
		{"admin event stamped well before submission", "softDelete", before, mail("inbox_folder", oldAdmin), approvals.ItemRunning, "still in inbox_folder"},
		{"unknown location", "softDelete", before, &analyzedEmail{}, approvals.ItemRunning, "still in unknown"},
		{"unknown action with admin event", "moveToQuarantine", before, mail("quarantine", ev(submitted, "Success")), approvals.ItemSucceeded, "admin action"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, detail := remediationOutcome(tt.action, tt.before, tt.now, submitted)
			if got != tt.want || !strings.Contains(detail, tt.detail) {
				t.Errorf("got %s %q, want %s containing %q", got, detail, tt.want, tt.detail)
			}
		})
	}
}

func TestPollMailKeepsResolveWindow(t *testing.T) {
	var mu sync.Mutex
	now := mailNow()
	clk := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	f := newFixture(t, graphtest.Options{Seed: 14, Now: clk}, func(c *Config) { c.Now = clk })
	f.srv.AddEmail(graphtest.Email{NetworkMessageID: nmidA, Recipient: "edge@contoso.com", Logged: mailNow().Add(-29*24*time.Hour - 12*time.Hour)})
	ctx := providertest.Context(t)
	spec := mailSpec("junk", nmidA)
	items, err := f.c.Resolve(ctx, spec)
	if err != nil || len(items) != 1 || items[0].Problem != "" {
		t.Fatalf("Resolve: %v %+v", err, items)
	}
	mu.Lock()
	now = now.Add(3 * 24 * time.Hour) // approved and run three days later
	mu.Unlock()
	sub, err := f.c.Submit(ctx, providers.Batch{Spec: spec, Items: items})
	if err != nil {
		t.Fatalf("Submit: %v", err)
	}
	p, err := f.c.Poll(ctx, sub)
	if err != nil || !p.Done || p.Items[0].Status != approvals.ItemSucceeded {
		t.Fatalf("Poll: %v %+v, want the message found in the resolve window and succeeded", err, p)
	}
	calls := f.srv.Calls()
	last, _ := url.ParseQuery(calls[len(calls)-1].Query)
	if got := last.Get("startTime") + ".." + last.Get("endTime"); got != "2026-02-08..2026-03-14" {
		t.Errorf("poll window: got %s, want 2026-02-08..2026-03-14", got)
	}
}
