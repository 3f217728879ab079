package tmcas

import (
	"context"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/countersign/countersign/providers"
)

// Compile-time check that Client can reconcile.
var _ providers.Reconciler = (*Client)(nil)

// Limits of a reconciliation's query by time (§1.8).
const (
	// reconcileSkew widens the window before the call: our clock and
	// TMCAS's differ, and TMCAS stamps an action when it received it. The
	// window ends now: the documents do not say TMCAS accepts an end in the
	// future, and a batch stamped after our now is then unknown, not missed.
	reconcileSkew = 5 * time.Minute
	// resultsBack is how far back start may reach: "at most 72 hours
	// before the request time".
	resultsBack = 72 * time.Hour
	// queryTime is the documented form of start and end.
	queryTime = "2006-01-02T15:04:05.000Z"
)

// Reconcile finds the batch an uncertain Submit may have created: it reads
// the mitigation results of the time around sentAt (GET
// /v1/mitigation/{accounts|mails}?start&end) and looks for a batch whose
// actions are exactly those the POST carried. One such batch is the one
// the POST created, and its items are polled as usual. None, or more than
// one, leaves every item unknown: TMCAS may list a new batch late (§7), and
// another request may have acted on the same targets. Nothing is sent.
func (c *Client) Reconcile(ctx context.Context, batch providers.Batch, sentAt time.Time) (providers.Reconciliation, error) {
	p, err := c.plan(batch)
	if err != nil {
		return providers.Reconciliation{}, err
	}
	now := c.now().UTC()
	start, end := sentAt.UTC().Add(-reconcileSkew), now
	if oldest := now.Add(-resultsBack).Add(time.Minute); start.Before(oldest) {
		start = oldest
	}
	q := url.Values{"start": {start.Format(queryTime)}, "end": {end.Format(queryTime)}}
	byBatch := map[string][]action{}
	err = paginate(ctx, c, c.endpoint("/v1/mitigation/"+p.kind, q), p.api, func(pg resultPage) {
		for _, a := range pg.Actions {
			if id := strings.TrimSpace(a.BatchID); id != "" {
				byBatch[id] = append(byBatch[id], a)
			}
		}
	})
	if err != nil {
		return providers.Reconciliation{}, fmt.Errorf("tmcas: looking for the uncertain batch of %s: %w", p.kind, err)
	}
	want := wantedActions(p.pd)
	var found []string
	for id, acts := range byBatch {
		if sameActions(p.kind, acts, want) {
			found = append(found, id)
		}
	}
	slices.Sort(found)
	if len(found) == 1 {
		sub := p.submission(found[0], batch, sentAt)
		return providers.Reconciliation{Submission: &sub}, nil
	}
	window := fmt.Sprintf("between %s and %s", start.Format(time.RFC3339), end.Format(time.RFC3339))
	why := "TMCAS lists no batch with exactly the actions Countersign sent " + window +
		": it may not have created one, or may list it late"
	if len(found) > 1 {
		why = fmt.Sprintf("TMCAS lists %d batches with exactly these actions %s (batch_id %s), so which one, if any, "+
			"is Countersign's cannot be told", len(found), window, strings.Join(found, ", "))
	}
	r := providers.Reconciliation{Unknown: map[string]string{}}
	for _, it := range p.pd.Items {
		r.Unknown[it.Key] = fmt.Sprintf("%s. Countersign did not send it again. Check %s in the mitigation results "+
			"(GET /v1/mitigation/%s with start and end around that time) or the Cloud App Security console before acting again.",
			why, it.describe(), p.kind)
	}
	return r, nil
}

// describe names an item's action for a person.
func (it pollItem) describe() string {
	if it.Email != "" {
		return fmt.Sprintf("%s on %s", it.ActionType, it.Email)
	}
	return fmt.Sprintf("%s of %s in mailbox %s (mail_unique_id %s)", it.ActionType, it.MessageID, it.Mailbox, strings.Join(it.UniqueIDs, ", "))
}

// actionKey identifies one action of a batch: its type and target, and for
// mail the copy.
func actionKey(actionType, target, uniqueID string) string {
	return matchKey(strings.ToUpper(strings.TrimSpace(actionType)), strings.ToLower(strings.TrimSpace(target)), uniqueID)
}

// wantedActions counts the actions the POST of pd carried.
func wantedActions(pd pollData) map[string]int {
	want := map[string]int{}
	for _, it := range pd.Items {
		if it.Email != "" {
			want[actionKey(it.ActionType, it.Email, "")]++
			continue
		}
		for _, uid := range it.UniqueIDs {
			want[actionKey(it.ActionType, it.Mailbox, uid)]++
		}
	}
	return want
}

// sameActions reports whether acts, one batch's results of kind, are
// exactly the wanted actions: a batch holding anything else is another
// request's, and one missing an action cannot be told from another
// request's either.
func sameActions(kind string, acts []action, want map[string]int) bool {
	got := map[string]int{}
	for _, a := range acts {
		if kind == kindAccounts {
			got[actionKey(a.ActionType, a.AccountUserEmail, "")]++
			continue
		}
		box := a.Mailbox
		if strings.TrimSpace(box) == "" {
			box = a.AccountUserEmail // mail results also carry it
		}
		got[actionKey(a.ActionType, box, a.MailUniqueID)]++
	}
	if len(got) != len(want) {
		return false
	}
	for k, n := range want {
		if got[k] != n {
			return false
		}
	}
	return true
}
