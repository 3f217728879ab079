package engine

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/countersign/countersign/approvals"
	"github.com/countersign/countersign/internal/testdb"
	"github.com/countersign/countersign/providers/tmcas/tmcastest"
)

// envHAKill chooses the replica TestFailover kills: the leader (default)
// or the follower.
const envHAKill = "COUNTERSIGN_HA_KILL"

// TestFailover runs two replicas on one PostgreSQL database with the
// default rescue settings, kills the River leader with SIGKILL while it
// polls, and
// measures how long its requests wait before the other replica polls them
// again. Every request must still finish with one submission per target.
func TestFailover(t *testing.T) {
	// It mostly waits (on the provider, River or a schedule): the other
	// slow tests run meanwhile.
	t.Parallel()
	const requests = 20
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	url := testdb.Postgres(t)
	s := testdb.Store(t, url)
	fake := tmcastest.New(tmcastest.Options{Limit: -1, Token: "token-a", ExtraTokens: []string{"token-b"}, Faults: tmcastest.Faults{
		Latency:        300 * time.Millisecond, // a poll in progress when the kill comes
		CreatedPolls:   2,
		ExecutingPolls: 6,
		UnknownUsers:   tmcastest.UnknownAccept,
	}})
	defer fake.Close()
	tp := newTap(t, fake.URL(), 0)

	const poll = 500 * time.Millisecond
	// By default the victim leads, so the kill costs a leader election
	// too; COUNTERSIGN_HA_KILL=follower kills the other replica instead.
	first, second := "a", "b"
	if os.Getenv(envHAKill) == "follower" {
		first, second = "b", "a"
	}
	replicas := map[string]*child{}
	for i, name := range []string{first, second} {
		c := startChild(t, url, tp.srv.URL, "token-"+name, "replica-"+name, "defaults", poll)
		if err := c.started(ctx); err != nil {
			t.Fatal(err)
		}
		replicas[name] = c
		if i == 0 {
			pollDB(ctx, t, "replica-"+name+" to lead", func() bool { return riverLeader(ctx, t, url) == "replica-"+name })
		}
	}
	victim, survivor := replicas["a"], replicas["b"]
	var ids []int64
	for i := range requests {
		ids = append(ids, approvedRequest(t, s, "tmcas", time.Now(), fmt.Sprintf("ha-%02d-a@contoso.com", i), fmt.Sprintf("ha-%02d-b@contoso.com", i)).ID)
	}
	// Mid-batch: every request is submitted and being polled.
	waitFor(ctx, t, "every request submitted", func() bool {
		for _, id := range ids {
			if r := getRequest(t, s, id); r.Phase != approvals.PhaseSubmitted && !r.State.Terminal() {
				return false
			}
		}
		return true
	}, victim.changes(), survivor.changes())
	var trigger hit
	for trigger.batch == "" {
		select {
		case h := <-tp.hits:
			if h.method == http.MethodGet && h.batch != "" && h.token == "token-a" {
				trigger = h
			}
		case <-ctx.Done():
			t.Fatal("replica-a never polled")
		}
	}
	// Its answer is 300 ms away: the job dies in the middle of an attempt.
	victim.kill()
	killedAt := time.Now()
	leader := riverLeader(ctx, t, url)

	open := map[string]bool{}
	for _, b := range fake.BatchIDs() {
		for _, a := range fake.Actions(b) {
			if a.Status != "Success" && a.Status != "Failed" && a.Status != "Skipped" {
				open[b] = true
			}
		}
	}
	resumed := map[string]time.Duration{}
	var all []time.Duration
	waitDone := make(chan struct{})
	go func() {
		defer close(waitDone)
		waitAll(ctx, t, s, ids, survivor.changes())
	}()
	for running := true; running; {
		select {
		case h := <-tp.hits:
			if h.method == http.MethodGet && open[h.batch] && h.at.After(killedAt) {
				if _, ok := resumed[h.batch]; !ok {
					resumed[h.batch] = h.at.Sub(killedAt)
					all = append(all, resumed[h.batch])
				}
			}
		case <-waitDone:
			running = false
		}
	}
	if t.Failed() {
		t.FailNow()
	}
	if err := survivor.stop(ctx); err != nil {
		t.Fatal(err)
	}

	sent := sentTargets(fake)
	for i, id := range ids {
		r := getRequest(t, s, id)
		if r.State != approvals.StateSucceeded {
			t.Errorf("request %d = %s (%s), want succeeded", id, r.State, r.Note)
		}
		for _, k := range []string{fmt.Sprintf("ha-%02d-a@contoso.com", i), fmt.Sprintf("ha-%02d-b@contoso.com", i)} {
			if sent[k] != 1 {
				t.Errorf("%s sent %d times, want once", k, sent[k])
			}
		}
	}
	calls := map[string]int{}
	for _, c := range fake.Calls() {
		if c.Time.Before(killedAt) {
			calls[c.Token]++
		}
	}
	if calls["token-a"] == 0 || calls["token-b"] == 0 {
		t.Errorf("provider calls before the kill by replica = %v, want both replicas sharing the work", calls)
	}
	worst := resumed[trigger.batch]
	for _, d := range all {
		worst = max(worst, d)
	}
	t.Logf("provider calls before the kill by replica: %v; killed replica-a (River leader at the kill: %s) while it polled batch %s; "+
		"%d batches were open; that batch was polled again after %s, the last open batch after %s (target ≤ 60 s with default rescue settings)",
		calls, leader, trigger.batch, len(open), resumed[trigger.batch].Round(time.Millisecond), worst.Round(time.Millisecond))
	if _, ok := resumed[trigger.batch]; !ok {
		t.Errorf("batch %s of the killed attempt was never polled again", trigger.batch)
	}
	if worst > 60*time.Second {
		t.Errorf("polling resumed after %s, want ≤ 60 s", worst)
	}
}

// pollDB polls cond every 20 ms until it holds, and fails the test when
// ctx ends first. It is for state only the database knows, such as which
// replica River elected, which nothing tells of.
func pollDB(ctx context.Context, t *testing.T, what string, cond func() bool) {
	t.Helper()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-tick.C:
		case <-ctx.Done():
			t.Fatalf("waiting for %s: %v", what, ctx.Err())
		}
	}
}

// riverLeader names the River leader, or "none" between terms.
func riverLeader(ctx context.Context, t *testing.T, url string) string {
	t.Helper()
	var id string
	if err := testdb.QueryRow(ctx, url, `SELECT leader_id FROM river_leader`, nil, &id); err != nil {
		return "none"
	}
	return id
}
