package msgraph

import (
	"net/url"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"

	"github.com/countersign/countersign/approvals"
	"github.com/countersign/countersign/providers"
)

func TestDecodeError(t *testing.T) {
	tests := []struct {
		name string
		body string
		want Error
	}{
		{"documented innerError", `{"error": {"code": "itemNotFound", "message": "gone", "innerError": {"request-id": "94fb3b52", "date": "2020-08-18T12:51:51"}}}`,
			Error{Status: 404, Code: "itemNotFound", Message: "gone", RequestID: "94fb3b52", Date: "2020-08-18T12:51:51"}},
		{"prose spelling innererror", `{"error": {"code": "x", "message": "m", "innererror": {"request-id": "r1", "date": "d1"}}}`,
			Error{Status: 404, Code: "x", Message: "m", RequestID: "r1", Date: "d1"}},
		{"nested, ids deeper down", `{"error": {"code": "x", "message": "m", "innerError": {"code": "429", "innerError": {"request-id": "r2", "date": "d2"}}}}`,
			Error{Status: 404, Code: "x", Message: "m", RequestID: "r2", Date: "d2"}},
		{"message as an object", `{"error": {"code": "Authorization_RequestDenied", "message": {"lang": "en", "value": "Insufficient privileges"}}}`,
			Error{Status: 404, Code: "Authorization_RequestDenied", Message: "Insufficient privileges"}},
		{"control characters and length", `{"error": {"code": "c\u0007", "message": "a\nb\t\tc` + strings.Repeat("x", 400) + `"}}`,
			Error{Status: 404, Code: "c", Message: "a b c" + strings.Repeat("x", maxText-5) + "…"}},
		{"not JSON", `<html>Bad gateway</html>`, Error{Status: 404, Message: "Not Found"}},
		{"no error member", `{"value": []}`, Error{Status: 404, Message: "Not Found"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := decodeError(404, []byte(tt.body))
			if diff := cmp.Diff(tt.want, *got); diff != "" {
				t.Errorf("decodeError (-want +got):\n%s", diff)
			}
		})
	}
}

func TestDecodeInvokeActionResult(t *testing.T) {
	want := invokeActionResult{AccountID: "256db173", Action: "disable", IdentityProvider: "activeDirectory", CorrelationID: "ed2f052b"}
	tests := []struct {
		name, body string
		want       invokeActionResult
	}{
		{"schema", `{"@odata.context": "x", "accountId": "256db173", "action": "disable", "identityProvider": "activeDirectory", "correlationId": "ed2f052b"}`, want},
		{"doc example", `{"value": {"accountId": "256db173", "action": "disable", "provider": "activeDirectory", "correlationId": "ed2f052b"}}`,
			invokeActionResult{AccountID: "256db173", Action: "disable", IdentityProvider: "activeDirectory", Provider: "activeDirectory", CorrelationID: "ed2f052b"}},
		{"value wrapper, schema key", `{"value": { "accountId": "256db173", "action": "disable", "identityProvider": "activeDirectory", "correlationId": "ed2f052b"}}`, want},
		{"value that is not an object", `{"value": "x", "accountId": "256db173", "action": "disable", "identityProvider": "activeDirectory", "correlationId": "ed2f052b"}`, want},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := decodeInvokeActionResult([]byte(tt.body))
			if err != nil {
				t.Fatalf("decode: %v", err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
	if _, err := decodeInvokeActionResult([]byte(`[1]`)); err == nil {
		t.Error("decode of an array: want an error")
	}
}

func TestParseBulkID(t *testing.T) {
	const id = "6b8a2f3e-2c1d-4b5a-9e8f-7a6b5c4d3e2f"
	tests := []struct {
		name, loc, want string
		ok              bool
	}{
		{"doc form, raw JSON", `https://security.microsoft.com/action-center/history?filters={"bulkId":["` + id + `"]}&tid=t1`, id, true},
		{"percent-encoded", "https://security.microsoft.com/action-center/history?filters=" + url.QueryEscape(`{"bulkId":["`+id+`"]}`) + "&tid=t1", id, true},
		{"spaces, url.Parse refuses the control byte", "https://security.microsoft.com/x?filters={ \"bulkId\" : [ \"" + id + "\" ] }\x7f", id, true},
		{"several ids: the first", `https://x/h?filters={"bulkId":["a1","b2"]}`, "a1", true},
		{"empty list", `https://x/h?filters={"bulkId":[]}`, "", false},
		{"empty id", `https://x/h?filters={"bulkId":[""]}`, "", false},
		{"no filters", "https://security.microsoft.com/action-center/history?tid=t1", "", false},
		{"empty", "", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := parseBulkID(tt.loc)
			if got != tt.want || ok != tt.ok {
				t.Errorf("parseBulkID(%q): got %q %v, want %q %v", tt.loc, got, ok, tt.want, tt.ok)
			}
		})
	}
}

func TestParseGraphTime(t *testing.T) {
	want := time.Date(2019, 1, 10, 12, 23, 23, 333330000, time.UTC)
	for _, s := range []string{"2019-01-10T12:23:23.33333Z", "2019-01-10 12:23:23.33333", "2019-01-10T12:23:23.33333", "2019-01-10T13:23:23.33333+01:00"} {
		got, ok := parseGraphTime(s)
		if !ok || !got.Equal(want) {
			t.Errorf("parseGraphTime(%q): got %v %v, want %v", s, got, ok, want)
		}
	}
	if _, ok := parseGraphTime("yesterday"); ok {
		t.Error(`parseGraphTime("yesterday"): want not ok`)
	}
}

func TestSecurityActionStatus(t *testing.T) {
	tests := []struct {
		status string
		want   approvals.ItemStatus
	}{
		{"NotStarted", approvals.ItemSubmitted}, {"notStarted", approvals.ItemSubmitted},
		{"Running", approvals.ItemRunning}, {"COMPLETED", approvals.ItemSucceeded},
		{"failed", approvals.ItemFailed}, {"unknownFutureValue", approvals.ItemRunning}, {"", approvals.ItemRunning},
	}
	for _, tt := range tests {
		if got, _ := securityActionStatus(securityAction{Status: tt.status}); got != tt.want {
			t.Errorf("status %q: got %s, want %s", tt.status, got, tt.want)
		}
	}
}

// fuzzClient is a Client for fuzz targets that exercise code after the
// decoders; it never sends a request.
func fuzzClient(t testing.TB) *Client {
	c, err := New(Config{TenantID: "t", ClientID: "c", ClientSecret: "s"})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func checkClean(t *testing.T, what, s string) {
	t.Helper()
	if clean(s) != s || utf8.RuneCountInString(s) > maxText+1 {
		t.Errorf("%s %q is not clean", what, s)
	}
}

func FuzzDecodeInvokeActionResult(f *testing.F) {
	f.Add([]byte(`{"accountId": "256db173-930a-4991-9061-0d51a9a93ba5", "action": "disable", "identityProvider": "activeDirectory", "correlationId": "ed2f052b-2a01-4cd9-acb3-f6145f83e1a5"}`))
	f.Add([]byte(`{"value": {"accountId": "256db173-930a-4991-9061-0d51a9a93ba5", "action": "disable", "provider": "activeDirectory", "correlationId": "ed2f052b-2a01-4cd9-acb3-f6145f83e1a5"}}`))
	f.Add([]byte(`{"value": []}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := decodeInvokeActionResult(b)
		if err != nil {
			return
		}
		if r.IdentityProvider == "" && r.Provider != "" {
			t.Errorf("provider %q not taken as identityProvider", r.Provider)
		}
		checkClean(t, "correlation id", r.CorrelationID)
	})
}

func FuzzDecodeAccountsPage(f *testing.F) {
	f.Add([]byte(`{"@odata.nextLink": "https://graph.microsoft.com/v1.0/security/identities/identityAccounts?$skiptoken=x", "value": [{"id": "0104216-0539-4838-88b1-55baafdc296b", "displayName": "Mallory Example", "domain": "contoso.com", "isEnabled": true, "userPrincipalName": "mallory@contoso.com", "emailAddress": "mallory@contoso.com", "accounts": [{"identifier": "256db173", "identityProvider": "activeDirectory", "actions": ["disable", "forcePasswordReset"]}]}]}`))
	f.Add([]byte(`{"value": [{"id": "x", "isEnabled": false, "accounts": [{"identifier": "i", "provider": "ActiveDirectory", "actions": ["Enable"]}]}]}`))
	f.Add([]byte(`{"value": [{"id": "", "accounts": null}]}`))
	f.Add([]byte(`{"value": [{"id": "y", "displayName": "\u0000\n", "accounts": [{"identifier": "", "provider": "okta"}]}]}`))
	c := fuzzClient(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := decodePage[identityAccount](b)
		if err != nil {
			return
		}
		for _, ia := range p.Value {
			r := c.resolvedAccount(providers.Resolved{Key: "k", Display: "k"}, ia, "disable")
			checkClean(t, "display", strings.NewReplacer("<", "", ">", "").Replace(r.Display))
			if r.Problem == "" && (r.Account == "" || len(r.Data) == 0) {
				t.Errorf("resolved without problem but without account or data: %+v", r)
			}
		}
	})
}

func FuzzDecodeEmailsPage(f *testing.F) {
	f.Add([]byte(`{"@odata.nextLink": "https://graph.microsoft.com/v1.0/security/collaboration/analyzedEmails?$skiptoken=x", "value": [{"id": "73ca4154-58d8-43d0-a890-08dc18c52e6d-1311265001240363512-1", "networkMessageId": "73ca4154-58d8-43d0-a890-08dc18c52e6d", "recipientEmailAddress": "hannah.jarvis@contoso.com", "subject": "Invoice overdue", "latestDelivery": {"action": "delivered", "location": "inbox_folder"}, "timelineEvents": [{"eventDateTime": "2024-02-19T08:15:02Z", "eventType": "originalDelivery", "eventSource": "system", "eventResult": "Delivered", "eventThreats": []}]}]}`))
	f.Add([]byte(`{"value": [{"networkMessageId": "x", "latestDelivery": null, "timelineEvents": [{"eventSource": "admin", "eventResult": "Failed", "eventDateTime": "bad"}]}]}`))
	f.Add([]byte(`{"value": null}`))
	submitted := time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := decodePage[analyzedEmail](b)
		if err != nil {
			return
		}
		for _, e := range p.Value {
			r := mailResolved("t", "n", "r", e, "2026-02-08")
			checkClean(t, "state", r.State)
			checkClean(t, "subject", r.Subject)
			for _, a := range []string{"softDelete", "hardDelete", "moveToJunk", "moveToInbox", "moveToDeletedItems", "x"} {
				st, detail := remediationOutcome(a, mailData{Location: "inbox_folder"}, &e, submitted)
				if st == "" || detail == "" {
					t.Errorf("%s: empty outcome %q %q", a, st, detail)
				}
			}
		}
	})
}

func FuzzDecodeError(f *testing.F) {
	f.Add(429, []byte(`{"error": {"code": "TooManyRequests", "message": "Please retry again later.", "innerError": {"code": "429", "date": "2020-08-18T12:51:51", "message": "Please retry after", "request-id": "94fb3b52-452a-4535-a601-69e0a90e3aa2", "status": "429"}}}`))
	f.Add(404, []byte(`{"error": {"code": "itemNotFound", "message": "…", "innererror": {"innerError": {"request-id": "x"}}}}`))
	f.Add(403, []byte(`{"error": {"code": "Authorization_RequestDenied", "message": {"value": "Insufficient privileges"}}}`))
	f.Add(500, []byte(`not json`))
	f.Fuzz(func(t *testing.T, status int, b []byte) {
		e := decodeError(status, b)
		for what, s := range map[string]string{"code": e.Code, "message": e.Message, "request id": e.RequestID, "date": e.Date} {
			checkClean(t, what, s)
		}
		if e.Status != status || e.Error() == "" {
			t.Errorf("got %+v", e)
		}
	})
}

func FuzzParseBulkID(f *testing.F) {
	f.Add(`https://security.microsoft.com/action-center/history?filters={"bulkId":["6b8a2f3e-2c1d-4b5a-9e8f-7a6b5c4d3e2f"]}&tid=t`)
	f.Add("https://security.microsoft.com/action-center/history?filters=%7B%22bulkId%22%3A%5B%226b8a2f3e%22%5D%7D&tid=t")
	f.Add(`"bulkId":["x"]`)
	f.Add("%zz")
	f.Fuzz(func(t *testing.T, loc string) {
		id, ok := parseBulkID(loc)
		if ok && (id == "" || strings.ContainsAny(id, "\"\\") || clean(id) != id) {
			t.Errorf("parseBulkID(%q) = %q", loc, id)
		}
		if !ok && id != "" {
			t.Errorf("parseBulkID(%q) = %q but not ok", loc, id)
		}
		// Any plain id survives both documented forms of the header.
		if plain := strings.Trim(loc, "\"\\ %&+#?=[]{}:,"); plain != "" && plain == url.PathEscape(plain) && len(plain) <= 200 && clean(plain) == plain {
			filters := `{"bulkId":["` + plain + `"]}`
			for _, l := range []string{"https://security.microsoft.com/h?filters=" + filters + "&tid=t",
				"https://security.microsoft.com/h?filters=" + url.QueryEscape(filters) + "&tid=t"} {
				if got, ok := parseBulkID(l); !ok || got != plain {
					t.Errorf("parseBulkID(%q) = %q %v, want %q", l, got, ok, plain)
				}
			}
		}
	})
}

func FuzzDecodeSecurityAction(f *testing.F) {
	f.Add([]byte(`{"id": "1234567890", "status": "notStarted", "name": "blockIp", "actionReason": "r", "createdDateTime": "2019-01-10 12:23:23.33333", "lastActionDateTime": "2019-01-10 12:23:23.33333", "errorInfo": null, "parameters": [{"name": "IP", "value": "1.2.3.4"}], "vendorInformation": {"provider": "Windows Defender ATP", "vendor": "Microsoft"}}`))
	f.Add([]byte(`{"id": "x", "status": "Failed", "errorInfo": {"code": "400", "message": "m", "subcode": 1.5}}`))
	f.Add([]byte(`{"id": "x", "status": "Completed", "completedDateTime": "2019-01-10T12:23:23Z"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		a, err := decodeSecurityAction(b)
		if err != nil {
			return
		}
		if a.ID == "" {
			t.Error("decoded an action without id")
		}
		st, detail := securityActionStatus(a)
		s := strings.ToLower(strings.TrimSpace(a.Status))
		if st.Terminal() != (s == "completed" || s == "failed") {
			t.Errorf("status %q → %s", a.Status, st)
		}
		checkClean(t, "detail", strings.TrimPrefix(detail, "Graph reports status "))
	})
}
