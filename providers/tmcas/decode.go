package tmcas

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/countersign/countersign/internal/safetext"
)

// The wire shapes of §1.5–§1.8. Decoders are lenient where the documents
// disagree (msg null or "", next_link null or "null", numbers as strings)
// and ignore keys they do not use.

// flexInt is an integer that may arrive as a JSON number, a numeric string
// or null.
type flexInt int

func (n *flexInt) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if string(b) == "null" {
		*n = 0
		return nil
	}
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		b = []byte(strings.TrimSpace(s))
	}
	v, err := strconv.ParseInt(string(b), 10, 64)
	if err != nil {
		f, ferr := strconv.ParseFloat(string(b), 64)
		if ferr != nil || f != float64(int64(f)) {
			return fmt.Errorf("not an integer: %.40q", b)
		}
		v = int64(f)
	}
	*n = flexInt(v)
	return nil
}

// submitResponse is the 201 answer of POST /v1/mitigation/{accounts|mails}.
type submitResponse struct {
	Code    flexInt `json:"code"`
	Msg     *string `json:"msg"` // null per the field table, "" per the example
	BatchID string  `json:"batch_id"`
	TraceID string  `json:"traceId"`
}

// decodeSubmitResponse reads a 2xx answer of a POST. §1.5 fixes code to 0
// on 201, so any other code fails the call with the answer's msg. A 201
// also says the batch was created, so the caller treats the failure as
// uncertain and asks the results API what became of it.
func decodeSubmitResponse(b []byte) (submitResponse, error) {
	var r submitResponse
	if err := json.Unmarshal(b, &r); err != nil {
		return r, fmt.Errorf("decoding submit response: %w", err)
	}
	if r.Code != 0 {
		e := &Error{Status: http.StatusCreated, Code: int(r.Code), TraceID: clean(r.TraceID)}
		if r.Msg != nil {
			e.Msg = clean(*r.Msg)
		}
		return r, e
	}
	r.BatchID = strings.TrimSpace(r.BatchID)
	if r.BatchID == "" || len(r.BatchID) > 128 || !printable(r.BatchID) {
		return r, errors.New("submit response carries no usable batch_id")
	}
	return r, nil
}

// pageHead is what every page of a TMCAS list carries around its items.
type pageHead struct {
	Code     flexInt `json:"code"`
	Msg      string  `json:"msg"`
	TraceID  string  `json:"traceId"`
	NextLink string  `json:"next_link"`
}

func (h pageHead) head() pageHead { return h }

// page is a page of a TMCAS list: its head, and what it lists, for errors.
type page interface {
	head() pageHead
	what() string
}

// decodePage decodes a page of P and refuses one whose code says it failed.
func decodePage[P page](b []byte) (P, error) {
	var p P
	if err := json.Unmarshal(b, &p); err != nil {
		return p, fmt.Errorf("decoding %s: %w", p.what(), err)
	}
	if h := p.head(); h.Code != 0 {
		return p, fmt.Errorf("%s carry code %d: %s", p.what(), h.Code, clean(h.Msg))
	}
	return p, nil
}

// resultPage is one page of GET /v1/mitigation/{accounts|mails}.
type resultPage struct {
	pageHead
	Count       flexInt  `json:"count"`
	CurrentLink string   `json:"current_link"`
	Actions     []action `json:"actions"`
}

// action is one entry of a results page.
type action struct {
	ActionID         string  `json:"action_id"`
	BatchID          string  `json:"batch_id"`
	ActionType       string  `json:"action_type"`
	Service          string  `json:"service"`
	AccountProvider  string  `json:"account_provider"`
	AccountUserEmail string  `json:"account_user_email"`
	Mailbox          string  `json:"mailbox"`
	MailMessageID    string  `json:"mail_message_id"`
	MailUniqueID     string  `json:"mail_unique_id"`
	RequestedAt      string  `json:"action_requested_at"`
	ExecutedAt       string  `json:"action_executed_at"`
	Status           string  `json:"status"`
	ErrorCode        flexInt `json:"error_code"`
	ErrorMessage     string  `json:"error_message"`
}

func (resultPage) what() string { return "action results" }

// sweepPage is one page of GET /v1/sweeping/mails.
type sweepPage struct {
	pageHead
	Value []sweepItem `json:"value"`
}

// sweepItem is one mail of a sweep; real items carry more metadata
// (headers, URLs, attachments) that Countersign does not need.
type sweepItem struct {
	Mailbox   string `json:"mailbox"`
	MessageID string `json:"mail_message_id"`
	UniqueID  string `json:"mail_unique_id"`
	Delivered string `json:"mail_message_delivery_time"`
	Subject   string `json:"mail_message_subject"`
}

func (sweepPage) what() string { return "sweep results" }

// decodeError decodes a non-2xx body; a body that is not the documented
// JSON still yields an Error with the status.
func decodeError(status int, b []byte) *Error {
	e := &Error{Status: status}
	var w struct {
		Code    flexInt `json:"code"`
		TraceID string  `json:"traceId"`
		Msg     string  `json:"msg"`
		Message string  `json:"message"` // the blocked-lists endpoints' spelling
	}
	if json.Unmarshal(b, &w) == nil {
		e.Code = int(w.Code)
		e.TraceID = clean(w.TraceID)
		e.Msg = clean(w.Msg)
		if e.Msg == "" {
			e.Msg = clean(w.Message)
		}
	}
	if e.Msg == "" {
		e.Msg = strings.ToLower(http.StatusText(status))
	}
	return e
}

// hasNext reports whether a next_link leads to another page: TMCAS ends
// with "", JSON null (decoded as "") or the string "null".
func hasNext(link string) bool {
	link = strings.TrimSpace(link)
	return link != "" && link != "null"
}

// maxText bounds provider text kept in errors and details.
const maxText = 300

// clean makes provider text safe to keep: valid UTF-8, no control, bidi
// or invisible characters (safetext), at most maxText bytes. Chat escaping
// happens in bot/.
func clean(s string) string {
	s = strings.TrimSpace(safetext.Clean(s))
	if len(s) > maxText {
		cut := maxText
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut] + "…"
	}
	return s
}

func printable(s string) bool {
	for _, r := range s {
		if r <= ' ' || r == 0x7f || r == utf8.RuneError {
			return false
		}
	}
	return true
}
