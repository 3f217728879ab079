package msgraph

import (
	"errors"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/countersign/countersign/approvals"
	"github.com/countersign/countersign/providers"
	"github.com/countersign/countersign/providers/msgraph/graphtest"
)

// postFault is one way a POST can end with the action taken but no clear
// answer.
type postFault struct {
	name   string
	faults graphtest.Faults
	hc     *http.Client
}

// postFaults are the answers after which a POST may have been performed:
// Graph acted, then answered 500, 502, 503 or 504, or never answered (the
// client times out after writing the request).
func postFaults() []postFault {
	var out []postFault
	for _, st := range []int{500, 502, 503, 504} {
		out = append(out, postFault{name: fmt.Sprint(st), faults: graphtest.Faults{StatusAfterAction: st}})
	}
	return append(out, postFault{name: "timeout after write", faults: graphtest.Faults{HangAfterAction: true},
		hc: &http.Client{Timeout: 300 * time.Millisecond}})
}

// postOp is one Graph POST that acts, with the spec that makes it.
type postOp struct {
	name string
	spec approvals.Spec
}

func postOps() []postOp {
	return []postOp{
		{"invokeAction", accountSpec(approvals.ActionDisable, "mallory@contoso.com")},
		{"remediate", mailSpec("junk", nmidA)},
		{"securityActions", ipSpec("198.51.100.7")},
	}
}

// TestUncertainPOSTNeverRepeated: whatever the answer that may mean Graph
// acted, the POST reaches Graph exactly once and Submit says the outcome is
// uncertain, not temporary.
func TestUncertainPOSTNeverRepeated(t *testing.T) {
	for _, op := range postOps() {
		for _, pf := range postFaults() {
			t.Run(op.name+" "+pf.name, func(t *testing.T) {
				f := newFixture(t, graphtest.Options{Now: mailNow}, func(c *Config) {
					c.Now = mailNow
					c.MaxRetries = 3
					legacy(c)
					if pf.hc != nil {
						c.HTTPClient = pf.hc
					}
				})
				seedDirectory(f.srv)
				seedMail(f.srv, "")
				ctx := testCtx(t)
				items, err := f.c.Resolve(ctx, op.spec)
				if err != nil {
					t.Fatalf("Resolve: %v", err)
				}
				f.srv.SetFaults(pf.faults)
				_, err = f.c.Submit(ctx, providers.Batch{RequestID: 7, Spec: op.spec, Items: items, Label: "Countersign request 7"})
				if !errors.Is(err, providers.ErrUncertain) || errors.Is(err, providers.ErrTemporary) {
					t.Errorf("Submit: got %v, want ErrUncertain and not ErrTemporary", err)
				}
				if n := f.srv.Posts(); n != 1 {
					t.Errorf("POSTs: got %d, want exactly 1", n)
				}
				acted := len(f.srv.Invocations()) + len(f.srv.Remediations()) + len(f.srv.SecurityActions())
				if acted != 1 {
					t.Errorf("Graph acted %d times, want once", acted)
				}
			})
		}
	}
}

// TestRefusedPOSTs: answers that certainly did nothing keep their handling.
// 429 is retried; 400 and 403 are final at once; a 401 gets one fresh token.
func TestRefusedPOSTs(t *testing.T) {
	tests := []struct {
		name      string
		faults    graphtest.Faults
		expire    bool
		wantPosts int
		wantErr   func(error) bool
	}{
		{name: "429 with Retry-After", faults: graphtest.Faults{Rate429: 1, RetryAfter: time.Millisecond}, wantPosts: 4,
			wantErr: func(err error) bool { return errors.Is(err, providers.ErrTemporary) }},
		{name: "429 without Retry-After", faults: graphtest.Faults{Rate429: 1}, wantPosts: 4,
			wantErr: func(err error) bool { return errors.Is(err, providers.ErrTemporary) }},
		{name: "400", faults: graphtest.Faults{FailAccounts: []string{"mallory@contoso.com"}}, wantPosts: 1,
			wantErr: func(err error) bool { var ge *Error; return errors.As(err, &ge) && ge.Status == 400 }},
		{name: "403", faults: graphtest.Faults{DenyPermissions: []string{graphtest.PermissionActions}}, wantPosts: 1,
			wantErr: func(err error) bool { var ge *Error; return errors.As(err, &ge) && ge.Status == 403 }},
		{name: "401 then a fresh token", expire: true, wantPosts: 2, wantErr: func(err error) bool { return err == nil }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, graphtest.Options{}, func(c *Config) { c.MaxRetries = 3 })
			seedDirectory(f.srv)
			ctx := testCtx(t)
			spec := accountSpec(approvals.ActionDisable, "mallory@contoso.com")
			items, err := f.c.Resolve(ctx, spec)
			if err != nil {
				t.Fatalf("Resolve: %v", err)
			}
			f.srv.SetFaults(tt.faults)
			if tt.expire {
				f.srv.ExpireTokens()
			}
			_, err = f.c.Submit(ctx, providers.Batch{Spec: spec, Items: items})
			if !tt.wantErr(err) || errors.Is(err, providers.ErrUncertain) {
				t.Errorf("Submit: got %v", err)
			}
			if n := f.srv.Posts(); n != tt.wantPosts {
				t.Errorf("POSTs: got %d, want %d", n, tt.wantPosts)
			}
			if want := 0; tt.expire {
				if n := len(f.srv.Invocations()); n != 1 {
					t.Errorf("invocations: got %d, want 1", n)
				}
			} else if n := len(f.srv.Invocations()); n != want {
				t.Errorf("refused POSTs made %d invocations", n)
			}
		})
	}
}
