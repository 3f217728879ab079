package tmcas_test

import (
	"errors"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/countersign/countersign/approvals"
	"github.com/countersign/countersign/providers"
	"github.com/countersign/countersign/providers/tmcas"
	"github.com/countersign/countersign/providers/tmcas/tmcastest"
)

// postFault is one way a POST can end with the action taken but no clear
// answer.
type postFault struct {
	name   string
	faults tmcastest.Faults
	client func(*tmcas.Config)
}

// postFaults are the answers after which a POST may have been performed:
// TMCAS created the batch, then answered 500, 502, 503 or 504, or never
// answered (the client times out after writing the request).
func postFaults() []postFault {
	var out []postFault
	for _, st := range []int{500, 502, 503, 504} {
		out = append(out, postFault{name: fmt.Sprint(st), faults: tmcastest.Faults{StatusAfterCreate: st}})
	}
	return append(out, postFault{name: "timeout after write", faults: tmcastest.Faults{HangAfterCreate: true},
		client: func(cfg *tmcas.Config) { cfg.HTTPClient = &http.Client{Timeout: 200 * time.Millisecond} }})
}

// postKinds are the two POSTs of TMCAS: a batch of account actions and a
// batch of mail actions, each with the spec that makes it.
func postKinds(f *tmcastest.Server) []struct {
	name string
	spec approvals.Spec
} {
	f.AddAccount("a@x.com")
	f.AddAccount("b@x.com")
	seedMessage(f, "<m@x>", "Invoice", time.Now().Add(-time.Hour), "a@x.com", "b@x.com")
	return []struct {
		name string
		spec approvals.Spec
	}{
		{"accounts", accountSpec(approvals.ActionDisable, "a@x.com", "b@x.com")},
		{"mails", mailSpec("quarantine", nil, "<m@x>")},
	}
}

// TestUncertainPOSTNeverRepeated: whatever the answer that may mean TMCAS
// acted, the POST reaches TMCAS exactly once and Submit says the outcome is
// uncertain, not temporary.
func TestUncertainPOSTNeverRepeated(t *testing.T) {
	for _, pf := range postFaults() {
		for i := range 2 {
			f := newFake(t, tmcastest.Options{})
			kind := postKinds(f)[i]
			t.Run(kind.name+" "+pf.name, func(t *testing.T) {
				c := newClient(t, f, func(cfg *tmcas.Config) {
					cfg.MaxRetries = 3
					if pf.client != nil {
						pf.client(cfg)
					}
				})
				items, err := c.Resolve(testCtx(t), kind.spec)
				if err != nil {
					t.Fatalf("Resolve: %v", err)
				}
				f.SetFaults(pf.faults)
				_, err = c.Submit(testCtx(t), providers.Batch{Spec: kind.spec, Items: items})
				if !errors.Is(err, providers.ErrUncertain) || errors.Is(err, providers.ErrTemporary) {
					t.Errorf("Submit: got %v, want ErrUncertain and not ErrTemporary", err)
				}
				if n := f.Posts(); n != 1 {
					t.Errorf("POSTs: got %d, want exactly 1", n)
				}
				if n := len(f.BatchIDs()); n != 1 {
					t.Errorf("batches: got %d, want the 1 TMCAS created", n)
				}
			})
		}
	}
}

// TestRefusedPOSTs: answers that certainly did nothing keep their handling.
// 429 is retried; 400, 401, 403 and 404 are final at once.
func TestRefusedPOSTs(t *testing.T) {
	tests := []struct {
		name      string
		faults    tmcastest.Faults
		token     string
		wantPosts int
		temporary bool
	}{
		{name: "429 with Retry-After", faults: tmcastest.Faults{Rate429: 1, RetryAfter: true, InjectedRetryAfter: time.Millisecond}, wantPosts: 4, temporary: true},
		{name: "401", token: "wrong", wantPosts: 1},
		{name: "403", faults: tmcastest.Faults{Forbidden: []string{"/v1/mitigation"}}, wantPosts: 1},
		{name: "400", faults: tmcastest.Faults{UnknownUsers: tmcastest.UnknownReject}, wantPosts: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t, tmcastest.Options{Faults: tt.faults})
			c := newClient(t, f, func(cfg *tmcas.Config) {
				cfg.MaxRetries = 3
				if tt.token != "" {
					cfg.Token = tt.token
				}
			})
			spec := accountSpec(approvals.ActionDisable, "ghost@x.com")
			items, _ := c.Resolve(testCtx(t), spec)
			_, err := c.Submit(testCtx(t), providers.Batch{Spec: spec, Items: items})
			if err == nil || errors.Is(err, providers.ErrUncertain) || errors.Is(err, providers.ErrTemporary) != tt.temporary {
				t.Errorf("Submit: got %v, want a refusal (temporary %v), never uncertain", err, tt.temporary)
			}
			if n := f.Posts(); n != tt.wantPosts {
				t.Errorf("POSTs: got %d, want %d", n, tt.wantPosts)
			}
			if n := len(f.BatchIDs()); n != 0 {
				t.Errorf("refused POSTs created %d batches", n)
			}
		})
	}
}
