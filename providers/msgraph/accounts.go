package msgraph

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/mail"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/countersign/countersign/approvals"
	"github.com/countersign/countersign/providers"
)

const accountsPath = "/security/identities/identityAccounts"

// accountData is Resolved.Data of an account: the accounts[] entry that
// invokeAction acts on.
type accountData struct {
	Identifier       string `json:"identifier"`
	IdentityProvider string `json:"identityProvider"`
}

// accountPoll is Submission.Data of an account action.
type accountPoll struct {
	Kind          string `json:"kind"`
	Key           string `json:"key"`
	Action        string `json:"action"`
	ID            string `json:"id"` // identityAccounts id
	Identifier    string `json:"identifier"`
	CorrelationID string `json:"correlationId,omitempty"`
}

// odataQuote renders s as an OData string literal.
func odataQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// queryEscape escapes a query value with %20 for spaces, which every OData
// service reads, unlike "+".
func queryEscape(s string) string { return strings.ReplaceAll(url.QueryEscape(s), "+", "%20") }

// validAddress reports whether s is a bare e-mail address or UPN.
func validAddress(s string) bool {
	a, err := mail.ParseAddress(s)
	return err == nil && a.Name == "" && a.Address == s && len(s) <= 320
}

// resolveAccounts finds the identity account of every target (§3.3).
// Nothing is cached between calls: an account's state and actions change.
func (c *Client) resolveAccounts(ctx context.Context, spec approvals.Spec) ([]providers.Resolved, error) {
	action, ok := invokeActions[spec.Action]
	if !ok {
		return nil, c.unsupported(spec.Action)
	}
	type target struct{ raw, addr, key, problem string }
	var ts []target
	var addrs []string
	seen := map[string]bool{}
	for _, raw := range spec.Targets {
		addr := strings.TrimSpace(raw)
		key := strings.ToLower(addr)
		if seen[key] {
			continue
		}
		seen[key] = true
		t := target{raw: raw, addr: addr, key: key}
		if !validAddress(addr) {
			t.problem = "not a valid e-mail address or user principal name"
		} else {
			addrs = append(addrs, addr)
		}
		ts = append(ts, t)
	}
	found, err := c.lookupAccounts(ctx, addrs)
	if err != nil {
		return nil, err
	}
	out := make([]providers.Resolved, 0, len(ts))
	first := map[string]string{} // identity account id → the target that named it first
	for _, t := range ts {
		r := providers.Resolved{Key: t.key, Target: t.raw, Display: t.addr, Problem: t.problem}
		if t.problem == "" {
			switch hits := found[t.key]; len(hits) {
			case 0:
				r.Problem = "no identity account with this user principal name or e-mail address in Defender for Identity"
			case 1:
				r = c.resolvedAccount(r, hits[0], action)
				// Two addresses of one person would act on it twice.
				if other, dup := first[hits[0].ID]; dup {
					r.Problem = fmt.Sprintf("the same identity account as %s; name it once", other)
				} else {
					first[hits[0].ID] = t.addr
				}
			default:
				r.Problem = fmt.Sprintf("matches %d identity accounts; act on it in the Defender portal", len(hits))
			}
		}
		out = append(out, r)
	}
	return out, nil
}

// lookupAccounts returns, by lower-cased address, the identity accounts
// each address names. The derived-type filter on userPrincipalName is tried
// first; Graph does not document it, so on a 400 (and for addresses it does
// not find, which may be an emailAddress rather than the UPN) the whole list
// is paged once and matched case-insensitively on userPrincipalName, then
// emailAddress: a UPN match outranks an e-mail match of another identity.
func (c *Client) lookupAccounts(ctx context.Context, addrs []string) (map[string][]identityAccount, error) {
	out := make(map[string][]identityAccount, len(addrs))
	derived := true
	var scan []string
	for _, addr := range addrs {
		key := strings.ToLower(addr)
		if _, done := out[key]; done || slices.Contains(scan, key) {
			continue
		}
		if derived {
			hits, err := c.findByUPN(ctx, addr)
			var ge *Error
			switch {
			case errors.As(err, &ge) && ge.Status == http.StatusBadRequest:
				derived = false // undocumented filter refused; page instead
			case err != nil:
				return nil, fmt.Errorf("graph: looking up %s: %w", addr, err)
			case len(hits) > 0:
				out[key] = hits
				continue
			}
		}
		scan = append(scan, key)
	}
	if len(scan) == 0 {
		return out, nil
	}
	byKey := map[string][]identityAccount{}
	err := listEach(ctx, c, c.endpoint("v1.0", accountsPath, ""), permAccountsRead, func(ia identityAccount) {
		for _, k := range []string{strings.ToLower(ia.UserPrincipalName), strings.ToLower(ia.EmailAddress)} {
			if k != "" && slices.Contains(scan, k) && !slices.ContainsFunc(byKey[k], func(x identityAccount) bool { return x.ID == ia.ID }) {
				byKey[k] = append(byKey[k], ia)
			}
		}
	})
	if err != nil {
		return nil, fmt.Errorf("graph: listing identity accounts: %w", err)
	}
	for _, key := range scan {
		hits := byKey[key]
		var upn []identityAccount
		for _, h := range hits {
			if strings.EqualFold(h.UserPrincipalName, key) {
				upn = append(upn, h)
			}
		}
		if len(upn) > 0 {
			hits = upn
		}
		out[key] = hits
	}
	return out, nil
}

// identity is what an identity account is, for binding and protection: its
// id, the identifiers of its provider accounts and both its addresses.
func identity(ia identityAccount, typed ...string) approvals.Identity {
	id := approvals.Identity{ID: ia.ID, Addresses: append([]string{ia.UserPrincipalName, ia.EmailAddress}, typed...)}
	for _, a := range ia.Accounts {
		id.Accounts = append(id.Accounts, a.Identifier)
	}
	return id.Normalize()
}

// findByUPN tries the derived-property filter on userPrincipalName.
func (c *Client) findByUPN(ctx context.Context, upn string) ([]identityAccount, error) {
	q := "$filter=" + queryEscape("microsoft.graph.security.user/userPrincipalName eq "+odataQuote(upn))
	var hits []identityAccount
	err := listEach(ctx, c, c.endpoint("v1.0", accountsPath, q), permAccountsRead, func(ia identityAccount) {
		// Never trust a filter blindly: an item must really match.
		if strings.EqualFold(ia.UserPrincipalName, upn) {
			hits = append(hits, ia)
		}
	})
	return hits, err
}

// resolvedAccount fills r from the identity account found for it: the
// accounts[] entry of the configured identity provider, its state, and a
// Problem when the action is not among the entry's actions.
func (c *Client) resolvedAccount(r providers.Resolved, ia identityAccount, action string) providers.Resolved {
	upn := clean(ia.UserPrincipalName)
	if upn == "" {
		upn = clean(ia.EmailAddress)
	}
	if upn == "" {
		upn = r.Display
	}
	r.Display = upn
	if name := clean(ia.DisplayName); name != "" {
		r.Display = name + " <" + upn + ">"
	}
	r.Account = ia.ID
	r.Identity = identity(ia, r.Key)
	r.State = enabledState(ia.IsEnabled)
	if ia.ID == "" {
		r.Problem = "Graph returned the identity account without an id"
		return r
	}
	var entry *account
	var providersSeen []string
	for i := range ia.Accounts {
		a := &ia.Accounts[i]
		providersSeen = append(providersSeen, clean(a.provider()))
		if entry == nil && sameEnum(a.provider(), c.idp) {
			entry = a
		}
	}
	switch {
	case entry == nil && len(providersSeen) == 0:
		r.Problem = "the identity account has no provider accounts to act on"
		return r
	case entry == nil:
		r.Problem = fmt.Sprintf("no %s account (it has: %s); providers.graph.identity_provider selects the provider", c.idp, strings.Join(providersSeen, ", "))
		return r
	case strings.TrimSpace(entry.Identifier) == "":
		r.Problem = fmt.Sprintf("the %s account has no identifier", c.idp)
		return r
	}
	if !entry.hasAction(action) {
		avail := make([]string, 0, len(entry.Actions))
		for _, a := range entry.Actions {
			avail = append(avail, clean(a))
		}
		list := "none"
		if len(avail) > 0 {
			list = strings.Join(avail, ", ")
		}
		r.Problem = fmt.Sprintf("%s is not available for this %s account now (available: %s; the account is %s)", action, c.idp, list, r.State)
	}
	prov := canonicalProvider(entry.provider())
	if prov == "" {
		prov = entry.provider()
	}
	r.Data, _ = json.Marshal(accountData{Identifier: entry.Identifier, IdentityProvider: prov})
	return r
}

func enabledState(v *bool) string {
	switch {
	case v == nil:
		return "unknown"
	case *v:
		return "enabled"
	}
	return "disabled"
}

// submitAccount makes the one invokeAction call of a batch (MaxItems is 1:
// each call is its own fenced step). The body is the schema form; the
// answer is accepted in either documented shape.
func (c *Client) submitAccount(ctx context.Context, batch providers.Batch) (providers.Submission, error) {
	action := invokeActions[batch.Spec.Action]
	it := batch.Items[0]
	d, err := decodeData[accountData](it.Data, "item "+it.Key+": account data")
	if err != nil {
		return providers.Submission{}, err
	}
	prov := canonicalProvider(d.IdentityProvider)
	if it.Account == "" || strings.TrimSpace(d.Identifier) == "" || prov == "" {
		return providers.Submission{}, fmt.Errorf("graph: item %s: needs the identity account id, the account identifier and a known identity provider from Resolve", it.Key)
	}
	body, err := json.Marshal(struct {
		AccountID        string `json:"accountId"`
		Action           string `json:"action"`
		IdentityProvider string `json:"identityProvider"`
	}{d.Identifier, action, prov})
	if err != nil {
		return providers.Submission{}, fmt.Errorf("graph: encoding invokeAction: %w", err)
	}
	u := c.endpoint("v1.0", accountsPath+"/"+url.PathEscape(it.Account)+"/invokeAction", "")
	res, err := c.post(ctx, u, body, permActions)
	if err != nil {
		return providers.Submission{}, fmt.Errorf("graph: invokeAction %s on %s: %w", action, it.Key, err)
	}
	// HTTP 200 means Graph accepted the action. The correlation id is only
	// a reference (no API looks it up), so an unreadable answer is logged,
	// not an error: Poll verifies by re-reading the account.
	r, err := decodeInvokeActionResult(res.Body)
	if err != nil {
		c.log.WarnContext(ctx, "graph invokeAction answer unreadable", "request_id", clean(res.RequestID), "error", err.Error())
	} else if !sameEnum(r.Action, action) || r.AccountID != d.Identifier {
		c.log.WarnContext(ctx, "graph invokeAction answer names another action or account",
			"request_id", clean(res.RequestID), "action", clean(r.Action), "correlation_id", r.CorrelationID)
	}
	return accountSubmission(it, action, d, r.CorrelationID, c.now()), nil
}

// accountSubmission is what Poll follows for an account action.
func accountSubmission(it providers.Resolved, action string, d accountData, corr string, at time.Time) providers.Submission {
	data, _ := json.Marshal(accountPoll{Kind: kindAccount, Key: it.Key, Action: action, ID: it.Account,
		Identifier: d.Identifier, CorrelationID: corr})
	return providers.Submission{
		Provider:    providers.Graph,
		ID:          corr,
		Items:       []providers.SubmittedItem{{Key: it.Key, Ref: corr}},
		Data:        data,
		SubmittedAt: at.UTC(),
	}
}

// pollAccount verifies an account action. Graph has no API for a
// correlationId (§3.6): disable and enable are checked by re-reading the
// account's isEnabled; the other actions leave nothing Graph shows, so they
// are reported as succeeded on Graph's acceptance, saying exactly that.
func (c *Client) pollAccount(ctx context.Context, sub providers.Submission) (providers.Progress, error) {
	pd, err := decodeData[accountPoll](sub.Data, "submission data")
	if err != nil {
		return providers.Progress{}, err
	}
	if pd.ID == "" || pd.Key == "" {
		return providers.Progress{}, errors.New("graph: submission data lacks the identity account")
	}
	corr := pd.CorrelationID
	if corr == "" {
		corr = "not returned"
	}
	st := providers.ItemStatus{Key: pd.Key, Ref: pd.CorrelationID}
	want := ""
	switch pd.Action {
	case "disable":
		want = "disabled"
	case "enable":
		want = "enabled"
	default:
		st.Status = approvals.ItemSucceeded
		st.Detail = fmt.Sprintf("accepted by Microsoft Graph (correlationId %s); Graph offers no way to verify that %s took effect", corr, pd.Action)
		return providers.Progress{Items: []providers.ItemStatus{st}, Done: true}, nil
	}
	res, err := c.get(ctx, c.endpoint("v1.0", accountsPath+"/"+url.PathEscape(pd.ID), ""), permAccountsRead)
	var ge *Error
	switch {
	case errors.As(err, &ge) && ge.Status == http.StatusNotFound:
		st.Status = approvals.ItemFailed
		st.Detail = fmt.Sprintf("the identity account is no longer found in Defender for Identity (correlationId %s)", corr)
		return providers.Progress{Items: []providers.ItemStatus{st}, Done: true}, nil
	case err != nil:
		return providers.Progress{}, fmt.Errorf("graph: reading identity account of %s: %w", pd.Key, err)
	}
	ia, err := decodeAccount(res.Body)
	if err != nil {
		return providers.Progress{}, fmt.Errorf("graph: reading identity account of %s (request-id %s): %w", pd.Key, clean(res.RequestID), err)
	}
	if state := enabledState(ia.IsEnabled); state == want {
		st.Status = approvals.ItemSucceeded
		st.Detail = fmt.Sprintf("the account is %s (correlationId %s)", state, corr)
	} else {
		st.Status = approvals.ItemRunning
		st.Detail = fmt.Sprintf("Graph accepted %s (correlationId %s); the account still shows as %s", pd.Action, corr, state)
	}
	return providers.Progress{Items: []providers.ItemStatus{st}, Done: st.Status.Terminal()}, nil
}
