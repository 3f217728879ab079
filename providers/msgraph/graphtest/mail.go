package graphtest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
)

// Email is one analyzedEmail: one message as delivered to one recipient.
type Email struct {
	ID                string // analyzedEmail id; generated from the network message id when empty
	NetworkMessageID  string
	InternetMessageID string
	Recipient         string // recipientEmailAddress
	Subject           string
	Sender            string // senderDetail.fromAddress and mailFromAddress
	Logged            time.Time
	Directionality    string   // default inbound
	ThreatTypes       []string // default [phish]
	// Location is latestDelivery.location (default inbox_folder); the
	// original delivery keeps the seeded value.
	Location string
	// DeliveryAction is latestDelivery.action (default delivered).
	DeliveryAction string
	Timeline       []TimelineEvent
}

// TimelineEvent is one timelineEvents[] entry.
type TimelineEvent struct {
	Time    time.Time
	Type    string // timelineEventType, e.g. originalDelivery
	Source  string // eventSource: system, admin, user
	Result  string
	Details string
	Threats []string
}

// Remediation is one accepted remediate call.
type Remediation struct {
	BulkID      string
	Location    string // the Location header sent
	DisplayName string
	Description string
	Severity    string
	Action      string
	SendersCopy bool
	Items       []RemediationItem
	Time        time.Time
}

// RemediationItem is one analyzedEmails entry of a remediate call.
type RemediationItem struct {
	ID               string // set when the item was sent in the {"id"} form
	NetworkMessageID string
	Recipient        string
	Found            bool // an analyzed e-mail matched; unknown ones change nothing
}

type emailState struct {
	Email
	original string
	pending  []*pendingRemedy
}

type pendingRemedy struct {
	action, bulkID string
	fail           bool
	readsLeft      int
}

// RemediatedLocation is where the fake puts a message for each remediation
// action. Graph does not document this (§4.4); these are the natural
// guesses, and hardDelete leaves the mailbox entirely ("others").
func RemediatedLocation(action string) string {
	switch action {
	case "moveToJunk":
		return "junkFolder"
	case "moveToInbox":
		return "inbox_folder"
	case "moveToDeletedItems", "softDelete":
		return "deletedFolder"
	case "hardDelete":
		return "others"
	}
	return ""
}

// AddEmail seeds an analyzed e-mail and returns it with defaults filled in.
func (s *Server) AddEmail(e Email) Email {
	s.mu.Lock()
	defer s.mu.Unlock()
	if e.NetworkMessageID == "" {
		e.NetworkMessageID = s.newGUID()
	}
	if e.ID == "" {
		e.ID = fmt.Sprintf("%s-%d-%d", e.NetworkMessageID, s.rng.Uint64()>>1, len(s.emails)+1)
	}
	if e.Logged.IsZero() {
		e.Logged = s.now().Add(-time.Hour)
	}
	if e.Directionality == "" {
		e.Directionality = "inbound"
	}
	if e.ThreatTypes == nil {
		e.ThreatTypes = []string{"phish"}
	}
	if e.Location == "" {
		e.Location = "inbox_folder"
	}
	if e.DeliveryAction == "" {
		e.DeliveryAction = "delivered"
	}
	if e.Timeline == nil {
		e.Timeline = []TimelineEvent{{Time: e.Logged, Type: "originalDelivery", Source: "system", Result: "Delivered", Threats: []string{}}}
	}
	e.Timeline = slices.Clone(e.Timeline)
	s.emails = append(s.emails, &emailState{Email: e, original: e.Location})
	return cloneEmail(e)
}

func cloneEmail(e Email) Email {
	e.ThreatTypes = slices.Clone(e.ThreatTypes)
	e.Timeline = slices.Clone(e.Timeline)
	return e
}

// Email returns the current state of the analyzed e-mail of this network
// message id and recipient. Looking here does not count as a read.
func (s *Server) Email(networkMessageID, recipient string) (Email, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, e := range s.emails {
		if strings.EqualFold(e.NetworkMessageID, networkMessageID) && strings.EqualFold(e.Recipient, recipient) {
			return cloneEmail(e.Email), true
		}
	}
	return Email{}, false
}

// Emails returns every analyzed e-mail in seeding order.
func (s *Server) Emails() []Email {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Email, 0, len(s.emails))
	for _, e := range s.emails {
		out = append(out, cloneEmail(e.Email))
	}
	return out
}

// Remediations returns every accepted remediate call.
func (s *Server) Remediations() []Remediation {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Remediation, 0, len(s.remeds))
	for _, r := range s.remeds {
		c := *r
		c.Items = slices.Clone(r.Items)
		out = append(out, c)
	}
	return out
}

// settleEmail applies remediations whose reads are used up; a read counts
// towards Behavior.RemediateAfterReads. Callers hold mu.
func (s *Server) settleEmail(e *emailState, now time.Time, read bool) {
	for len(e.pending) > 0 && e.pending[0].readsLeft <= 0 {
		s.remedy(e, e.pending[0], now)
		e.pending = e.pending[1:]
	}
	if read {
		for _, p := range e.pending {
			p.readsLeft--
		}
	}
}

// remedy puts one remediation into effect: the message moves and an admin
// timeline event records it, or, for a failing recipient, the event says
// it failed and the message stays.
func (s *Server) remedy(e *emailState, p *pendingRemedy, now time.Time) {
	ev := TimelineEvent{Time: now, Type: "unknown", Source: "admin", Threats: []string{}}
	if p.fail {
		ev.Result, ev.Details = "Failed", "Remediable email is still found in the mailbox (bulkId "+p.bulkID+")"
	} else {
		ev.Result, ev.Details = "Success", "Admin action "+p.action+" (bulkId "+p.bulkID+")"
		e.Location = RemediatedLocation(p.action)
	}
	e.Timeline = append(e.Timeline, ev)
}

func (s *Server) renderEmail(e *emailState) map[string]any {
	tl := make([]map[string]any, 0, len(e.Timeline))
	for _, ev := range e.Timeline {
		tl = append(tl, map[string]any{
			"eventDateTime": ev.Time.UTC().Format(time.RFC3339), "eventType": ev.Type, "eventSource": ev.Source,
			"eventResult": ev.Result, "eventDetails": ev.Details, "eventThreats": nonNil(ev.Threats),
		})
	}
	return map[string]any{
		"id":                    e.ID,
		"networkMessageId":      e.NetworkMessageID,
		"internetMessageId":     e.InternetMessageID,
		"recipientEmailAddress": e.Recipient,
		"subject":               e.Subject,
		"loggedDateTime":        e.Logged.UTC().Format(time.RFC3339),
		"directionality":        e.Directionality,
		"threatTypes":           nonNil(e.ThreatTypes),
		"senderDetail":          map[string]any{"fromAddress": e.Sender, "mailFromAddress": e.Sender},
		"latestDelivery":        map[string]any{"action": e.DeliveryAction, "location": e.Location},
		"originalDelivery":      map[string]any{"action": "delivered", "location": e.original},
		"timelineEvents":        tl,
	}
}

func nonNil(v []string) []string {
	if v == nil {
		return []string{}
	}
	return v
}

// parseWindowTime reads startTime/endTime: a date (the documented form,
// midnight UTC) or an RFC 3339 timestamp.
func parseWindowTime(v string) (time.Time, bool) {
	if t, err := time.Parse("2006-01-02", v); err == nil {
		return t, true
	}
	if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
		return t, true
	}
	return time.Time{}, false
}

// listEmails serves GET /security/collaboration/analyzedEmails (§4.2):
// messages logged in [startTime, endTime), filtered by one of the two
// documented $filter forms.
func (s *Server) listEmails(r *http.Request, now time.Time) reply {
	q := r.URL.Query()
	if rep, ok := allowQuery(q, "startTime", "endTime", "$filter", "$top", "$skiptoken", "$count"); !ok {
		return rep
	}
	var start, end time.Time
	for _, p := range []struct {
		name string
		t    *time.Time
	}{{"startTime", &start}, {"endTime", &end}} {
		v := q.Get(p.name)
		if v == "" {
			if s.behavior.OptionalTimeWindow {
				continue
			}
			return badRequest(fmt.Sprintf("The parameter '%s' is required.", p.name))
		}
		t, ok := parseWindowTime(v)
		if !ok {
			return badRequest(fmt.Sprintf("Invalid value '%s' for parameter '%s'.", v, p.name))
		}
		*p.t = t
	}
	if !start.IsZero() && !end.IsZero() && !start.Before(end) {
		return badRequest("startTime must be before endTime.")
	}
	nmid, rcpt := "", ""
	if f, has := q["$filter"]; has {
		if m := reMailRcptFilter.FindStringSubmatch(f[0]); m != nil {
			nmid, rcpt = unquote(m[1]), unquote(m[2])
		} else if m := reMailFilter.FindStringSubmatch(f[0]); m != nil {
			nmid = unquote(m[1])
		} else {
			return badRequest("Invalid filter clause: only networkMessageId eq '…' [and recipientEmailAddress eq '…'] is supported.")
		}
	}
	var hits []*emailState
	for _, e := range s.emails {
		switch {
		case !start.IsZero() && e.Logged.Before(start), !end.IsZero() && !e.Logged.Before(end):
		case nmid != "" && !strings.EqualFold(e.NetworkMessageID, nmid):
		case rcpt != "" && !strings.EqualFold(e.Recipient, rcpt):
		default:
			hits = append(hits, e)
		}
	}
	return listPage(s, r, setEmails, hits, now)
}

// remediate serves POST …/analyzedEmails/remediate (§4.3): 202 with a
// Location to the Action Center and an empty body.
func (s *Server) remediate(r *http.Request, body []byte, now time.Time) reply {
	params := []string{"displayName", "description", "severity", "action", "remediateSendersCopy", "analyzedEmails"}
	o, rep, ok := strictObject(body, "microsoft.graph.security.remediate", params, params)
	if !ok {
		return rep
	}
	var rm Remediation
	if rm.DisplayName, rep, ok = o.str("displayName"); !ok {
		return rep
	}
	if rm.Description, rep, ok = o.str("description"); !ok {
		return rep
	}
	if rm.Severity, rep, ok = o.enum("severity", "microsoft.graph.security.remediationSeverity", severityMembers); !ok {
		return rep
	}
	members := remedyMembers
	if strings.Contains(r.Header.Get("Prefer"), "include-unknown-enum-members") {
		members = append(slices.Clone(members), "moveToQuarantine")
	}
	if rm.Action, rep, ok = o.enum("action", "microsoft.graph.security.remediationAction", members); !ok {
		return rep
	}
	if rm.Action == "moveToQuarantine" {
		return graphError(http.StatusBadRequest, "notSupported", "The action moveToQuarantine isn't currently supported.")
	}
	if rm.SendersCopy, rep, ok = o.boolean("remediateSendersCopy"); !ok {
		return rep
	}
	var items []json.RawMessage
	if err := json.Unmarshal(o["analyzedEmails"], &items); err != nil || len(items) == 0 {
		return badRequest("analyzedEmails must be a non-empty collection of microsoft.graph.security.analyzedEmail.")
	}
	for _, raw := range items {
		it, rep, ok := strictObject(raw, "microsoft.graph.security.remediate", []string{"id", "networkMessageId", "recipientEmailAddress"}, nil)
		if !ok {
			return rep
		}
		var ri RemediationItem
		for k, dst := range map[string]*string{"id": &ri.ID, "networkMessageId": &ri.NetworkMessageID, "recipientEmailAddress": &ri.Recipient} {
			if *dst, rep, ok = it.str(k); !ok {
				return rep
			}
		}
		if ri.ID == "" && (ri.NetworkMessageID == "" || ri.Recipient == "") {
			return badRequest("Each analyzed email needs networkMessageId and recipientEmailAddress, or id.")
		}
		rm.Items = append(rm.Items, ri)
	}
	rm.BulkID, rm.Time = s.newGUID(), now
	filters := `{"bulkId":["` + rm.BulkID + `"]}`
	if s.behavior.EncodeLocation {
		filters = url.QueryEscape(filters)
	}
	rm.Location = "https://security.microsoft.com/action-center/history?filters=" + filters + "&tid=" + s.tenant
	for i, ri := range rm.Items {
		for _, e := range s.emails {
			if (ri.ID != "" && e.ID == ri.ID) ||
				(ri.ID == "" && strings.EqualFold(e.NetworkMessageID, ri.NetworkMessageID) && strings.EqualFold(e.Recipient, ri.Recipient)) {
				rm.Items[i].Found = true
				p := &pendingRemedy{action: rm.Action, bulkID: rm.BulkID, fail: containsFold(s.faults.FailRecipients, e.Recipient),
					readsLeft: s.behavior.RemediateAfterReads}
				e.pending = append(e.pending, p)
				s.settleEmail(e, now, false)
			}
		}
	}
	s.remeds = append(s.remeds, &rm)
	return s.acted(reply{status: http.StatusAccepted, header: http.Header{
		"Location":       {rm.Location},
		"Content-Type":   {"application/json;text/plain"},
		"Content-Length": {"0"},
	}})
}
