package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/countersign/countersign/approvals"
	"github.com/countersign/countersign/internal/testdb"
	"github.com/countersign/countersign/providers/tmcas/tmcastest"
)

// envChild makes the test binary run countersign itself, so tests can
// signal a real process.
const envChild = "CS_TEST_RUN_MAIN"

func TestMain(m *testing.M) {
	if os.Getenv(envChild) == "1" {
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		var environ []string
		for _, kv := range os.Environ() {
			if strings.HasPrefix(kv, "COUNTERSIGN_") {
				environ = append(environ, kv)
			}
		}
		code := run(ctx, env{stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr, environ: environ}, os.Args[1:])
		stop()
		os.Exit(code)
	}
	os.Exit(m.Run())
}

// startChild runs `countersign serve` in a child process.
func startChild(t *testing.T, environ []string) (*exec.Cmd, *bytes.Buffer) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "serve")
	cmd.Env = append(append(os.Environ(), envChild+"=1"), environ...)
	var logs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	return cmd, &logs
}

// pollStore polls cond until it holds or ctx ends. It is for the state a
// serve process writes to the database, which nothing in this process is
// told of; waits on the fakes use their Wait.
func pollStore(ctx context.Context, t *testing.T, what string, cond func() bool) {
	t.Helper()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-ctx.Done():
			t.Fatalf("waiting for %s: %v", what, ctx.Err())
		case <-tick.C:
		}
	}
}

// TestSIGTERMDuringBatch stops serve with SIGTERM while a batch is being
// polled: the process exits within 10 s, and after a restart the batch
// completes with one submission.
func TestSIGTERMDuringBatch(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	fake := tmcastest.New(tmcastest.Options{Limit: -1, Faults: tmcastest.Faults{ExecutingPolls: 1 << 20}})
	defer fake.Close()
	url := testdb.SQLite(t)
	st := testdb.Store(t, url)
	policy := approvals.Policy{ApprovalsRequired: 1, RequestTTL: time.Hour, MaxTargets: 100, Approvers: []string{"bob"}}
	var targets []string
	var items []approvals.Item
	for i := range 20 {
		addr := fmt.Sprintf("user%d@contoso.com", i)
		fake.AddAccount(addr)
		targets = append(targets, addr)
		items = append(items, approvals.Item{Key: addr, Target: addr, Display: addr, Before: "enabled", Status: approvals.ItemPending,
			Identity: approvals.Identity{ID: addr, Addresses: []string{addr}}})
	}
	req, err := policy.File(approvals.Spec{Action: approvals.ActionDisable, Provider: "tmcas", Targets: targets, Reason: "test"}, items, approvals.Actor{Person: "alice"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if req, err = st.Create(ctx, req, items); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Apply(ctx, req.ID, approvals.Event{Kind: approvals.EventApprove, Actor: approvals.Actor{Person: "bob"}, Hash: req.Hash}, time.Now()); err != nil {
		t.Fatal(err)
	}

	environ := []string{
		"COUNTERSIGN_AUDIT_KEY=" + testKey,
		"COUNTERSIGN_STORE_URL=" + url,
		"COUNTERSIGN_HTTP_LISTEN=127.0.0.1:0",
		"COUNTERSIGN_LOG_LEVEL=warn",
		"COUNTERSIGN_PROVIDERS_TMCAS_BASE_URL=" + fake.URL(),
		"COUNTERSIGN_PROVIDERS_TMCAS_TOKEN=" + fake.Token(),
		"COUNTERSIGN_ENGINE_POLL_INTERVAL=200ms",
	}
	polls := func() int {
		n := 0
		for _, c := range fake.Calls() {
			if c.Method == "GET" && strings.Contains(c.Path, "/mitigation/accounts") {
				n++
			}
		}
		return n
	}
	posts := func() int {
		n := 0
		for _, c := range fake.Calls() {
			if c.Method == "POST" {
				n++
			}
		}
		return n
	}
	child, logs := startChild(t, environ)
	if err := fake.Wait(ctx, func() bool { return posts() == 1 && polls() >= 2 }); err != nil {
		t.Fatalf("waiting for the batch to be submitted and polled: %v", err)
	}

	start := time.Now()
	if err := child.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- child.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("serve exited with %v after SIGTERM; log:\n%s", err, logs)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("serve still running 10 s after SIGTERM; log:\n%s", logs)
	}
	t.Logf("serve exited %v after SIGTERM", time.Since(start).Round(time.Millisecond))
	if got, _ := st.Get(ctx, req.ID); got.State != approvals.StateRunning {
		t.Fatalf("state after shutdown = %s, want running", got.State)
	}

	fake.UpdateFaults(func(f *tmcastest.Faults) { f.ExecutingPolls = 0 })
	startChild(t, environ)
	pollStore(ctx, t, "the batch to finish after restart", func() bool {
		got, err := st.Get(ctx, req.ID)
		return err == nil && got.State.Terminal()
	})
	got, _ := st.Get(ctx, req.ID)
	if got.State != approvals.StateSucceeded {
		t.Errorf("final state = %s (%s), want succeeded", got.State, got.Note)
	}
	if n := posts(); n != 1 {
		t.Errorf("the provider saw %d submissions, want 1", n)
	}
}
