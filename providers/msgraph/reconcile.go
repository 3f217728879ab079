package msgraph

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/countersign/countersign/approvals"
	"github.com/countersign/countersign/providers"
)

// Compile-time check that Client can reconcile.
var _ providers.Reconciler = (*Client)(nil)

// reconcileSkew is how much earlier than sentAt a trace may be stamped and
// still count: our clock and Graph's differ.
const reconcileSkew = 5 * time.Minute

// notSent is the sentence every unknown item's note carries.
const notSent = "Countersign did not send it again."

// Reconcile tells what Graph shows of a batch whose Submit was uncertain,
// by reading the state the action changes; it never sends anything:
//
//   - disable and enable: the identity account's isEnabled. In the wanted
//     state, the item is polled (and succeeds); otherwise unknown, as Graph
//     applies account actions asynchronously and may still do it. The other
//     account actions leave nothing Graph shows, so they are unknown.
//   - remediate: each recipient's analyzed e-mail. A message that moved as
//     the action would move it, or a new admin timeline event, shows Graph
//     received the remediation, and the item is polled (ending succeeded,
//     failed or skipped in Graph's words); otherwise unknown.
//   - BlockIp: the legacy securityActions list. One BlockIp of the address
//     with this request's reason created since sentAt is polled; none or
//     several leave the item unknown.
func (c *Client) Reconcile(ctx context.Context, batch providers.Batch, sentAt time.Time) (providers.Reconciliation, error) {
	if err := c.check(batch); err != nil {
		return providers.Reconciliation{}, err
	}
	switch batch.Spec.Action {
	case approvals.ActionPurgeMail:
		return c.reconcileMail(ctx, batch, sentAt)
	case approvals.ActionBlockIP:
		return c.reconcileBlockIP(ctx, batch, sentAt)
	}
	return c.reconcileAccount(ctx, batch, sentAt)
}

// stamp formats a time for a note.
func stamp(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05Z") }

func unknown(key, note string) providers.Reconciliation {
	return providers.Reconciliation{Unknown: map[string]string{key: note}}
}

func (c *Client) reconcileAccount(ctx context.Context, batch providers.Batch, sentAt time.Time) (providers.Reconciliation, error) {
	action := invokeActions[batch.Spec.Action]
	it := batch.Items[0]
	d, err := decodeData[accountData](it.Data, "item "+it.Key+": account data")
	if err != nil {
		return providers.Reconciliation{}, err
	}
	who := fmt.Sprintf("%s (identity account %s)", it.Display, it.Account)
	want := ""
	switch action {
	case "disable":
		want = "disabled"
	case "enable":
		want = "enabled"
	default:
		return unknown(it.Key, fmt.Sprintf("Graph shows nothing that tells whether %s was performed on %s. %s "+
			"Check the account's timeline and the Action center history in the Microsoft Defender portal for %s since %s before acting again.",
			action, who, notSent, action, stamp(sentAt))), nil
	}
	res, err := c.get(ctx, c.endpoint("v1.0", accountsPath+"/"+url.PathEscape(it.Account), ""), permAccountsRead)
	var ge *Error
	switch {
	case errors.As(err, &ge) && ge.Status == http.StatusNotFound:
		return unknown(it.Key, fmt.Sprintf("Defender for Identity no longer finds %s, so whether %s was performed cannot be told. %s "+
			"Check the user in the Microsoft Defender portal before acting again.", who, action, notSent)), nil
	case err != nil:
		return providers.Reconciliation{}, fmt.Errorf("graph: reading identity account of %s: %w", it.Key, err)
	}
	ia, err := decodeAccount(res.Body)
	if err != nil {
		return providers.Reconciliation{}, fmt.Errorf("graph: reading identity account of %s (request-id %s): %w", it.Key, clean(res.RequestID), err)
	}
	if state := enabledState(ia.IsEnabled); state != want {
		return unknown(it.Key, fmt.Sprintf("at %s Graph still shows %s as %s: %s has not taken effect, and Graph may still apply it, "+
			"as it applies account actions asynchronously. %s Check the account in the Microsoft Defender portal; if it stays %s, file the request again.",
			stamp(c.now()), who, state, action, notSent, state)), nil
	}
	sub := accountSubmission(it, action, d, "", sentAt)
	return providers.Reconciliation{Submission: &sub}, nil
}

func (c *Client) reconcileMail(ctx context.Context, batch providers.Batch, sentAt time.Time) (providers.Reconciliation, error) {
	opts := approvals.MailOptions{}
	if batch.Spec.Mail != nil {
		opts = *batch.Spec.Mail
	}
	action, ok := remediationAction(opts.Action)
	if !ok {
		return providers.Reconciliation{}, fmt.Errorf("graph: %w: purge-mail --action %q", providers.ErrUnsupported, opts.Action)
	}
	items := make([]mailItem, 0, len(batch.Items))
	for _, it := range batch.Items {
		d, err := decodeData[mailData](it.Data, "item "+it.Key+": mail data")
		if err != nil {
			return providers.Reconciliation{}, err
		}
		items = append(items, mailItem{Key: it.Key, mailData: d})
	}
	listed, err := c.listItems(ctx, items, sentAt)
	if err != nil {
		return providers.Reconciliation{}, fmt.Errorf("graph: looking for the uncertain remediation: %w", err)
	}
	pd := mailPoll{Kind: kindMail, Action: action}
	r := providers.Reconciliation{Unknown: map[string]string{}}
	label := batch.Label
	if strings.TrimSpace(label) == "" {
		label = fmt.Sprintf("Countersign request %d", batch.RequestID)
	}
	for _, it := range items {
		now := listed.find(it)
		if now != nil {
			st, _ := remediationOutcome(action, it.mailData, now, sentAt)
			if st.Terminal() || len(freshAdminEvents(it.mailData, *now, sentAt)) > 0 {
				pd.Items = append(pd.Items, it)
				continue
			}
		}
		seen := "Graph no longer lists the message for this mailbox"
		if now != nil {
			seen = fmt.Sprintf("the message is still in %s with no admin action on its timeline since %s", now.location(), stamp(sentAt))
		}
		r.Unknown[it.Key] = fmt.Sprintf("at %s %s: Graph may not have received the %s, or may apply it late. %s "+
			"Check the Action center history (https://security.microsoft.com/action-center/history) for %q around %s, "+
			"and the message (network message id %s) in %s's mailbox before acting again.",
			stamp(c.now()), seen, action, notSent, label, stamp(sentAt), it.NetworkMessageID, it.RecipientEmailAddress)
	}
	if len(pd.Items) > 0 {
		data, _ := json.Marshal(pd)
		sub := providers.Submission{Provider: providers.Graph, Data: data, SubmittedAt: sentAt.UTC()}
		for _, it := range pd.Items {
			sub.Items = append(sub.Items, providers.SubmittedItem{Key: it.Key})
		}
		r.Submission = &sub
	}
	return r, nil
}

func (c *Client) reconcileBlockIP(ctx context.Context, batch providers.Batch, sentAt time.Time) (providers.Reconciliation, error) {
	it := batch.Items[0]
	addr, err := netip.ParseAddr(it.Key)
	if err != nil {
		return providers.Reconciliation{}, fmt.Errorf("graph: item %s is not an IP address", it.Key)
	}
	reason := blockIPReason(batch)
	var found []string
	err = listEach(ctx, c, c.endpoint("beta", securityActionsPath, ""), permSecActRead, func(a securityAction) {
		if isBlockOf(a, addr, reason, sentAt) && !slices.Contains(found, a.ID) {
			found = append(found, strings.TrimSpace(a.ID))
		}
	})
	if err != nil {
		return providers.Reconciliation{}, fmt.Errorf("graph: looking for the uncertain BlockIp of %s: %w", addr, err)
	}
	switch len(found) {
	case 1:
		sub := blockIPSubmission(it.Key, found[0], sentAt)
		return providers.Reconciliation{Submission: &sub}, nil
	case 0:
		return unknown(it.Key, fmt.Sprintf("Graph lists no BlockIp of %s with the reason %q created since %s: it may not have "+
			"created one, or may list it late. %s Check the securityActions (GET /beta/security/securityActions) and "+
			"Microsoft Defender for Endpoint's indicators before acting again.", addr, reason, stamp(sentAt.Add(-reconcileSkew)), notSent)), nil
	}
	return unknown(it.Key, fmt.Sprintf("Graph lists %d BlockIp securityActions of %s with the reason %q since %s (ids %s), so which one "+
		"is this request's cannot be told. %s Check them before acting again.", len(found), addr, reason,
		stamp(sentAt.Add(-reconcileSkew)), strings.Join(found, ", "), notSent)), nil
}

// isBlockOf reports whether a is a BlockIp of addr with reason, created
// since sentAt (less the clock skew). A creation time Graph writes in a
// form no parser reads does not rule it out.
func isBlockOf(a securityAction, addr netip.Addr, reason string, sentAt time.Time) bool {
	if !sameEnum(a.Name, "BlockIp") || a.ActionReason != reason || strings.TrimSpace(a.ID) == "" {
		return false
	}
	if t, ok := parseGraphTime(a.CreatedDateTime); ok && t.Before(sentAt.Add(-reconcileSkew)) {
		return false
	}
	for _, p := range a.Parameters {
		if ip, err := netip.ParseAddr(strings.TrimSpace(p.Value)); err == nil && sameEnum(p.Name, "IP") && ip.Unmap() == addr.Unmap() {
			return true
		}
	}
	return false
}
