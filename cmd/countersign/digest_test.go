package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/countersign/countersign/approvals"
	"github.com/countersign/countersign/internal/testdb"
)

// TestDigestCommand prints the digest of a seeded store as text and JSON,
// and refuses --post without a digest channel and bad flags.
func TestDigestCommand(t *testing.T) {
	url := testdb.SQLite(t)
	ctx := context.Background()
	st := testdb.Store(t, url)
	now := time.Now()
	alice := approvals.Actor{Person: "alice", Platform: "slack", Account: "U01ALICE", Name: "alice"}
	spec := approvals.Spec{Action: approvals.ActionDisable, Provider: "tmcas", Targets: []string{"mallory@contoso.com"}, Reason: "phish"}
	r, err := st.Create(ctx, approvals.Request{
		Spec: spec, Hash: approvals.ContentHash(spec, nil),
		Requester: alice, State: approvals.StatePending, ApprovalsRequired: 1, Approvers: []string{"bob"},
		CreatedAt: now.Add(-time.Hour), ExpiresAt: now.Add(time.Hour), UpdatedAt: now.Add(-time.Hour),
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	environ := []string{"COUNTERSIGN_STORE_URL=" + url, "COUNTERSIGN_AUDIT_KEY=" + testKey}

	code, out, errOut := runCLI(t, environ, "digest", "--since", "24h")
	if code != 0 || !strings.Contains(out, "Countersign digest") || !strings.Contains(out, "mallory@contoso.com") {
		t.Fatalf("digest: code %d\n%s\n%s", code, out, errOut)
	}
	code, out, errOut = runCLI(t, environ, "digest", "--since", "24h", "--format", "json")
	var d struct {
		Total   int
		Pending []struct{ ID int64 }
	}
	if err := json.Unmarshal([]byte(out), &d); code != 0 || err != nil {
		t.Fatalf("digest json: code %d, %v\n%s\n%s", code, err, out, errOut)
	}
	if d.Total != 1 || len(d.Pending) != 1 || d.Pending[0].ID != r.ID {
		t.Fatalf("digest json = %+v, want request %d pending", d, r.ID)
	}
	if code, _, errOut := runCLI(t, environ, "digest", "--post"); code != 1 || !strings.Contains(errOut, "no digest channel") {
		t.Fatalf("digest --post without a channel: code %d, %s", code, errOut)
	}
	for _, args := range [][]string{{"digest", "--since", "-1h"}, {"digest", "--format", "xml"}} {
		if code, _, errOut := runCLI(t, environ, args...); code != 2 {
			t.Fatalf("%v: code %d, want 2 (usage)\n%s", args, code, errOut)
		}
	}
}

func TestSlackManifestCommand(t *testing.T) {
	code, out, errOut := runCLI(t, nil, "slack", "manifest", "--url", "https://cs.example.com")
	var m map[string]any
	if err := json.Unmarshal([]byte(out), &m); code != 0 || err != nil {
		t.Fatalf("code %d, %v\n%s\n%s", code, err, out, errOut)
	}
	if !strings.Contains(out, "https://cs.example.com/slack/interactions") {
		t.Fatalf("manifest without the interactivity URL:\n%s", out)
	}
	if code, _, _ := runCLI(t, nil, "slack", "manifest", "--url", "ftp://x"); code != 2 {
		t.Fatalf("a bad URL: code %d, want 2", code)
	}
}
