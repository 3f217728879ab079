package tmcas

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/countersign/countersign/approvals"
	"github.com/countersign/countersign/providers"
	"github.com/countersign/countersign/providers/tmcas/tmcastest"
)

// outcomesClient is a client of a fake with faults, with one account.
func outcomesClient(t *testing.T, faults tmcastest.Faults) (*Client, *tmcastest.Server) {
	t.Helper()
	f := tmcastest.New(tmcastest.Options{Faults: faults})
	t.Cleanup(f.Close)
	f.AddAccount("alice@contoso.com")
	c, err := New(Config{BaseURL: f.URL(), Token: f.Token(), MaxRetries: 2, RetryInitial: time.Millisecond,
		RetryMax: 5 * time.Millisecond, HTTPClient: &http.Client{Timeout: 10 * time.Second}})
	if err != nil {
		t.Fatal(err)
	}
	return c, f
}

func outcomesBatch() providers.Batch {
	return providers.Batch{Spec: approvals.Spec{Action: approvals.ActionDisable, Provider: providers.TMCAS, Targets: []string{"alice@contoso.com"}},
		Items: []providers.Resolved{{Key: "alice@contoso.com", Account: "alice@contoso.com"}}}
}

// TestSubmitAnswers drives every row of submitAnswers through the fake and
// checks that Submit's result is what the row says.
func TestSubmitAnswers(t *testing.T) {
	faults := map[string]tmcastest.Faults{
		"201, code 0, a batch_id":                     {},
		"2xx with code not 0":                         {CreatedCode: -1, CreatedMsg: "refused"},
		"2xx without a usable batch_id":               {OmitBatchID: true},
		"400, 401, 403, 404, 405":                     {Forbidden: []string{"/v1/mitigation/accounts"}},
		"429":                                         {Rate429: 1, RetryAfter: true, InjectedRetryAfter: time.Millisecond},
		"500, 503, a gateway's 502 or 504, no answer": {StatusAfterCreate: http.StatusBadGateway},
	}
	for _, row := range submitAnswers {
		t.Run(row.answer, func(t *testing.T) {
			fl, ok := faults[row.answer]
			if !ok {
				t.Fatalf("no fake mode for %q", row.answer)
			}
			c, f := outcomesClient(t, fl)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			_, err := c.Submit(ctx, outcomesBatch())
			var got outcome
			switch {
			case err == nil:
				got = outcomeAccepted
			case errors.Is(err, providers.ErrUncertain):
				got = outcomeUnknown
			case errors.Is(err, providers.ErrTemporary):
				got = outcomeRetry
			default:
				got = outcomeFailed
			}
			if got != row.means {
				t.Errorf("Submit: got %q (%v), want %q", got, err, row.means)
			}
			if got == outcomeFailed || got == outcomeRetry {
				if ids := f.BatchIDs(); len(ids) != 0 {
					t.Errorf("a %q answer left batches %v", row.answer, ids)
				}
			}
		})
	}
}

// TestResultAnswers sends every status of resultAnswers, and one the
// documents do not define, as a batch's result and checks the item's status
// and detail.
func TestResultAnswers(t *testing.T) {
	rows := append(append([]answer(nil), resultAnswers...), answer{answer: "Queued", thread: undefinedResult.thread})
	for _, row := range rows {
		t.Run(row.answer, func(t *testing.T) {
			c, _ := outcomesClient(t, tmcastest.Faults{FinalStatus: row.answer})
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			sub, err := c.Submit(ctx, outcomesBatch())
			if err != nil {
				t.Fatalf("Submit: %v", err)
			}
			p, err := c.Poll(ctx, sub)
			if err != nil {
				t.Fatalf("Poll: %v", err)
			}
			if len(p.Items) != 1 {
				t.Fatalf("Poll: got %d items, want 1", len(p.Items))
			}
			got := p.Items[0]
			if got.Status != row.thread {
				t.Errorf("status %q: got %s, want %s", row.answer, got.Status, row.thread)
			}
			if p.Done != row.thread.Terminal() {
				t.Errorf("status %q: Done %v, want %v", row.answer, p.Done, row.thread.Terminal())
			}
			if row.answer == "Queued" && !strings.HasPrefix(got.Detail, notConfirmed) {
				t.Errorf("undefined status: detail %q, want it to start %q", got.Detail, notConfirmed)
			}
			if got.Status == approvals.ItemSucceeded && got.Detail != "" {
				t.Errorf("success carries detail %q", got.Detail)
			}
		})
	}
}
