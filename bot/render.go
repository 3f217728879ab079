package bot

import (
	"fmt"
	"strings"
	"time"

	"github.com/countersign/countersign/approvals"
)

// maxLines is the most list lines one message shows; the rest are counted
// in Message.More. It keeps every message inside Slack's and Discord's
// limits whatever the batch size.
const maxLines = 40

// limitLines cuts m's lines to n, counting the rest in More.
func limitLines(m *Message, n int) {
	if len(m.Lines) > n {
		m.More += len(m.Lines) - n
		m.Lines = m.Lines[:n]
	}
}

// count formats "1 target", "3 targets".
func count(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	if strings.HasSuffix(noun, "x") || strings.HasSuffix(noun, "s") {
		return fmt.Sprintf("%d %ses", n, noun)
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

// providerName is the provider as people know it.
func providerName(p string) string {
	switch p {
	case "tmcas":
		return "Trend Micro Cloud App Security"
	case "graph":
		return "Microsoft Graph"
	}
	return p
}

// actionTitle says what a spec does, for titles: "Disable 2 accounts".
func actionTitle(s approvals.Spec, items int) string {
	switch s.Action {
	case approvals.ActionPurgeMail:
		action := ""
		if s.Mail != nil && s.Mail.Action != "" {
			action = " (" + s.Mail.Action + ")"
		}
		return fmt.Sprintf("Purge a message from %s%s", count(items, "mailbox"), action)
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
	return verb + " " + count(len(s.Targets), "account")
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
func stateText(r approvals.Request, now time.Time) (string, Tone) {
	switch r.State {
	case approvals.StatePending:
		left := r.ExpiresAt.Sub(now).Round(time.Minute)
		return fmt.Sprintf("Waiting for approval: %d of %d (expires %s, in %s).", len(r.Approvals), r.ApprovalsRequired, stamp(r.ExpiresAt), left), ToneWaiting
	case approvals.StateApproved:
		return "Approved; starting.", ToneGood
	case approvals.StateRunning:
		return "Running.", ToneGood
	case approvals.StateSucceeded:
		return "Succeeded.", ToneGood
	case approvals.StatePartiallyFailed:
		return "Partially failed: some targets were not done.", ToneBad
	case approvals.StateFailed:
		return "Failed: nothing was done.", ToneBad
	case approvals.StateNeedsAttention:
		return "Needs attention: the outcome is uncertain and it will not be retried automatically. Check the provider's console.", ToneBad
	case approvals.StateDenied:
		return "Denied.", ToneBad
	case approvals.StateExpired:
		return "Expired without enough approvals.", ToneMuted
	case approvals.StateCancelled:
		return "Cancelled.", ToneMuted
	}
	return string(r.State), ToneNeutral
}

func who(a approvals.Actor) string {
	if a.Name != "" && a.Name != a.Person {
		return a.Person + " (" + a.Name + ")"
	}
	return a.Person
}

// itemLine is one target on a card or in a summary.
func itemLine(it approvals.Item, withRef bool) Line {
	l := Line{Text: it.Display, Detail: it.Before}
	if l.Text == "" {
		l.Text = it.Key
	}
	switch it.Status {
	case approvals.ItemPending:
		l.Mark = MarkPending
	case approvals.ItemSubmitted, approvals.ItemRunning:
		l.Mark, l.Detail = MarkRunning, "in progress"
	case approvals.ItemSucceeded:
		l.Mark, l.Detail = MarkOK, "done"
	case approvals.ItemFailed:
		l.Mark, l.Detail = MarkFailed, "failed"
	case approvals.ItemSkipped:
		l.Mark, l.Detail = MarkSkipped, "skipped"
	case approvals.ItemUnknown:
		l.Mark, l.Detail = MarkProblem, "outcome unknown, not sent again"
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
func renderCard(r approvals.Request, items []approvals.Item, now time.Time) Message {
	status, tone := stateText(r, now)
	m := Message{
		Request: r.ID,
		Title:   fmt.Sprintf("#%d · %s", r.ID, actionTitle(r.Spec, len(items))),
		Tone:    tone,
		Text:    status,
		Fields: []Field{
			{Label: "Requested by", Value: who(r.Requester)},
			{Label: "Provider", Value: providerName(r.Spec.Provider)},
		},
		Footer: fmt.Sprintf("request #%d · content hash %s · filed %s", r.ID, approvals.ShortHash(r.Hash), stamp(r.CreatedAt)),
	}
	if r.Spec.Reason != "" {
		m.Fields = append(m.Fields, Field{Label: "Reason", Value: r.Spec.Reason})
	}
	if r.Spec.Action == approvals.ActionPurgeMail {
		m.Fields = append(m.Fields, Field{Label: "Message", Value: strings.Join(r.Spec.Targets, ", "), Code: true})
	}
	var approvedBy []string
	for _, d := range r.Approvals {
		approvedBy = append(approvedBy, who(d.Actor))
	}
	given := fmt.Sprintf("%d of %d", len(r.Approvals), r.ApprovalsRequired)
	if len(approvedBy) > 0 {
		given += ": " + strings.Join(approvedBy, ", ")
	}
	m.Fields = append(m.Fields, Field{Label: "Approvals", Value: given})
	switch {
	case r.State == approvals.StatePending:
		m.Fields = append(m.Fields, Field{Label: "May approve", Value: strings.Join(r.Waiting(), ", ")})
		approve := Button{Label: "Approve", Style: StylePrimary, Value: buttonValue(verbApprove, r)}
		if destructive(r.Spec) {
			approve.Confirm = &Confirm{Title: "Approve?", Text: actionTitle(r.Spec, len(items)) + ". This cannot be undone from here.", Confirm: "Approve", Deny: "Back"}
		}
		m.Buttons = []Button{approve, {Label: "Deny", Style: StyleDanger, Value: buttonValue(verbDeny, r)}}
	case r.Denial != nil:
		m.Fields = append(m.Fields, Field{Label: "Denied by", Value: who(r.Denial.Actor) + ": " + r.Denial.Reason})
	case r.Cancel != nil:
		by := who(r.Cancel.Actor)
		if r.Cancel.Reason != "" {
			by += ": " + r.Cancel.Reason
		}
		m.Fields = append(m.Fields, Field{Label: "Cancelled by", Value: by})
	}
	if r.Note != "" {
		m.Fields = append(m.Fields, Field{Label: "Note", Value: r.Note})
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
func renderProgress(r approvals.Request, items []approvals.Item) Message {
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
		text += fmt.Sprintf(" %d of %d sent to %s so far.", len(items)-waiting, len(items), providerName(r.Spec.Provider))
	}
	m := Message{
		Request: r.ID,
		Title:   fmt.Sprintf("Progress of #%d: %d of %d done", r.ID, c.done, len(items)),
		Text:    text,
		Tone:    ToneGood,
	}
	if c.failed+c.unknown > 0 {
		m.Tone = ToneBad
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
func renderSummary(r approvals.Request, items []approvals.Item) Message {
	status, tone := stateText(r, r.FinishedAt)
	c := tally(items)
	m := Message{
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

// renderPreview answers --dry-run and explain.
func renderPreview(spec approvals.Spec, requester approvals.Actor, policy approvals.Policy, items []approvals.Item, problems []Line, checkErr error, explain bool) Message {
	title := "Dry run: " + actionTitle(spec, len(items))
	if explain {
		title = "Explain: " + actionTitle(spec, len(items))
	}
	m := Message{Title: title, Tone: ToneNeutral, Fields: []Field{
		{Label: "Provider", Value: providerName(spec.Provider)},
		{Label: "Approvals needed", Value: fmt.Sprint(policy.Required(spec))},
	}}
	var may []string
	for _, a := range policy.Approvers {
		if a != requester.Person {
			may = append(may, a)
		}
	}
	m.Fields = append(m.Fields, Field{Label: "May approve", Value: strings.Join(may, ", ")})
	if spec.Mail != nil {
		m.Fields = append(m.Fields, Field{Label: "Mail action", Value: spec.Mail.Action})
	}
	switch {
	case checkErr != nil:
		text, _ := friendly(checkErr)
		m.Text, m.Tone = "Policy: this would be refused. "+text, ToneBad
	case len(problems) > 0:
		m.Text, m.Tone = "Policy: allowed, but "+count(len(problems), "target")+" cannot be acted on, so it would not be filed.", ToneBad
	default:
		m.Text = fmt.Sprintf("Policy: allowed. %s would receive %s. Nothing was filed.", providerName(spec.Provider), count(len(items), "item"))
	}
	m.Lines = append(m.Lines, problems...)
	for _, it := range items {
		m.Lines = append(m.Lines, itemLine(it, false))
	}
	limitLines(&m, maxLines)
	return m
}

// renderPending lists pending requests, oldest first.
func renderPending(rs []approvals.Request, now time.Time) Message {
	if len(rs) == 0 {
		return Message{Title: "No requests are waiting for approval."}
	}
	m := Message{Title: "Waiting for approval", Tone: ToneWaiting}
	for _, r := range rs {
		m.Lines = append(m.Lines, Line{
			Mark:   MarkPending,
			Text:   fmt.Sprintf("#%d %s", r.ID, actionTitle(r.Spec, len(r.Spec.Targets))),
			Detail: fmt.Sprintf("by %s, %s old, %d of %d approvals", r.Requester.Person, now.Sub(r.CreatedAt).Round(time.Minute), len(r.Approvals), r.ApprovalsRequired),
		})
	}
	limitLines(&m, maxLines)
	return m
}
