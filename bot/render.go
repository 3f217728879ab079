package bot

import (
	"fmt"
	"strings"
	"time"

	"github.com/countersign/countersign/approvals"
	"github.com/countersign/countersign/bot/chat"
	"github.com/countersign/countersign/providers"
	"github.com/countersign/countersign/workflow"
)

// maxLines is the most list lines one message shows; the rest are counted
// in Message.More. It keeps every message inside Slack's and Discord's
// limits whatever the batch size.
const maxLines = 40

// limitLines cuts m's lines to n, counting the rest in More.
func limitLines(m *chat.Message, n int) {
	if len(m.Lines) > n {
		m.More += len(m.Lines) - n
		m.Lines = m.Lines[:n]
	}
}

// actionTitle says what a spec does, for titles: "Disable 2 accounts".
func actionTitle(s approvals.Spec, items int) string {
	switch s.Action {
	case approvals.ActionPurgeMail:
		action := ""
		if s.Mail != nil && s.Mail.Action != "" {
			action = " (" + s.Mail.Action + ")"
		}
		return fmt.Sprintf("Purge a message from %s%s", chat.Count(items, "mailbox"), action)
	case approvals.ActionBlockIP:
		return "Block IP address " + strings.Join(s.Targets, ", ")
	}
	verb := map[approvals.Action]string{
		approvals.ActionDisable:         "Disable",
		approvals.ActionEnable:          "Enable",
		approvals.ActionResetPassword:   "Reset the password of",
		approvals.ActionEnableMFA:       "Require MFA for",
		approvals.ActionRevokeSessions:  "Revoke the sessions of",
		approvals.ActionRequireSignIn:   "Require sign-in again for",
		approvals.ActionMarkCompromised: "Mark as compromised",
	}[s.Action]
	return verb + " " + chat.Count(len(s.Targets), "account")
}

// destructive actions get a confirmation on their Approve button.
func destructive(s approvals.Spec) bool {
	switch s.Action {
	case approvals.ActionDisable, approvals.ActionBlockIP, approvals.ActionMarkCompromised:
		return true
	case approvals.ActionPurgeMail:
		return s.Mail == nil || s.Mail.Action != "inbox"
	}
	return false
}

// stamp formats a time for cards: absolute and in UTC, so every reader in
// every time zone sees the same.
func stamp(t time.Time) string { return t.UTC().Format("2006-01-02 15:04 UTC") }

// stateText describes the state of r in one line.
func stateText(r approvals.Request, now time.Time) (string, chat.Tone) {
	if r.State == approvals.StatePending {
		left := r.ExpiresAt.Sub(now).Round(time.Minute)
		return fmt.Sprintf("Waiting for approval: %d of %d (expires %s, in %s).", len(r.Approvals), r.ApprovalsRequired, stamp(r.ExpiresAt), left), chat.ToneWaiting
	}
	line, ok := map[approvals.State]struct {
		text string
		tone chat.Tone
	}{
		approvals.StateApproved:        {"Approved; starting.", chat.ToneGood},
		approvals.StateRunning:         {"Running.", chat.ToneGood},
		approvals.StateSucceeded:       {"Succeeded.", chat.ToneGood},
		approvals.StatePartiallyFailed: {"Partially failed: some targets were not done.", chat.ToneBad},
		approvals.StateFailed:          {"Failed: nothing was done.", chat.ToneBad},
		approvals.StateNeedsAttention:  {"Needs attention: the outcome is uncertain and it will not be retried automatically. Check the provider's console.", chat.ToneBad},
		approvals.StateDenied:          {"Denied.", chat.ToneBad},
		approvals.StateExpired:         {"Expired without enough approvals.", chat.ToneMuted},
		approvals.StateCancelled:       {"Cancelled.", chat.ToneMuted},
	}[r.State]
	if !ok {
		return string(r.State), chat.ToneNeutral
	}
	return line.text, line.tone
}

func who(a approvals.Actor) string {
	if a.Name != "" && a.Name != a.Person {
		return a.Person + " (" + a.Name + ")"
	}
	return a.Person
}

// itemLine is one target on a card or in a summary.
func itemLine(it approvals.Item, withRef bool) chat.Line {
	l := chat.Line{Text: it.Display, Detail: it.Before}
	if l.Text == "" {
		l.Text = it.Key
	}
	switch it.Status {
	case approvals.ItemPending:
		l.Mark = chat.MarkPending
	case approvals.ItemSubmitted, approvals.ItemRunning:
		l.Mark, l.Detail = chat.MarkRunning, "in progress"
	case approvals.ItemSucceeded:
		l.Mark, l.Detail = chat.MarkOK, "done"
	case approvals.ItemFailed:
		l.Mark, l.Detail = chat.MarkFailed, "failed"
	case approvals.ItemSkipped:
		l.Mark, l.Detail = chat.MarkSkipped, "skipped"
	case approvals.ItemUnknown:
		l.Mark, l.Detail = chat.MarkProblem, "outcome unknown, not sent again"
	}
	if it.Status.Terminal() && it.Detail != "" {
		l.Detail += ": " + it.Detail
	}
	if withRef && it.Ref != "" {
		l.Detail += " (ref " + it.Ref + ")"
	}
	return l
}

// renderCard draws a request: who asked for what, the preview or progress
// of each target, the approvals, and the buttons while it is pending.
func renderCard(r approvals.Request, items []approvals.Item, now time.Time) chat.Message {
	status, tone := stateText(r, now)
	m := chat.Message{
		Request: r.ID,
		Title:   fmt.Sprintf("#%d · %s", r.ID, actionTitle(r.Spec, len(items))),
		Tone:    tone,
		Text:    status,
		Fields: []chat.Field{
			{Label: "Requested by", Value: who(r.Requester)},
			{Label: "Provider", Value: providers.DisplayName(r.Spec.Provider)},
		},
		Footer: fmt.Sprintf("request #%d · content hash %s · filed %s", r.ID, approvals.ShortHash(r.Hash), stamp(r.CreatedAt)),
	}
	if r.Spec.Reason != "" {
		m.Fields = append(m.Fields, chat.Field{Label: "Reason", Value: r.Spec.Reason})
	}
	if r.Spec.Action == approvals.ActionPurgeMail {
		m.Fields = append(m.Fields, chat.Field{Label: "Message", Value: strings.Join(r.Spec.Targets, ", "), Code: true})
	}
	var approvedBy []string
	for _, d := range r.Approvals {
		approvedBy = append(approvedBy, who(d.Actor))
	}
	given := fmt.Sprintf("%d of %d", len(r.Approvals), r.ApprovalsRequired)
	if len(approvedBy) > 0 {
		given += ": " + strings.Join(approvedBy, ", ")
	}
	m.Fields = append(m.Fields, chat.Field{Label: "Approvals", Value: given})
	switch {
	case r.State == approvals.StatePending:
		m.Fields = append(m.Fields, chat.Field{Label: "May approve", Value: strings.Join(r.Waiting(), ", ")})
		approve := chat.Button{Label: "Approve", Style: chat.StylePrimary, Value: buttonValue(verbApprove, r)}
		if destructive(r.Spec) {
			approve.Confirm = &chat.Confirm{Title: "Approve?", Text: actionTitle(r.Spec, len(items)) + ". This cannot be undone from here.", Confirm: "Approve", Deny: "Back"}
		}
		m.Buttons = []chat.Button{approve, {Label: "Deny", Style: chat.StyleDanger, Value: buttonValue(verbDeny, r)}}
	case r.Denial != nil:
		m.Fields = append(m.Fields, chat.Field{Label: "Denied by", Value: who(r.Denial.Actor) + ": " + r.Denial.Reason})
	case r.Cancel != nil:
		by := who(r.Cancel.Actor)
		if r.Cancel.Reason != "" {
			by += ": " + r.Cancel.Reason
		}
		m.Fields = append(m.Fields, chat.Field{Label: "Cancelled by", Value: by})
	}
	if r.Note != "" {
		m.Fields = append(m.Fields, chat.Field{Label: "Note", Value: r.Note})
	}
	for _, it := range items {
		m.Lines = append(m.Lines, itemLine(it, false))
	}
	limitLines(&m, maxLines)
	return m
}

// counts are items by status; done counts the terminal ones.
type counts struct{ done, ok, failed, skipped, unknown int }

// tally counts items by status.
func tally(items []approvals.Item) counts {
	var c counts
	for _, it := range items {
		switch it.Status {
		case approvals.ItemSucceeded:
			c.ok++
		case approvals.ItemFailed:
			c.failed++
		case approvals.ItemSkipped:
			c.skipped++
		case approvals.ItemUnknown:
			c.unknown++
		}
	}
	c.done = c.ok + c.failed + c.skipped + c.unknown
	return c
}

// unknownText says how many items have an unknown outcome, when any do.
func (c counts) unknownText() string {
	if c.unknown == 0 {
		return ""
	}
	return fmt.Sprintf(" %d with an unknown outcome: check each before acting again.", c.unknown)
}

// renderProgress is the progress message in the card's thread: exact
// counts, and the targets that failed so far.
func renderProgress(r approvals.Request, items []approvals.Item) chat.Message {
	c := tally(items)
	waiting := 0
	for _, it := range items {
		if it.Status == approvals.ItemPending {
			waiting++
		}
	}
	text := fmt.Sprintf("%d succeeded, %d failed, %d skipped, %d in progress.", c.ok, c.failed, c.skipped, len(items)-c.done) + c.unknownText()
	if waiting > 0 {
		// A large batch is sent in parts; say how far sending has got.
		text += fmt.Sprintf(" %d of %d sent to %s so far.", len(items)-waiting, len(items), providers.DisplayName(r.Spec.Provider))
	}
	m := chat.Message{
		Request: r.ID,
		Title:   fmt.Sprintf("Progress of #%d: %d of %d done", r.ID, c.done, len(items)),
		Text:    text,
		Tone:    chat.ToneGood,
	}
	if c.failed+c.unknown > 0 {
		m.Tone = chat.ToneBad
	}
	for _, it := range items {
		if it.Status == approvals.ItemFailed || it.Status == approvals.ItemUnknown {
			m.Lines = append(m.Lines, itemLine(it, true))
		}
	}
	limitLines(&m, maxLines)
	return m
}

// renderSummary is the final reply: the outcome and every target with the
// provider's reference, failures first.
func renderSummary(r approvals.Request, items []approvals.Item) chat.Message {
	status, tone := stateText(r, r.FinishedAt)
	c := tally(items)
	m := chat.Message{
		Request: r.ID,
		Title:   fmt.Sprintf("#%d finished: %s", r.ID, r.State),
		Tone:    tone,
		Text:    fmt.Sprintf("%s %d succeeded, %d failed, %d skipped of %d.", status, c.ok, c.failed, c.skipped, len(items)) + c.unknownText(),
	}
	if !r.FinishedAt.IsZero() && !r.ApprovedAt.IsZero() {
		m.Footer = fmt.Sprintf("finished %s, %s after approval", stamp(r.FinishedAt), r.FinishedAt.Sub(r.ApprovedAt).Round(time.Second))
	}
	for _, pass := range []func(approvals.ItemStatus) bool{
		func(s approvals.ItemStatus) bool { return s != approvals.ItemSucceeded },
		func(s approvals.ItemStatus) bool { return s == approvals.ItemSucceeded },
	} {
		for _, it := range items {
			if pass(it.Status) {
				m.Lines = append(m.Lines, itemLine(it, true))
			}
		}
	}
	limitLines(&m, maxLines)
	return m
}

// renderPreview answers --dry-run and explain: what the draft's targets
// resolve to and what the policy says.
func renderPreview(d workflow.Draft, p workflow.Preview, explain bool) chat.Message {
	spec := d.Spec
	title := "Dry run: " + actionTitle(spec, len(p.Items))
	if explain {
		title = "Explain: " + actionTitle(spec, len(p.Items))
	}
	m := chat.Message{Title: title, Tone: chat.ToneNeutral, Fields: []chat.Field{
		{Label: "Provider", Value: providers.DisplayName(spec.Provider)},
		{Label: "Approvals needed", Value: fmt.Sprint(d.Policy.Required(spec))},
	}}
	var may []string
	for _, a := range d.Policy.Approvers {
		if a != d.Actor.Person {
			may = append(may, a)
		}
	}
	m.Fields = append(m.Fields, chat.Field{Label: "May approve", Value: strings.Join(may, ", ")})
	if spec.Mail != nil {
		m.Fields = append(m.Fields, chat.Field{Label: "Mail action", Value: spec.Mail.Action})
	}
	switch {
	case d.Refusal != nil:
		text, _ := friendly(d.Refusal)
		m.Text, m.Tone = "Policy: this would be refused. "+text, chat.ToneBad
	case len(p.Problems) > 0:
		m.Text, m.Tone = "Policy: allowed, but "+chat.Count(len(p.Problems), "target")+" cannot be acted on, so it would not be filed.", chat.ToneBad
	default:
		m.Text = fmt.Sprintf("Policy: allowed. %s would receive %s. Nothing was filed.", providers.DisplayName(spec.Provider), chat.Count(len(p.Items), "item"))
	}
	m.Lines = append(m.Lines, problemLines(p.Problems)...)
	for _, it := range p.Items {
		m.Lines = append(m.Lines, itemLine(it, false))
	}
	limitLines(&m, maxLines)
	return m
}

// renderNotFiled says why a request was not filed: the targets that cannot
// be acted on, or that the provider found nothing.
func renderNotFiled(spec approvals.Spec, problems []workflow.Problem) chat.Message {
	if len(problems) == 0 {
		return chat.Message{Title: "Not filed: nothing to do", Tone: chat.ToneBad,
			Text: fmt.Sprintf("%s found nothing to act on for %s.", providers.DisplayName(spec.Provider), strings.Join(spec.Targets, ", "))}
	}
	m := chat.Message{Title: "Not filed: " + chat.Count(len(problems), "target") + " cannot be acted on", Tone: chat.ToneBad, Lines: problemLines(problems)}
	limitLines(&m, maxLines)
	return m
}

// problemLines lists targets that cannot be acted on.
func problemLines(problems []workflow.Problem) []chat.Line {
	lines := make([]chat.Line, 0, len(problems))
	for _, p := range problems {
		lines = append(lines, chat.Line{Mark: chat.MarkProblem, Text: p.Target, Detail: p.Detail})
	}
	return lines
}

// renderPending lists pending requests, oldest first.
func renderPending(rs []approvals.Request, now time.Time) chat.Message {
	if len(rs) == 0 {
		return chat.Message{Title: "No requests are waiting for approval."}
	}
	m := chat.Message{Title: "Waiting for approval", Tone: chat.ToneWaiting}
	for _, r := range rs {
		m.Lines = append(m.Lines, chat.Line{
			Mark:   chat.MarkPending,
			Text:   fmt.Sprintf("#%d %s", r.ID, actionTitle(r.Spec, len(r.Spec.Targets))),
			Detail: fmt.Sprintf("by %s, %s old, %d of %d approvals", r.Requester.Person, now.Sub(r.CreatedAt).Round(time.Minute), len(r.Approvals), r.ApprovalsRequired),
		})
	}
	limitLines(&m, maxLines)
	return m
}
