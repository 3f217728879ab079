package tmcas_test

import (
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/countersign/countersign/approvals"
	"github.com/countersign/countersign/providers"
	"github.com/countersign/countersign/providers/internal/providertest"
	"github.com/countersign/countersign/providers/tmcas"
	"github.com/countersign/countersign/providers/tmcas/tmcastest"
)

// TestCreatedCode: a 201 is success only with code 0 (§1.5). Any other code
// fails the call with TMCAS's code and msg in a *tmcas.Error; because a 201
// says the batch was created, the failure is uncertain, the POST is not
// sent again, and Reconcile finds the batch.
func TestCreatedCode(t *testing.T) {
	tests := []struct {
		name    string
		faults  tmcastest.Faults
		wantErr bool
		code    int
		msg     string
	}{
		{name: "code 0, msg empty", faults: tmcastest.Faults{}},
		{name: "code 0, msg null", faults: tmcastest.Faults{MsgNull: true}},
		{name: "negative code with msg", faults: tmcastest.Faults{CreatedCode: -4290001, CreatedMsg: "max allowed requests exceeded"},
			wantErr: true, code: -4290001, msg: "max allowed requests exceeded"},
		{name: "positive code without msg", faults: tmcastest.Faults{CreatedCode: 3},
			wantErr: true, code: 3},
		{name: "msg with control characters is cleaned", faults: tmcastest.Faults{CreatedCode: -1, CreatedMsg: "bad\u202eitem\x07"},
			wantErr: true, code: -1, msg: "baditem"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t, tmcastest.Options{Faults: tt.faults})
			f.AddAccount("alice@contoso.com")
			c := newClient(t, f, nil)
			ctx := providertest.Context(t)
			batch := providers.Batch{Spec: accountSpec(approvals.ActionDisable, "alice@contoso.com"),
				Items: []providers.Resolved{{Key: "alice@contoso.com", Account: "alice@contoso.com"}}}
			sentAt := time.Now()
			sub, err := c.Submit(ctx, batch)
			if n := countCalls(f.Calls(), http.MethodPost, ""); n != 1 {
				t.Errorf("POSTs: got %d, want 1", n)
			}
			if !tt.wantErr {
				if err != nil || len(f.BatchIDs()) != 1 || sub.ID != f.BatchIDs()[0] {
					t.Fatalf("Submit: got %+v, %v, want the fake's batch and no error", sub, err)
				}
				return
			}
			var te *tmcas.Error
			switch {
			case err == nil:
				t.Fatalf("Submit: got %+v and no error, want a failure", sub)
			case !errors.As(err, &te):
				t.Fatalf("Submit: got %v, want a *tmcas.Error", err)
			case te.Status != http.StatusCreated || te.Code != tt.code || te.Msg != tt.msg || te.TraceID == "":
				t.Errorf("Error: got status %d code %d msg %q traceId %q, want 201, %d, %q and a traceId", te.Status, te.Code, te.Msg, te.TraceID, tt.code, tt.msg)
			}
			if !errors.Is(err, providers.ErrUncertain) {
				t.Errorf("Submit: %v is not uncertain; a 201 may have created the batch", err)
			}
			if tt.msg != "" && !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("Submit error %q does not carry msg %q", err, tt.msg)
			}
			rec, err := c.Reconcile(ctx, batch, sentAt)
			if err != nil {
				t.Fatalf("Reconcile: %v", err)
			}
			if rec.Submission == nil || rec.Submission.ID != f.BatchIDs()[0] || len(rec.Unknown) != 0 {
				t.Errorf("Reconcile: got %+v, want the fake's batch %s", rec, f.BatchIDs()[0])
			}
		})
	}
}
