package msgraph

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/countersign/countersign/internal/safetext"
)

// Graph enums are modelled as strings (§2.6): compared case-insensitively,
// unknown values kept as sent.

// canonicalProvider returns the schema spelling of an identityProvider
// ("ActiveDirectory" → "activeDirectory"), or "" for an unknown one.
func canonicalProvider(v string) string {
	for _, m := range []string{"entraID", "activeDirectory", "okta"} {
		if strings.EqualFold(strings.TrimSpace(v), m) {
			return m
		}
	}
	return ""
}

// sameEnum compares two enum values as Graph does.
func sameEnum(a, b string) bool { return strings.EqualFold(strings.TrimSpace(a), strings.TrimSpace(b)) }

// maxText bounds provider text that may reach chat and logs.
const maxText = 300

// clean makes provider text safe to show: control, bidi and invisible
// characters go (safetext), runs of space collapse, and it is cut to
// maxText runes. Escaping for a chat platform is the bot's job.
func clean(s string) string {
	var b strings.Builder
	n, space := 0, false
	for _, r := range strings.TrimSpace(safetext.Clean(s)) {
		if unicode.IsSpace(r) {
			space = true
			continue
		}
		if n == maxText {
			b.WriteString("…")
			break
		}
		if space && b.Len() > 0 {
			b.WriteByte(' ')
			n++
		}
		space = false
		b.WriteRune(r)
		n++
	}
	return b.String()
}

// lookupFold returns member k of o, matching the name case-insensitively
// (the docs spell innerError both "innerError" and "innererror").
func lookupFold(o map[string]json.RawMessage, k string) json.RawMessage {
	if v, ok := o[k]; ok {
		return v
	}
	for name, v := range o {
		if strings.EqualFold(name, k) {
			return v
		}
	}
	return nil
}

// jsonString returns raw as a string when it is a JSON string.
func jsonString(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) != nil {
		return ""
	}
	return s
}

// decodeError decodes Graph's error body (§2.4). It accepts innerError and
// innererror, nested to any reasonable depth, and a message given as
// {"value": …}; anything else yields the HTTP status text.
func decodeError(status int, body []byte) *Error {
	e := &Error{Status: status}
	var env map[string]json.RawMessage
	if json.Unmarshal(body, &env) != nil {
		e.Message = http.StatusText(status)
		return e
	}
	var obj map[string]json.RawMessage
	if json.Unmarshal(lookupFold(env, "error"), &obj) != nil || obj == nil {
		e.Message = http.StatusText(status)
		return e
	}
	e.Code = clean(jsonString(lookupFold(obj, "code")))
	msg := lookupFold(obj, "message")
	if s := jsonString(msg); s != "" {
		e.Message = clean(s)
	} else {
		var m map[string]json.RawMessage
		if json.Unmarshal(msg, &m) == nil {
			e.Message = clean(jsonString(lookupFold(m, "value")))
		}
	}
	inner := lookupFold(obj, "innerError")
	for depth := 0; depth < 8 && len(inner) > 0; depth++ {
		var m map[string]json.RawMessage
		if json.Unmarshal(inner, &m) != nil {
			break
		}
		if e.RequestID == "" {
			e.RequestID = clean(jsonString(lookupFold(m, "request-id")))
		}
		if e.Date == "" {
			e.Date = clean(jsonString(lookupFold(m, "date")))
		}
		inner = lookupFold(m, "innerError")
	}
	if e.Message == "" {
		e.Message = http.StatusText(status)
	}
	return e
}

// invokeActionResult is the answer of invokeAction (§3.4).
type invokeActionResult struct {
	AccountID        string `json:"accountId"`
	Action           string `json:"action"`
	IdentityProvider string `json:"identityProvider"`
	Provider         string `json:"provider"` // doc-example spelling
	CorrelationID    string `json:"correlationId"`
}

// decodeInvokeActionResult accepts both the schema's bare object and the
// doc examples' {"value": {…}}, and either provider key.
func decodeInvokeActionResult(b []byte) (invokeActionResult, error) {
	var r invokeActionResult
	var w map[string]json.RawMessage
	if err := json.Unmarshal(b, &w); err != nil {
		return r, err
	}
	if v := bytes.TrimSpace(lookupFold(w, "value")); len(v) > 0 && v[0] == '{' {
		b = v
	}
	if err := json.Unmarshal(b, &r); err != nil {
		return invokeActionResult{}, err
	}
	if r.IdentityProvider == "" {
		r.IdentityProvider = r.Provider
	}
	r.CorrelationID = clean(r.CorrelationID)
	return r, nil
}

// identityAccount is one identityAccounts item; userPrincipalName and
// emailAddress come from the derived user type.
type identityAccount struct {
	ID                string    `json:"id"`
	DisplayName       string    `json:"displayName"`
	IsEnabled         *bool     `json:"isEnabled"`
	UserPrincipalName string    `json:"userPrincipalName"`
	EmailAddress      string    `json:"emailAddress"`
	Accounts          []account `json:"accounts"`
}

// account is one accounts[] entry. Doc examples spell the provider key
// "provider" and the enums in PascalCase; both are accepted.
type account struct {
	Identifier       string   `json:"identifier"`
	IdentityProvider string   `json:"identityProvider"`
	Provider         string   `json:"provider"`
	Actions          []string `json:"actions"`
}

// provider returns the entry's identity provider, from either key.
func (a account) provider() string {
	if a.IdentityProvider != "" {
		return a.IdentityProvider
	}
	return a.Provider
}

// hasAction reports whether action is among the entry's actions.
func (a account) hasAction(action string) bool {
	for _, x := range a.Actions {
		if sameEnum(x, action) {
			return true
		}
	}
	return false
}

// decodeData decodes the provider-private JSON that Resolve or Submit
// stored (Resolved.Data, Submission.Data); what names it in the error.
func decodeData[T any](raw json.RawMessage, what string) (T, error) {
	var d T
	if err := json.Unmarshal(raw, &d); err != nil {
		return d, fmt.Errorf("graph: %s: %w", what, err)
	}
	return d, nil
}

// page is one page of a Graph list (§2.3): identityAccounts,
// analyzedEmails or securityActions.
type page[T any] struct {
	NextLink string `json:"@odata.nextLink"`
	Value    []T    `json:"value"`
}

// decodePage decodes one page of a list of T.
func decodePage[T any](b []byte) (page[T], error) {
	var p page[T]
	if err := json.Unmarshal(b, &p); err != nil {
		return page[T]{}, err
	}
	return p, nil
}

// decodeAccount decodes GET identityAccounts/{id}.
func decodeAccount(b []byte) (identityAccount, error) {
	var a identityAccount
	if err := json.Unmarshal(b, &a); err != nil {
		return identityAccount{}, err
	}
	if a.ID == "" {
		return identityAccount{}, errors.New("identity account without id")
	}
	return a, nil
}

// analyzedEmail holds the fields of §4.1 Countersign uses.
type analyzedEmail struct {
	ID                    string          `json:"id"`
	NetworkMessageID      string          `json:"networkMessageId"`
	RecipientEmailAddress string          `json:"recipientEmailAddress"`
	Subject               string          `json:"subject"`
	LatestDelivery        *deliveryDetail `json:"latestDelivery"`
	TimelineEvents        []timelineEvent `json:"timelineEvents"`
}

type deliveryDetail struct {
	Action   string `json:"action"`
	Location string `json:"location"`
}

type timelineEvent struct {
	EventDateTime string `json:"eventDateTime"`
	EventSource   string `json:"eventSource"`
	EventResult   string `json:"eventResult"`
	EventDetails  string `json:"eventDetails"`
	EventType     string `json:"eventType"`
}

// location returns latestDelivery.location, or "unknown".
func (e analyzedEmail) location() string {
	if e.LatestDelivery == nil || strings.TrimSpace(e.LatestDelivery.Location) == "" {
		return "unknown"
	}
	return clean(e.LatestDelivery.Location)
}

// adminEvents returns the timeline events an admin caused, oldest first as
// listed.
func (e analyzedEmail) adminEvents() []timelineEvent {
	var out []timelineEvent
	for _, ev := range e.TimelineEvents {
		if sameEnum(ev.EventSource, "admin") {
			out = append(out, ev)
		}
	}
	return out
}

// securityAction holds the fields of the legacy entity (§5) Poll and
// Reconcile use.
type securityAction struct {
	ID                string         `json:"id"`
	Name              string         `json:"name"`
	Status            string         `json:"status"`
	ActionReason      string         `json:"actionReason"`
	Parameters        []keyValuePair `json:"parameters"`
	CreatedDateTime   string         `json:"createdDateTime"`
	CompletedDateTime string         `json:"completedDateTime"`
	ErrorInfo         *resultInfo    `json:"errorInfo"`
}

// keyValuePair is a securityAction parameter.
type keyValuePair struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// resultInfo is errorInfo; code and subcode are Int32 in the schema but
// taken as numbers or strings.
type resultInfo struct {
	Code    flexInt `json:"code"`
	Message string  `json:"message"`
	Subcode flexInt `json:"subcode"`
}

// flexInt decodes a JSON number or a numeric string; anything else is 0.
type flexInt int64

// UnmarshalJSON implements json.Unmarshaler.
func (f *flexInt) UnmarshalJSON(b []byte) error {
	s := strings.Trim(strings.TrimSpace(string(b)), `"`)
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		*f = flexInt(n)
		return nil
	}
	if x, err := strconv.ParseFloat(s, 64); err == nil && x >= -1<<53 && x <= 1<<53 {
		*f = flexInt(x)
		return nil
	}
	*f = 0
	return nil
}

// decodeSecurityAction decodes a securityAction.
func decodeSecurityAction(b []byte) (securityAction, error) {
	var a securityAction
	if err := json.Unmarshal(b, &a); err != nil {
		return securityAction{}, err
	}
	if strings.TrimSpace(a.ID) == "" {
		return securityAction{}, errors.New("security action without id")
	}
	a.ID = strings.TrimSpace(a.ID)
	return a, nil
}

// parseGraphTime parses timestamps leniently: RFC 3339 first, then the doc
// sample's "2019-01-10 12:23:23.33333" and zone-less forms (as UTC).
func parseGraphTime(s string) (time.Time, bool) {
	s = strings.TrimSpace(s)
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02 15:04:05.999999999", "2006-01-02T15:04:05.999999999",
		"2006-01-02 15:04:05Z07:00", "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), true
		}
	}
	return time.Time{}, false
}

// reBulkID finds "bulkId":["…"] in a Location that url.Parse or the JSON
// of its filters could not handle.
var reBulkID = regexp.MustCompile(`"bulkId"\s*:\s*\[\s*"([^"\\]{1,200})"`)

// parseBulkID takes bulkId[0] out of remediate's Location (§4.3):
// https://security.microsoft.com/action-center/history?filters={"bulkId":["…"]}&tid=…
// The filters query is JSON, raw or percent-encoded; a regex is the
// fallback for a Location url.Parse rejects.
func parseBulkID(location string) (string, bool) {
	valid := func(id string) (string, bool) {
		id = strings.TrimSpace(id)
		if id == "" || len(id) > 200 || strings.ContainsAny(id, "\"\\") || clean(id) != id {
			return "", false
		}
		return id, true
	}
	if u, err := url.Parse(location); err == nil {
		raw := ""
		for _, kv := range strings.Split(u.RawQuery, "&") {
			if v, ok := strings.CutPrefix(kv, "filters="); ok {
				raw = v
				break
			}
		}
		// Path unescaping first: in the raw doc form a "+" is itself, while
		// a form-encoded header writes spaces as "+".
		for _, unescape := range []func(string) (string, error){url.PathUnescape, url.QueryUnescape} {
			v, err := unescape(raw)
			if err != nil {
				continue
			}
			var f struct {
				BulkID []string `json:"bulkId"`
			}
			if json.Unmarshal([]byte(v), &f) == nil && len(f.BulkID) > 0 {
				if id, ok := valid(f.BulkID[0]); ok {
					return id, true
				}
			}
		}
	}
	for _, s := range []string{location, unescapeLoose(location, url.PathUnescape), unescapeLoose(location, url.QueryUnescape)} {
		if m := reBulkID.FindStringSubmatch(s); m != nil {
			if id, ok := valid(m[1]); ok {
				return id, true
			}
		}
	}
	return "", false
}

func unescapeLoose(s string, unescape func(string) (string, error)) string {
	if u, err := unescape(s); err == nil {
		return u
	}
	return s
}
