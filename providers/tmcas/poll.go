package tmcas

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"

	"github.com/countersign/countersign/approvals"
	"github.com/countersign/countersign/providers"
)

// Poll reads every result of the submission's batch, following next_link,
// and reports each item. An item TMCAS does not list yet is still
// submitted: the documents do not say that a batch lists every action from
// the start.
func (c *Client) Poll(ctx context.Context, sub providers.Submission) (providers.Progress, error) {
	if sub.Provider != providers.TMCAS {
		return providers.Progress{}, fmt.Errorf("tmcas: submission belongs to provider %q", sub.Provider)
	}
	if sub.ID == "" {
		return providers.Progress{}, errors.New("tmcas: submission has no batch_id")
	}
	var pd pollData
	if err := json.Unmarshal(sub.Data, &pd); err != nil {
		return providers.Progress{}, fmt.Errorf("tmcas: submission data: %w", err)
	}
	api := apiAccounts
	switch pd.Kind {
	case kindAccounts:
	case kindMails:
		api = apiMails
	default:
		return providers.Progress{}, fmt.Errorf("tmcas: submission data has unknown kind %q", pd.Kind)
	}
	var results []action
	u := c.endpoint("/v1/mitigation/"+pd.Kind, url.Values{"batch_id": {sub.ID}})
	err := paginate(ctx, c, u, api, func(p resultPage) { results = append(results, p.Actions...) })
	if err != nil {
		return providers.Progress{}, fmt.Errorf("tmcas: polling batch %s: %w", sub.ID, err)
	}
	idx := indexResults(sub.ID, results)
	prog := providers.Progress{Items: make([]providers.ItemStatus, 0, len(pd.Items)), Done: true}
	for _, it := range pd.Items {
		st := itemStatus(it, idx)
		prog.Items = append(prog.Items, st)
		if !st.Status.Terminal() {
			prog.Done = false
		}
	}
	return prog, nil
}

// resultIndex finds results by the match keys of §1.8.
type resultIndex map[string]*action

func matchKey(parts ...string) string { return strings.Join(parts, "\x00") }

// indexResults indexes the actions of batchID. A later entry for the same
// key wins, as a listing in request order ends with the newest.
func indexResults(batchID string, results []action) resultIndex {
	idx := make(resultIndex, 2*len(results))
	for i := range results {
		a := &results[i]
		if a.BatchID != "" && a.BatchID != batchID {
			continue // not ours; never let another batch decide an outcome
		}
		at := strings.ToUpper(strings.TrimSpace(a.ActionType))
		email := strings.ToLower(strings.TrimSpace(a.AccountUserEmail))
		box := strings.ToLower(strings.TrimSpace(a.Mailbox))
		if box == "" {
			box = email // mail results also carry account_user_email
		}
		if email != "" {
			idx[matchKey(kindAccounts, at, email)] = a
		}
		if a.MailUniqueID != "" {
			idx[matchKey("uid", at, box, a.MailUniqueID)] = a
		}
		if a.MailMessageID != "" {
			idx[matchKey("mid", at, box, a.MailMessageID)] = a
		}
	}
	return idx
}

// itemStatus combines the results for one submitted item: one account, or
// every copy of a message in one mailbox.
func itemStatus(it pollItem, idx resultIndex) providers.ItemStatus {
	var found []*action
	missing := 0
	if it.Email != "" {
		if a := idx[matchKey(kindAccounts, it.ActionType, it.Email)]; a != nil {
			found = append(found, a)
		} else {
			missing++
		}
	} else {
		for _, uid := range it.UniqueIDs {
			var a *action
			if uid != "" {
				a = idx[matchKey("uid", it.ActionType, it.Mailbox, uid)]
			}
			// Fall back to the Message-ID only for a result without a
			// unique id: with two copies in one mailbox, the other copy's
			// result must not stand in for a missing one.
			if m := idx[matchKey("mid", it.ActionType, it.Mailbox, it.MessageID)]; a == nil && m != nil && (uid == "" || m.MailUniqueID == "") {
				a = m
			}
			if a != nil {
				found = append(found, a)
			} else {
				missing++
			}
		}
	}
	st := providers.ItemStatus{Key: it.Key, Status: approvals.ItemSubmitted}
	var refs, details []string
	counts := map[approvals.ItemStatus]int{}
	for _, a := range found {
		s, detail := actionStatus(a)
		counts[s]++
		if a.ActionID != "" && !slices.Contains(refs, a.ActionID) {
			refs = append(refs, clean(a.ActionID))
		}
		if detail != "" && !slices.Contains(details, detail) && (s == approvals.ItemFailed || s == approvals.ItemSkipped || !s.Terminal()) {
			details = append(details, detail)
		}
	}
	st.Ref = strings.Join(refs, ",")
	switch {
	case missing > 0:
		st.Status = approvals.ItemSubmitted
	case counts[approvals.ItemRunning] > 0:
		st.Status = approvals.ItemRunning
	case counts[approvals.ItemFailed] > 0:
		st.Status = approvals.ItemFailed
	case counts[approvals.ItemSucceeded] > 0:
		st.Status = approvals.ItemSucceeded
		details = nil
	default:
		st.Status = approvals.ItemSkipped
	}
	st.Detail = strings.Join(details, "; ")
	return st
}

// actionStatus maps a result's status by resultAnswers; a value they do not
// list is undefinedResult.
func actionStatus(a *action) (approvals.ItemStatus, string) {
	status := strings.TrimSpace(a.Status)
	for _, r := range resultAnswers {
		if !strings.EqualFold(status, r.answer) {
			continue
		}
		switch {
		case r.thread == approvals.ItemSkipped:
			return r.thread, clean(a.ErrorMessage)
		case r.thread != approvals.ItemFailed:
			return r.thread, ""
		case clean(a.ErrorMessage) != "":
			return r.thread, clean(a.ErrorMessage)
		}
		return r.thread, fmt.Sprintf("failed with error_code %d", a.ErrorCode)
	}
	return undefinedResult.thread, fmt.Sprintf("%s: TMCAS reports status %q", notConfirmed, clean(a.Status))
}
