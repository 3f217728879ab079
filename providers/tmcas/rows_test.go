package tmcas_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/countersign/countersign/providers"
	"github.com/countersign/countersign/providers/internal/providertest"
	"github.com/countersign/countersign/providers/tmcas"
	"github.com/countersign/countersign/providers/tmcas/tmcastest"
)

// TestRowsPerCall proves max_items_per_call counts body rows, one per copy
// of a message, against a fake that refuses a longer array: chunks cut by
// providers.Fit are all accepted, a chunk cut by item count is refused, and
// a mailbox with more copies than the cap is refused at preview.
func TestRowsPerCall(t *testing.T) {
	const id = "<campaign@fabrikam.example>"
	const perCall = 3
	f := newFake(t, tmcastest.Options{Faults: tmcastest.Faults{MaxRows: perCall}})
	delivered := time.Now().Add(-time.Hour)
	copies := map[string]int{"a@contoso.com": 2, "b@contoso.com": 1, "c@contoso.com": 2, "d@contoso.com": 4, "e@contoso.com": 1}
	for box, n := range copies {
		for range n {
			f.AddMail(tmcastest.Mail{Mailbox: box, MessageID: id, Subject: "Invoice", Delivered: delivered})
		}
	}
	c := newClient(t, f, func(cfg *tmcas.Config) { cfg.MaxItemsPerCall = perCall })
	ctx := providertest.Context(t)
	spec := mailSpec("delete", nil, id)
	resolved, err := c.Resolve(ctx, spec)
	if err != nil {
		t.Fatalf("Resolve: %v", err)
	}
	var todo []providers.Resolved
	problems := map[string]string{}
	for _, r := range resolved {
		if r.Problem != "" {
			problems[r.Mailbox] = r.Problem
			continue
		}
		if got, want := c.Rows(r), copies[r.Mailbox]; got != want {
			t.Errorf("Rows(%s): got %d, want %d", r.Mailbox, got, want)
		}
		todo = append(todo, r)
	}
	if p := problems["d@contoso.com"]; len(problems) != 1 || !strings.Contains(p, "4 copies") || !strings.Contains(p, "max_items_per_call") {
		t.Fatalf("preview problems: got %q, want one for d@contoso.com naming its 4 copies and max_items_per_call", problems)
	}

	// Cut by item count, the first chunk is a, b, c: 5 rows. The client
	// refuses it before sending; the fake would too.
	if _, err := c.Submit(ctx, providers.Batch{Spec: spec, Items: todo[:perCall]}); err == nil || !strings.Contains(err.Error(), "makes 5 rows") {
		t.Errorf("Submit of 3 items with 5 rows: got %v, want a refusal naming 5 rows", err)
	}
	if n := f.Posts(); n != 0 {
		t.Fatalf("refused chunk made %d POSTs, want 0", n)
	}

	// Cut by rows, every chunk is accepted.
	var chunks [][]string
	for rest := todo; len(rest) > 0; {
		n := providers.Fit(c, spec.Action, rest)
		var boxes []string
		for _, r := range rest[:n] {
			boxes = append(boxes, r.Mailbox)
		}
		chunks = append(chunks, boxes)
		if _, err := c.Submit(ctx, providers.Batch{Spec: spec, Items: rest[:n]}); err != nil {
			t.Fatalf("Submit of %v: %v", boxes, err)
		}
		rest = rest[n:]
	}
	want := [][]string{{"a@contoso.com", "b@contoso.com"}, {"c@contoso.com", "e@contoso.com"}}
	if diff := cmp.Diff(want, chunks); diff != "" {
		t.Errorf("chunks (-want +got):\n%s", diff)
	}
	for _, call := range f.Calls() {
		if call.Method != http.MethodPost {
			continue
		}
		var rows []json.RawMessage
		if err := json.Unmarshal(call.Body, &rows); err != nil {
			t.Fatal(err)
		}
		if len(rows) > perCall || call.Status != http.StatusCreated {
			t.Errorf("POST with %d rows answered %d, want at most %d rows answered 201", len(rows), call.Status, perCall)
		}
	}
	if n := f.Posts(); n != 2 {
		t.Errorf("POSTs: got %d, want 2", n)
	}
}
