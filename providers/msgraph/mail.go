package msgraph

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/countersign/countersign/approvals"
	"github.com/countersign/countersign/providers"
)

const emailsPath = "/security/collaboration/analyzedEmails"

// reGUID matches a network message id.
var reGUID = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

// mailData is Resolved.Data of one recipient's copy of a message, with the
// state seen at Resolve that Poll compares against.
type mailData struct {
	ID                    string `json:"id"`
	NetworkMessageID      string `json:"networkMessageId"`
	RecipientEmailAddress string `json:"recipientEmailAddress"`
	Location              string `json:"location"`
	AdminEvents           int    `json:"adminEvents"`
	// Since is the startTime Resolve listed from; Poll lists from the same
	// day, so a message near the edge of the lookback stays in view.
	Since string `json:"since,omitempty"`
}

// mailPoll is Submission.Data of a remediation.
type mailPoll struct {
	Kind   string     `json:"kind"`
	Action string     `json:"action"` // remediationAction
	BulkID string     `json:"bulkId,omitempty"`
	Items  []mailItem `json:"items"`
}

type mailItem struct {
	Key string `json:"key"`
	mailData
}

// remediationAction maps purge-mail --action to Graph's remediationAction
// (§4.3); empty means the default soft-delete.
func remediationAction(a string) (string, bool) {
	switch a {
	case "", "soft-delete":
		return "softDelete", true
	case "hard-delete":
		return "hardDelete", true
	case "junk":
		return "moveToJunk", true
	case "deleted-items":
		return "moveToDeletedItems", true
	case "inbox":
		return "moveToInbox", true
	}
	return "", false
}

// remediationSeverity maps --severity; empty means medium.
func remediationSeverity(s string) (string, bool) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "", "medium":
		return "medium", true
	case "low":
		return "low", true
	case "high":
		return "high", true
	}
	return "", false
}

// mailWindow returns the startTime and endTime of a listing. The documents
// show only dates (2024-02-18), so dates are sent: from the day MailLookback
// before now, to tomorrow, because a bare date may well be read as
// midnight and a message delivered today must be inside the window.
func mailWindow(now time.Time, lookback time.Duration) (start, end string) {
	now = now.UTC()
	return now.Add(-lookback).Format("2006-01-02"), now.Add(24 * time.Hour).Format("2006-01-02")
}

// listMessage returns every analyzed e-mail of one network message id,
// following every nextLink.
func (c *Client) listMessage(ctx context.Context, nmid, start, end string) ([]analyzedEmail, error) {
	q := "startTime=" + start + "&endTime=" + end + "&$filter=" + queryEscape("networkMessageId eq "+odataQuote(nmid))
	var out []analyzedEmail
	err := listEach(ctx, c, c.endpoint("v1.0", emailsPath, q), permMailRead, func(e analyzedEmail) {
		// Never let another message into a purge, whatever the filter did.
		if sameEnum(e.NetworkMessageID, nmid) && strings.TrimSpace(e.RecipientEmailAddress) != "" {
			out = append(out, e)
		}
	})
	return out, err
}

// resolveMail finds every recipient of each message: one item per
// recipient, limited to --recipient when given (a requested recipient the
// message did not reach is a Problem). Protected mailboxes are the
// policy's business, not the provider's.
func (c *Client) resolveMail(ctx context.Context, spec approvals.Spec) ([]providers.Resolved, error) {
	var want []string
	if spec.Mail != nil {
		if _, ok := remediationAction(spec.Mail.Action); !ok {
			return nil, unsupportedMail(spec.Mail.Action)
		}
		for _, r := range spec.Mail.Recipients {
			if r = strings.ToLower(strings.TrimSpace(r)); !slices.Contains(want, r) {
				want = append(want, r)
			}
		}
	}
	start, end := mailWindow(c.now(), c.lookback)
	days := int(c.lookback.Hours() / 24)
	var out []providers.Resolved
	seen := map[string]bool{}
	for _, t := range spec.Targets {
		nmid := strings.ToLower(strings.TrimSpace(t))
		if seen[nmid] {
			continue
		}
		seen[nmid] = true
		if !reGUID.MatchString(nmid) {
			p := "not a network message id (a GUID such as 73ca4154-58d8-43d0-a890-08dc18c52e6d)"
			if strings.Contains(nmid, "@") {
				p += "; an Internet Message-ID needs --provider tmcas"
			}
			out = append(out, providers.Resolved{Key: nmid, Target: t, Display: strings.TrimSpace(t), Problem: p})
			continue
		}
		found, err := c.listMessage(ctx, nmid, start, end)
		if err != nil {
			return nil, fmt.Errorf("graph: finding recipients of %s: %w", nmid, err)
		}
		byRcpt := map[string]analyzedEmail{}
		var order []string
		for _, e := range found {
			r := strings.ToLower(strings.TrimSpace(e.RecipientEmailAddress))
			if _, dup := byRcpt[r]; !dup {
				byRcpt[r] = e
				order = append(order, r)
			}
		}
		slices.Sort(order)
		if len(want) > 0 {
			order = want
		}
		if len(order) == 0 {
			out = append(out, providers.Resolved{Key: nmid, Target: t, Display: nmid,
				Problem: fmt.Sprintf("no analyzed e-mail with this network message id in the last %d days", days)})
			continue
		}
		for _, r := range order {
			e, ok := byRcpt[r]
			if !ok {
				out = append(out, providers.Resolved{Key: nmid + "/" + r, Target: t, Display: nmid, Mailbox: r,
					Problem: fmt.Sprintf("the message did not reach %s in the last %d days", r, days)})
				continue
			}
			out = append(out, mailResolved(t, nmid, r, e, start))
		}
	}
	return out, c.recipientIdentities(ctx, out)
}

// recipientIdentities binds each copy to its recipient's identity: the
// recipient address and, for every identity account the address names, its
// id and addresses. A protected person is then recognised under any alias
// the message reached; an address no account claims stands for itself.
func (c *Client) recipientIdentities(ctx context.Context, items []providers.Resolved) error {
	var rcpts []string
	for _, it := range items {
		if it.Problem == "" && !slices.Contains(rcpts, it.Mailbox) {
			rcpts = append(rcpts, it.Mailbox)
		}
	}
	found, err := c.lookupAccounts(ctx, rcpts)
	if err != nil {
		return fmt.Errorf("graph: looking up the recipients' identities: %w", err)
	}
	for i, it := range items {
		if it.Problem != "" {
			continue
		}
		id := approvals.Identity{ID: it.Key, Addresses: []string{it.Mailbox}}
		for _, ia := range found[it.Mailbox] {
			acct := identity(ia)
			id.Accounts = append(id.Accounts, acct.ID)
			id.Addresses = append(id.Addresses, acct.Addresses...)
		}
		items[i].Identity = id.Normalize()
	}
	return nil
}

func mailResolved(target, nmid, rcpt string, e analyzedEmail, since string) providers.Resolved {
	subject := clean(e.Subject)
	display := subject
	if display == "" {
		display = "(no subject)"
	}
	d := mailData{ID: e.ID, NetworkMessageID: nmid, RecipientEmailAddress: strings.TrimSpace(e.RecipientEmailAddress),
		Location: e.location(), AdminEvents: len(e.adminEvents()), Since: since}
	data, _ := json.Marshal(d)
	return providers.Resolved{
		Key: nmid + "/" + rcpt, Target: target, Display: display, State: e.location(),
		Mailbox: rcpt, Subject: subject, Data: data,
	}
}

// submitMail makes one remediate call for up to MaxMailItems recipients.
func (c *Client) submitMail(ctx context.Context, batch providers.Batch) (providers.Submission, error) {
	opts := approvals.MailOptions{}
	if batch.Spec.Mail != nil {
		opts = *batch.Spec.Mail
	}
	action, ok := remediationAction(opts.Action)
	if !ok {
		return providers.Submission{}, unsupportedMail(opts.Action)
	}
	severity, ok := remediationSeverity(opts.Severity)
	if !ok {
		return providers.Submission{}, fmt.Errorf("graph: --severity %q is not low, medium or high", opts.Severity)
	}
	type item struct {
		NetworkMessageID      string `json:"networkMessageId"`
		RecipientEmailAddress string `json:"recipientEmailAddress"`
	}
	items := make([]item, 0, len(batch.Items))
	pd := mailPoll{Kind: kindMail, Action: action}
	for _, it := range batch.Items {
		d, err := decodeData[mailData](it.Data, "item "+it.Key+": mail data")
		if err != nil {
			return providers.Submission{}, err
		}
		if !reGUID.MatchString(d.NetworkMessageID) || !validAddress(d.RecipientEmailAddress) {
			return providers.Submission{}, fmt.Errorf("graph: item %s: needs a network message id and a recipient from Resolve", it.Key)
		}
		items = append(items, item{d.NetworkMessageID, d.RecipientEmailAddress})
		pd.Items = append(pd.Items, mailItem{Key: it.Key, mailData: d})
	}
	label := batch.Label
	if strings.TrimSpace(label) == "" {
		label = fmt.Sprintf("Countersign request %d", batch.RequestID)
	}
	body, err := json.Marshal(struct {
		DisplayName          string `json:"displayName"`
		Description          string `json:"description"`
		Severity             string `json:"severity"`
		Action               string `json:"action"`
		RemediateSendersCopy bool   `json:"remediateSendersCopy"`
		AnalyzedEmails       []item `json:"analyzedEmails"`
	}{label, batch.Note, severity, action, opts.SendersCopy, items})
	if err != nil {
		return providers.Submission{}, fmt.Errorf("graph: encoding remediate: %w", err)
	}
	res, err := c.post(ctx, c.endpoint("v1.0", emailsPath+"/remediate", ""), body, permMailWrite)
	if err != nil {
		return providers.Submission{}, fmt.Errorf("graph: remediate %s of %d messages: %w", action, len(items), err)
	}
	// 202 with an empty body: the Location header is the only result. Without
	// a bulkId the remediation still happened; Poll tracks it through the
	// analyzed e-mails either way.
	loc := strings.TrimSpace(res.Header.Get("Location"))
	bulkID, ok := parseBulkID(loc)
	if !ok {
		c.log.WarnContext(ctx, "graph remediate answer has no bulkId in Location", "request_id", clean(res.RequestID), "status", res.Status)
	}
	pd.BulkID = bulkID
	data, _ := json.Marshal(pd)
	sub := providers.Submission{
		Provider:    providers.Graph,
		ID:          bulkID,
		Link:        safeLink(loc),
		Data:        data,
		SubmittedAt: c.now().UTC(),
	}
	for _, it := range pd.Items {
		sub.Items = append(sub.Items, providers.SubmittedItem{Key: it.Key, Ref: bulkID})
	}
	return sub, nil
}

// safeLink returns loc when it is an https URL a card may link to.
func safeLink(loc string) string {
	u, err := url.Parse(loc)
	if err != nil || u.Scheme != "https" || u.Host == "" || u.User != nil || len(loc) > 2048 {
		return ""
	}
	return loc
}

// pollMail re-lists each message of the submission and applies the
// completion rule to every recipient. Items stay running until the rule
// decides; the engine's deadline bounds the wait.
func (c *Client) pollMail(ctx context.Context, sub providers.Submission) (providers.Progress, error) {
	pd, err := decodeData[mailPoll](sub.Data, "submission data")
	if err != nil {
		return providers.Progress{}, err
	}
	if len(pd.Items) == 0 {
		return providers.Progress{}, errors.New("graph: submission has no items")
	}
	listed, err := c.listItems(ctx, pd.Items, sub.SubmittedAt)
	if err != nil {
		return providers.Progress{}, fmt.Errorf("graph: polling remediation %s: %w", pd.BulkID, err)
	}
	prog := providers.Progress{Done: true}
	for _, it := range pd.Items {
		st, detail := remediationOutcome(pd.Action, it.mailData, listed.find(it), sub.SubmittedAt)
		prog.Items = append(prog.Items, providers.ItemStatus{Key: it.Key, Status: st, Detail: detail, Ref: pd.BulkID})
		if !st.Terminal() {
			prog.Done = false
		}
	}
	return prog, nil
}

// listing is what Graph lists now of some messages: network message id →
// recipient → analyzed e-mail.
type listing map[string]map[string]analyzedEmail

// find returns the e-mail of it, or nil when Graph no longer lists it.
func (l listing) find(it mailItem) *analyzedEmail {
	if e, ok := l[strings.ToLower(it.NetworkMessageID)][strings.ToLower(it.RecipientEmailAddress)]; ok {
		return &e
	}
	return nil
}

// listItems lists every message of items as Graph shows it now, from the
// day MailLookback before since (or before the earliest day Resolve
// listed from, so a message near the edge stays in view) to tomorrow.
func (c *Client) listItems(ctx context.Context, items []mailItem, since time.Time) (listing, error) {
	if since.IsZero() {
		since = c.now()
	}
	start, _ := mailWindow(since, c.lookback)
	for _, it := range items {
		// Dates in one layout compare as strings.
		if _, err := time.Parse("2006-01-02", it.Since); err == nil && it.Since < start {
			start = it.Since
		}
	}
	_, end := mailWindow(c.now(), 0)
	listed := listing{}
	for _, it := range items {
		nmid := strings.ToLower(it.NetworkMessageID)
		if _, done := listed[nmid]; done {
			continue
		}
		found, err := c.listMessage(ctx, nmid, start, end)
		if err != nil {
			return nil, err
		}
		m := map[string]analyzedEmail{}
		for _, e := range found {
			r := strings.ToLower(strings.TrimSpace(e.RecipientEmailAddress))
			if _, dup := m[r]; !dup {
				m[r] = e
			}
		}
		listed[nmid] = m
	}
	return listed, nil
}

// eventSkew is how much earlier than our submission time an admin timeline
// event may be stamped and still count as ours (clocks differ).
const eventSkew = 5 * time.Minute

// freshAdminEvents returns the admin timeline events of now beyond the
// count seen at Resolve and not stamped before the submission.
func freshAdminEvents(before mailData, now analyzedEmail, submitted time.Time) []timelineEvent {
	var fresh []timelineEvent
	for i, ev := range now.adminEvents() {
		if i < before.AdminEvents {
			continue
		}
		if t, ok := parseGraphTime(ev.EventDateTime); ok && !submitted.IsZero() && t.Before(submitted.Add(-eventSkew)) {
			continue
		}
		fresh = append(fresh, ev)
	}
	return fresh
}

// remediationOutcome is the one completion rule of §4.4. Graph exposes no
// status of a remediation, so the message's state decides:
//
//   - a new admin timeline event whose result says it failed → failed;
//     one saying the message was not found → skipped;
//   - moveToJunk, moveToInbox, moveToDeletedItems → succeeded when
//     latestDelivery.location is junkFolder, inbox_folder, deletedFolder;
//   - softDelete, hardDelete (no documented location) → succeeded on a new
//     successful admin event, or when the message has moved from where
//     Resolve saw it to somewhere other than inbox_folder or junkFolder;
//   - anything else → running, until the engine's deadline.
//
// "New" admin events are those beyond the count seen at Resolve and not
// stamped before the submission.
func remediationOutcome(action string, before mailData, now *analyzedEmail, submitted time.Time) (approvals.ItemStatus, string) {
	if now == nil {
		return approvals.ItemRunning, "Graph no longer lists this message for the mailbox; waiting"
	}
	loc := now.location()
	fresh := freshAdminEvents(before, *now, submitted)
	success := false
	if len(fresh) > 0 {
		ev := fresh[len(fresh)-1]
		res := strings.ToLower(ev.EventResult)
		what := clean(ev.EventResult)
		if d := clean(ev.EventDetails); d != "" {
			what += ": " + d
		}
		switch {
		case strings.Contains(res, "fail"):
			return approvals.ItemFailed, "Graph timeline: " + what
		case strings.Contains(res, "not found"):
			return approvals.ItemSkipped, "Graph timeline: " + what
		}
		success = true
	}
	target := ""
	switch action {
	case "moveToJunk":
		target = "junkFolder"
	case "moveToInbox":
		target = "inbox_folder"
	case "moveToDeletedItems":
		target = "deletedFolder"
	case "softDelete", "hardDelete":
		moved := !sameEnum(loc, before.Location) && !sameEnum(loc, "inbox_folder") && !sameEnum(loc, "junkFolder") && !sameEnum(loc, "unknown")
		if success || moved {
			return approvals.ItemSucceeded, "the message is now in " + loc
		}
		return approvals.ItemRunning, "remediation accepted; the message is still in " + loc
	default:
		if success {
			return approvals.ItemSucceeded, "Graph timeline shows an admin action; the message is in " + loc
		}
		return approvals.ItemRunning, "remediation accepted; the message is in " + loc
	}
	if sameEnum(loc, target) {
		return approvals.ItemSucceeded, "the message is now in " + loc
	}
	if success {
		return approvals.ItemRunning, "Graph timeline shows an admin action, but the message is still in " + loc
	}
	return approvals.ItemRunning, "remediation accepted; the message is still in " + loc
}
