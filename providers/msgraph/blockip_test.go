package msgraph

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/countersign/countersign/approvals"
	"github.com/countersign/countersign/providers"
	"github.com/countersign/countersign/providers/internal/providertest"
	"github.com/countersign/countersign/providers/msgraph/graphtest"
)

func ipSpec(targets ...string) approvals.Spec {
	return approvals.Spec{Action: approvals.ActionBlockIP, Provider: providers.Graph, Targets: targets}
}

func legacy(c *Config) { c.EnableLegacySecurityActions = true }

func TestBlockIPNeedsLegacySwitch(t *testing.T) {
	f := newFixture(t, graphtest.Options{}, nil)
	ctx := providertest.Context(t)
	if _, err := f.c.Resolve(ctx, ipSpec("1.2.3.4")); !errors.Is(err, providers.ErrUnsupported) {
		t.Errorf("Resolve: got %v, want ErrUnsupported", err)
	}
	if _, err := f.c.Submit(ctx, providers.Batch{Spec: ipSpec("1.2.3.4"), Items: []providers.Resolved{{Key: "1.2.3.4"}}}); !errors.Is(err, providers.ErrUnsupported) {
		t.Errorf("Submit: got %v, want ErrUnsupported", err)
	}
	if err := f.c.Cancel(ctx, "x"); !errors.Is(err, providers.ErrUnsupported) {
		t.Errorf("Cancel: got %v, want ErrUnsupported", err)
	}
	if n := len(f.srv.Calls()); n != 0 {
		t.Errorf("got %d calls, want none", n)
	}
}

func TestResolveIPs(t *testing.T) {
	f := newFixture(t, graphtest.Options{}, legacy)
	got, err := f.c.Resolve(providertest.Context(t), ipSpec("203.0.113.7", "::ffff:203.0.113.7", "2001:db8::1", "127.0.0.1", "1.2.3"))
	if err != nil {
		t.Fatalf("Resolve: %v", err)
	}
	want := []providers.Resolved{
		{Key: "203.0.113.7", Target: "203.0.113.7", Display: "203.0.113.7", State: StateNotChecked, Identity: approvals.Identity{ID: "203.0.113.7", Addresses: []string{"203.0.113.7"}}},
		{Key: "2001:db8::1", Target: "2001:db8::1", Display: "2001:db8::1", State: StateNotChecked, Identity: approvals.Identity{ID: "2001:db8::1", Addresses: []string{"2001:db8::1"}}},
		{Key: "127.0.0.1", Target: "127.0.0.1", Display: "127.0.0.1", State: StateNotChecked, Identity: approvals.Identity{ID: "127.0.0.1", Addresses: []string{"127.0.0.1"}}, Problem: "an unspecified, loopback or multicast address cannot be blocked"},
		{Key: "1.2.3", Target: "1.2.3", Display: "1.2.3", Problem: "not an IPv4 or IPv6 address"},
	}
	if diff := cmp.Diff(want, got, cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("Resolve (-want +got):\n%s", diff)
	}
}

func TestBlockIP(t *testing.T) {
	tests := []struct {
		name       string
		b          graphtest.Behavior
		fail       bool
		wantPolls  []approvals.ItemStatus
		wantDetail string
	}{
		{name: "schema form", wantPolls: []approvals.ItemStatus{approvals.ItemRunning, approvals.ItemSucceeded},
			wantDetail: "BlockIp completed at "},
		{name: "doc sample form", b: graphtest.Behavior{DocSecurityActions: true},
			wantPolls: []approvals.ItemStatus{approvals.ItemRunning, approvals.ItemSucceeded}, wantDetail: "BlockIp completed at "},
		{name: "two reads per step", b: graphtest.Behavior{SecurityActionStepReads: 2},
			wantPolls:  []approvals.ItemStatus{approvals.ItemSubmitted, approvals.ItemRunning, approvals.ItemRunning, approvals.ItemSucceeded},
			wantDetail: "BlockIp completed"},
		{name: "failed", fail: true, wantPolls: []approvals.ItemStatus{approvals.ItemRunning, approvals.ItemFailed},
			wantDetail: "BlockIp failed: Blocking the IP address failed on Windows Defender ATP (code 400)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, graphtest.Options{Seed: 20}, legacy)
			f.srv.SetBehavior(tt.b)
			if tt.fail {
				f.srv.SetFaults(graphtest.Faults{FailIPs: []string{"203.0.113.7"}})
			}
			ctx := providertest.Context(t)
			batch := providertest.Batch(t, ctx, f.c, ipSpec("203.0.113.7"))
			batch.RequestID, batch.Label, batch.Note = 42, "Countersign request 42", "C2 server"
			sub, err := f.c.Submit(ctx, batch)
			if err != nil {
				t.Fatalf("Submit: %v", err)
			}
			acts := f.srv.SecurityActions()
			if len(acts) != 1 || acts[0].IP != "203.0.113.7" || acts[0].ActionReason != "Countersign request 42 — C2 server" {
				t.Fatalf("security actions: got %+v, want one BlockIp of 203.0.113.7 with the request as reason", acts)
			}
			if sub.ID != acts[0].ID || sub.Items[0].Ref != acts[0].ID {
				t.Errorf("submission: got %+v, want id %s", sub, acts[0].ID)
			}
			var body map[string]any
			for _, c := range f.srv.Calls() {
				if c.Method == http.MethodPost && !strings.HasSuffix(c.Path, "/token") {
					if c.Path != "/beta/security/securityActions" {
						t.Errorf("POST %s: want /beta/security/securityActions", c.Path)
					}
					_ = json.Unmarshal(c.Body, &body)
				}
			}
			wantBody := map[string]any{"name": "BlockIp", "actionReason": "Countersign request 42 — C2 server",
				"parameters":        []any{map[string]any{"name": "IP", "value": "203.0.113.7"}},
				"vendorInformation": map[string]any{"provider": "Windows Defender ATP", "vendor": "Microsoft"}}
			if diff := cmp.Diff(wantBody, body); diff != "" {
				t.Errorf("body (-want +got):\n%s", diff)
			}
			var got []approvals.ItemStatus
			var last providers.Progress
			for range len(tt.wantPolls) {
				p, err := f.c.Poll(ctx, sub)
				if err != nil {
					t.Fatalf("Poll: %v", err)
				}
				got = append(got, p.Items[0].Status)
				last = p
			}
			if diff := cmp.Diff(tt.wantPolls, got); diff != "" {
				t.Errorf("poll statuses (-want +got):\n%s", diff)
			}
			if !last.Done || !strings.Contains(last.Items[0].Detail, tt.wantDetail) {
				t.Errorf("last poll: got %+v, want done with %q", last, tt.wantDetail)
			}
		})
	}
}

func TestCancelBlockIP(t *testing.T) {
	f := newFixture(t, graphtest.Options{Seed: 21}, legacy)
	ctx := providertest.Context(t)
	spec := ipSpec("198.51.100.9")
	items, _ := f.c.Resolve(ctx, spec)
	sub, err := f.c.Submit(ctx, providers.Batch{Spec: spec, Items: items, Label: "r"})
	if err != nil {
		t.Fatalf("Submit: %v", err)
	}
	if err := f.c.Cancel(ctx, sub.ID); err != nil {
		t.Fatalf("Cancel: %v", err)
	}
	p, err := f.c.Poll(ctx, sub)
	if err != nil {
		t.Fatalf("Poll: %v", err)
	}
	if !p.Done || p.Items[0].Status != approvals.ItemFailed || !strings.Contains(p.Items[0].Detail, "Cancelled") {
		t.Errorf("Poll after cancel: got %+v, want failed: Cancelled", p)
	}
	var ge *Error
	if err := f.c.Cancel(ctx, sub.ID); !errors.As(err, &ge) || ge.Status != http.StatusBadRequest {
		t.Errorf("second Cancel: got %v, want 400", err)
	}
}

func TestBlockIPDeprecationLoggedOnce(t *testing.T) {
	f := newFixture(t, graphtest.Options{Seed: 22}, legacy)
	ctx := providertest.Context(t)
	for _, ip := range []string{"198.51.100.1", "198.51.100.2"} {
		spec := ipSpec(ip)
		items, _ := f.c.Resolve(ctx, spec)
		if _, err := f.c.Submit(ctx, providers.Batch{Spec: spec, Items: items, Label: "r"}); err != nil {
			t.Fatalf("Submit %s: %v", ip, err)
		}
	}
	if got := f.logs.Matching("WARN", "deprecated"); len(got) != 1 {
		t.Errorf("got %d deprecation warnings, want 1: %q", len(got), got)
	}
}
