package tmcas

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"net/mail"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/countersign/countersign/approvals"
	"github.com/countersign/countersign/providers"
)

// StateUnknownAccount is the State of every resolved account: TMCAS offers
// no API to look an account up, so the preview cannot say more.
const StateUnknownAccount = "unknown (TMCAS cannot look up accounts)"

// sweepLimit is the largest page the sweep API allows.
const sweepLimit = 1000

// mailData is the provider-private Data of a resolved mail: what
// POST /v1/mitigation/mails needs for each copy of the message in one
// mailbox. A mailbox usually holds one copy; all are acted on.
type mailData struct {
	MessageID string     `json:"mail_message_id"`
	Copies    []mailCopy `json:"copies"`
}

type mailCopy struct {
	UniqueID  string `json:"mail_unique_id,omitempty"`
	Delivered string `json:"mail_message_delivery_time,omitempty"`
}

// Resolve previews spec. Accounts are only validated (TMCAS cannot look
// them up). A message is swept for in every mailbox over the last SweepDays
// days; each mailbox holding it becomes one item.
func (c *Client) Resolve(ctx context.Context, spec approvals.Spec) ([]providers.Resolved, error) {
	if spec.Action == approvals.ActionPurgeMail {
		return c.resolveMail(ctx, spec)
	}
	if _, ok := accountActionTypes[spec.Action]; !ok {
		return nil, unsupported(spec.Action)
	}
	return resolveAccounts(spec.Targets), nil
}

func resolveAccounts(targets []string) []providers.Resolved {
	out := make([]providers.Resolved, 0, len(targets))
	seen := map[string]bool{}
	for _, t := range targets {
		addr := strings.TrimSpace(t)
		key := strings.ToLower(addr)
		if seen[key] {
			continue
		}
		seen[key] = true
		r := providers.Resolved{Key: key, Target: t, Display: addr, Account: addr, State: StateUnknownAccount,
			Identity: approvals.Identity{ID: key, Addresses: []string{key}}}
		if !validAddress(addr) {
			r.State, r.Problem, r.Identity = "", "not a valid e-mail address", approvals.Identity{}
		}
		out = append(out, r)
	}
	return out
}

func (c *Client) resolveMail(ctx context.Context, spec approvals.Spec) ([]providers.Resolved, error) {
	var want []string // requested recipients, lower-cased, in order
	if spec.Mail != nil {
		for _, r := range spec.Mail.Recipients {
			r = strings.ToLower(strings.TrimSpace(r))
			if !slices.Contains(want, r) {
				want = append(want, r)
			}
		}
	}
	var out []providers.Resolved
	seen := map[string]bool{}
	for _, t := range spec.Targets {
		id := strings.TrimSpace(t)
		if seen[id] {
			continue
		}
		seen[id] = true
		problem := ""
		switch {
		case approvals.IsGUID(strings.TrimSuffix(strings.TrimPrefix(id, "{"), "}")):
			problem = "this looks like a Microsoft Graph network message id; TMCAS needs the Internet Message-ID (<…@…>) from the message headers"
		case !approvals.IsMessageID(id):
			problem = "not an Internet Message-ID: expected <…@…> with the angle brackets"
		}
		if problem != "" {
			out = append(out, providers.Resolved{Key: id, Target: t, Display: id, Problem: problem})
			continue
		}
		found, err := c.sweep(ctx, id)
		if err != nil {
			return nil, fmt.Errorf("tmcas: sweeping for %s: %w", id, err)
		}
		out = append(out, c.mailItems(t, id, found, want)...)
	}
	return out, nil
}

// mailItems turns the sweep results for one message into resolved items:
// one per mailbox, filtered by the requested recipients.
func (c *Client) mailItems(target, id string, found []sweepItem, want []string) []providers.Resolved {
	byBox := map[string][]sweepItem{}
	for _, it := range found {
		box := strings.ToLower(strings.TrimSpace(it.Mailbox))
		if box == "" || (it.UniqueID == "" && it.MessageID == "") {
			continue // nothing TMCAS could act on
		}
		if it.MessageID != "" && it.MessageID != id {
			continue // not the message asked for; never purge it
		}
		byBox[box] = append(byBox[box], it)
	}
	if len(byBox) == 0 && len(want) == 0 {
		return []providers.Resolved{{Key: id, Target: target, Display: id,
			Problem: fmt.Sprintf("not found in any mailbox in the last %d days", c.sweepDays)}}
	}
	boxes := make([]string, 0, len(byBox))
	for box := range byBox {
		if len(want) == 0 || slices.Contains(want, box) {
			boxes = append(boxes, box)
		}
	}
	slices.Sort(boxes)
	out := make([]providers.Resolved, 0, len(boxes)+len(want))
	for _, box := range boxes {
		r := resolvedMail(target, id, box, byBox[box])
		if n := len(byBox[box]); n > c.maxItems {
			// One item is one fenced call; its copies cannot be split
			// over two batches, so it is refused before approval.
			r.Problem = fmt.Sprintf("this mailbox holds %d copies of the message, more than the %d rows one TMCAS call may carry (providers.tmcas.max_items_per_call)", n, c.maxItems)
		}
		out = append(out, r)
	}
	for _, w := range want {
		if _, ok := byBox[w]; ok {
			continue
		}
		r := providers.Resolved{Key: id + "/" + w, Target: target, Display: id, Account: w, Mailbox: w,
			Problem: fmt.Sprintf("not found in this mailbox in the last %d days", c.sweepDays)}
		if !validAddress(w) {
			r.Problem = "not a valid e-mail address"
		}
		out = append(out, r)
	}
	return out
}

func resolvedMail(target, id, box string, copies []sweepItem) providers.Resolved {
	slices.SortFunc(copies, func(a, b sweepItem) int {
		return cmp.Or(cmp.Compare(a.Delivered, b.Delivered), cmp.Compare(a.UniqueID, b.UniqueID))
	})
	d := mailData{MessageID: id}
	subject := ""
	var first time.Time
	for _, it := range copies {
		d.Copies = append(d.Copies, mailCopy{UniqueID: it.UniqueID, Delivered: it.Delivered})
		if subject == "" {
			subject = clean(it.Subject)
		}
		if t, err := time.Parse(time.RFC3339Nano, it.Delivered); err == nil && (first.IsZero() || t.Before(first)) {
			first = t
		}
	}
	data, err := json.Marshal(d)
	if err != nil {
		panic(fmt.Sprintf("tmcas: encoding mail data: %v", err)) // strings only
	}
	state := "found by sweep"
	if !first.IsZero() {
		state = "delivered " + first.UTC().Format(time.RFC3339)
	}
	if len(copies) > 1 {
		state += fmt.Sprintf(" (%d copies)", len(copies))
	}
	display := subject
	if display == "" {
		display = id
	}
	return providers.Resolved{Key: id + "/" + box, Target: target, Display: display, State: state,
		Account: box, Mailbox: box, Subject: subject, Data: data,
		Identity: approvals.Identity{ID: id + "/" + box, Addresses: []string{box}}}
}

// sweep returns every mail with the Internet Message-ID id delivered in the
// last SweepDays days, following next_link.
func (c *Client) sweep(ctx context.Context, id string) ([]sweepItem, error) {
	q := url.Values{
		"message_id": {id},
		"lastndays":  {strconv.Itoa(c.sweepDays)},
		"limit":      {strconv.Itoa(sweepLimit)},
	}
	var found []sweepItem
	err := paginate(ctx, c, c.endpoint("/v1/sweeping/mails", q), apiSweep, func(p sweepPage) { found = append(found, p.Value...) })
	return found, err
}

// validAddress reports whether s is a plain addr-spec (local@domain) of
// sensible length, with no display name, comments or quoting.
func validAddress(s string) bool {
	if len(s) > 254 || strings.Count(s, "@") != 1 {
		return false
	}
	at := strings.IndexByte(s, '@')
	local, domain := s[:at], s[at+1:]
	if local == "" || len(local) > 64 || !validDomain(domain) {
		return false
	}
	a, err := mail.ParseAddress(s)
	return err == nil && a.Name == "" && a.Address == s
}

func validDomain(d string) bool {
	labels := strings.Split(d, ".")
	if len(labels) < 2 || len(d) > 253 {
		return false
	}
	for _, l := range labels {
		if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			return false
		}
		for _, r := range l {
			if !(r == '-' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') {
				return false
			}
		}
	}
	return true
}
