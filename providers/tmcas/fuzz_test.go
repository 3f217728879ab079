package tmcas

import (
	"net/url"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/countersign/countersign/approvals"
)

// Seeds are the documented examples (§1.5–§1.8), their known quirks and a
// few broken shapes.
var (
	resultSeeds = []string{
		`{"code": 0, "msg": "", "traceId": "d395a759", "count": 2,
 "current_link": "https://api.tmcas.trendmicro.com/v1/mitigation/accounts?batch_id=3fa85f64",
 "next_link": "null",
 "actions": [
  {"action_id": "56222d76", "batch_id": "3fa85f64", "action_type": "ACCOUNT_DISABLE", "service": "exchange", "account_provider": "office365", "account_user_email": "user1@example1.com",
   "action_requested_at": "2020-08-09T23:27:12.216Z", "action_executed_at": "2020-08-09T23:27:15.620Z", "status": "Failed", "error_code": -999, "error_message": "graph api exception, message=One or more errors occurred."},
  {"action_id": "2cc933d7", "batch_id": "3fa85f64", "action_type": "ACCOUNT_ENABLE_MFA", "service": "exchange", "account_provider": "office365", "account_user_email": "user2@example2.com",
   "action_requested_at": "2020-08-09T23:27:12.216Z", "action_executed_at": "2020-08-09T23:27:16.001Z", "status": "Success", "error_code": 0, "error_message": "success"}]}`,
		`{"actions":[{"account_provider":"office365","account_user_email":"a@x.com","action_id":"2cc","action_type":"MAIL_DELETE","batch_id":"e37","error_code":-999,"error_message":"The action for these mails failed.","mail_message_id":"\u003cDB7@x\u003e","mail_unique_id":"AAMk=","mailbox":"a@x.com","service":"exchange","status":"Failed"}],"code":0,"count":1,"current_link":"","msg":"","next_link":null,"traceId":"d39"}`,
		`{"code":"0","count":"1","next_link":"","actions":[{"status":"Executing","error_code":"-999"}]}`,
		`{"code":-4290001,"msg":"throttled"}`,
		`{"actions":null}`,
		`[]`, `null`, `{"error_code": 1.5}`, `{"actions":[{"error_code":1e400}]}`,
	}
	submitSeeds = []string{
		`{"code": 0, "msg": "", "batch_id": "3fa85f64-5717-4562-b3fc-2c963f77afa6", "traceId": "9c06c712"}`,
		`{"code": 0, "msg": null, "batch_id": "02bc9a41-f5ac-47b8-8fd6-4fcc038d5578", "traceId": "9c06"}`,
		`{"code": 0, "msg": "", "batch_id": "3fa85f64" "tracdId": "cabd"}`, // the doc example, missing comma
		`{"code": 0, "msg": ""}`, `{"batch_id": " "}`, `{"batch_id": "a\nb"}`, `{"batch_id": 42}`, ``,
	}
	errorSeeds = []string{
		`{"code": -4000001, "traceId": "tr", "msg": "item 0: unknown field \"acount_provider\""}`,
		`{"code": "-999", "traceId": "tr", "msg": null}`,
		`{"code": 0, "message": "Get rules successfully."}`,
		`<html><body>Bad Gateway</body></html>`, ``, `{"msg": "` + strings.Repeat("é", 400) + `"}`, "{\"msg\": \"a\\u0000b\\u001bc\"}",
	}
	sweepSeeds = []string{
		`{"value": [{"mailbox": "user1@example.com", "mail_message_id": "<DB7PR07MB1234@x.outlook.com>", "mail_unique_id": "AAMkAG", "mail_message_delivery_time": "2020-08-08T03:20:53.000Z"}],
 "next_link": "https://api.tmcas.trendmicro.com/v1/sweeping/mails?message_id=x&limit=1000&skiptoken=abc"}`,
		`{"current_link":"","next_link":"","traceId":"80674f37","value":[{"mail_attachments":[],"mail_internet_headers":[{"HeaderName":"Return-Path","Value":""}],"mail_message_delivery_time":"2020-07-13T01:52:50.000Z","mail_message_id":"","mail_message_recipient":[""],"mail_message_sender":"","mail_message_subject":"Test mail from Demisto","mail_unique_id":"","mail_urls":[],"mailbox":"","source_domain":"","source_ip":"0.0.0.0"}]}`,
		`{"value": null, "next_link": null}`, `{"value": [{"mailbox": 7}]}`, `{}`,
	}
)

func FuzzDecodeResultPage(f *testing.F) {
	for _, s := range resultSeeds {
		f.Add([]byte(s))
	}
	base, _ := url.Parse("https://api.tmcas.trendmicro.com")
	c := &Client{base: base}
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := decodePage[resultPage](b)
		if err != nil {
			return
		}
		// Whatever decodes must be matchable without panics, and every
		// status must be one of ours.
		idx := indexResults("3fa85f64", p.Actions)
		for _, a := range p.Actions {
			items := []pollItem{
				{Key: "k", ActionType: strings.ToUpper(strings.TrimSpace(a.ActionType)), Email: strings.ToLower(strings.TrimSpace(a.AccountUserEmail))},
				{Key: "m", ActionType: a.ActionType, Mailbox: a.Mailbox, MessageID: a.MailMessageID, UniqueIDs: []string{a.MailUniqueID, ""}},
			}
			for _, it := range items {
				st := itemStatus(it, idx)
				switch st.Status {
				case approvals.ItemSubmitted, approvals.ItemRunning, approvals.ItemSucceeded, approvals.ItemFailed, approvals.ItemSkipped:
				default:
					t.Fatalf("itemStatus returned %q", st.Status)
				}
				checkText(t, st.Detail, 2*maxText+10)
			}
		}
		if hasNext(p.NextLink) {
			if u, err := c.follow(p.NextLink); err == nil && !sameOrigin(u, base) {
				t.Fatalf("follow accepted %q, leading to %s", p.NextLink, u.Host)
			}
		}
	})
}

func FuzzDecodeSubmitResponse(f *testing.F) {
	for _, s := range submitSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := decodeSubmitResponse(b)
		if err != nil {
			return
		}
		if r.BatchID == "" || !printable(r.BatchID) || len(r.BatchID) > 128 {
			t.Fatalf("accepted unusable batch_id %q", r.BatchID)
		}
	})
}

func FuzzDecodeError(f *testing.F) {
	for _, s := range errorSeeds {
		f.Add(400, []byte(s))
	}
	f.Add(429, []byte(`{"code": -4290001, "traceId": "x", "msg": "The user has made more than 20 requests"}`))
	f.Fuzz(func(t *testing.T, status int, b []byte) {
		e := decodeError(status, b)
		if e == nil || e.Status != status {
			t.Fatalf("decodeError(%d) = %+v", status, e)
		}
		checkText(t, e.Msg, maxText+len("…"))
		checkText(t, e.TraceID, maxText+len("…"))
		_ = e.Error()
	})
}

func FuzzDecodeSweepPage(f *testing.F) {
	for _, s := range sweepSeeds {
		f.Add([]byte(s))
	}
	c := &Client{sweepDays: 30}
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := decodePage[sweepPage](b)
		if err != nil {
			return
		}
		const id = "<DB7PR07MB1234@x.outlook.com>"
		for _, want := range [][]string{nil, {"user1@example.com", "nobody@example.com"}} {
			for _, r := range c.mailItems(id, id, p.Value, want) {
				if !strings.HasPrefix(r.Key, id) {
					t.Fatalf("resolved key %q does not start with the message id", r.Key)
				}
				if r.Problem == "" && (r.Mailbox == "" || len(r.Data) == 0) {
					t.Fatalf("actionable item without mailbox or data: %+v", r)
				}
				checkText(t, r.Subject, maxText+len("…"))
			}
		}
	})
}

// checkText asserts provider text is safe to keep: valid UTF-8, no control
// characters, bounded.
func checkText(t *testing.T, s string, max int) {
	t.Helper()
	if !utf8.ValidString(s) || len(s) > max || strings.ContainsFunc(s, unicode.IsControl) {
		t.Fatalf("unsafe text %q", s)
	}
}
