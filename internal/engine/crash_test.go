package engine

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/countersign/countersign/approvals"
	"github.com/countersign/countersign/internal/store"
	"github.com/countersign/countersign/internal/testdb"
	"github.com/countersign/countersign/providers/tmcas/tmcastest"
)

// envCrashTrials overrides the number of crash trials.
const envCrashTrials = "COUNTERSIGN_CRASH_TRIALS"

// crashTrial is what one trial observed.
type crashTrial struct {
	killedAt     time.Duration // after the replica started; 0: not killed
	finishedAt   time.Duration // when every request was final, in the uninterrupted run
	inWindow     int           // requests whose submission was in flight at the kill
	reachedInWin int           // of those, how many the provider had received
	attention    int
	recovered    time.Duration // restart until every request was final
}

// TestCrashRecovery kills a replica at a random moment between approval
// and completion, restarts it, and checks that every request ends, that
// the provider received each target at most once (exactly once unless the
// kill fell inside the submit window), and that needs_attention happens
// exactly when it did.
func TestCrashRecovery(t *testing.T) {
	// It mostly waits (on the provider, River or a schedule): the other
	// slow tests run meanwhile.
	t.Parallel()
	trials := crashTrials
	if testing.Short() {
		trials = 10
	}
	if v := os.Getenv(envCrashTrials); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			t.Fatalf("%s: %v", envCrashTrials, err)
		}
		trials = n
	}
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, seed))
	fake := tmcastest.New(tmcastest.Options{Limit: -1, Faults: tmcastest.Faults{
		CreatedPolls:   1,
		ExecutingPolls: 1,
		UnknownUsers:   tmcastest.UnknownAccept,
	}})
	defer fake.Close()
	// Slow POSTs widen the submit window, on both sides of the provider.
	tp := newTap(t, fake.URL(), 60*time.Millisecond)

	// An uninterrupted run measures how long a trial's work takes.
	base := runCrashTrial(t, fake, tp.srv.URL, "calibrate", -1)
	t.Logf("uninterrupted run: all final %s after the replica started", base.finishedAt.Round(time.Millisecond))
	span := base.finishedAt + base.finishedAt/5

	// Trials run two at a time (go test -parallel), each on its own database.
	results := make([]crashTrial, trials)
	t.Run("trials", func(t *testing.T) {
		for i := range trials {
			kill := time.Duration(rng.Int64N(int64(span)))
			t.Run(fmt.Sprintf("%02d", i), func(t *testing.T) {
				t.Parallel()
				res := runCrashTrial(t, fake, tp.srv.URL, fmt.Sprintf("trial%02d", i), kill)
				if res.inWindow > 0 {
					t.Logf("killed at %s inside the submit window of %d requests; %d had reached the provider",
						kill.Round(time.Millisecond), res.inWindow, res.reachedInWin)
				}
				results[i] = res
			})
		}
	})
	var sum crashTrial
	var after, windows int
	var maxRecovery time.Duration
	for _, res := range results {
		sum.inWindow += res.inWindow
		sum.reachedInWin += res.reachedInWin
		sum.attention += res.attention
		if res.killedAt == 0 {
			after++
		}
		if res.inWindow > 0 {
			windows++
		}
		maxRecovery = max(maxRecovery, res.recovered)
	}
	t.Logf("%d trials, kills uniform in [0, %s): %d fell inside a submit window (%d requests in flight, %d of them had reached the provider), "+
		"%d came after completion; %d requests needed attention; slowest recovery %s",
		trials, span.Round(time.Millisecond), windows, sum.inWindow, sum.reachedInWin, after, sum.attention, maxRecovery.Round(time.Millisecond))
}

// crashTargets are the targets of a trial's requests: 1, 2 and 3 accounts,
// the last one in two fenced steps.
func crashTargets(trial string) [][]string {
	var out [][]string
	for r, n := range []int{1, 2, 3} {
		var ts []string
		for j := range n {
			ts = append(ts, fmt.Sprintf("%s-r%d-%d@contoso.com", trial, r, j))
		}
		out = append(out, ts)
	}
	return out
}

// runCrashTrial runs one trial on a fresh SQLite database. A negative kill
// runs it without killing and measures it.
func runCrashTrial(t *testing.T, fake *tmcastest.Server, fakeURL, trial string, kill time.Duration) crashTrial {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	url := testdb.SQLite(t)
	s := testdb.Store(t, url)
	var ids []int64
	for _, targets := range crashTargets(trial) {
		ids = append(ids, approvedRequest(t, s, "tmcas", time.Now(), targets...).ID)
	}
	const replica = "replica-1" // a restart keeps its name
	const poll = 50 * time.Millisecond
	var res crashTrial
	start := time.Now()
	c := startChild(t, url, fakeURL, fake.Token(), replica, "fast", poll)

	if kill < 0 {
		waitAll(ctx, t, s, ids, c.changes())
		res.finishedAt = time.Since(start)
		if err := c.stop(ctx); err != nil {
			t.Fatal(err)
		}
		checkCrashTrial(t, s, fake, ids, map[int64]bool{}, "")
		return res
	}

	timer := time.NewTimer(kill)
	select {
	case <-timer.C:
	case <-ctx.Done():
		t.Fatal(ctx.Err())
	}
	c.kill()
	inFlight := map[int64]bool{}
	open := false
	for _, id := range ids {
		r := getRequest(t, s, id)
		open = open || !r.State.Terminal()
		if lastStepEvent(t, s, id) == "submitting" {
			inFlight[id] = true
		}
	}
	if open {
		res.killedAt = kill
	}
	res.inWindow = len(inFlight)

	restart := time.Now()
	c = startChild(t, url, fakeURL, fake.Token(), replica, "fast", poll)
	waitAll(ctx, t, s, ids, c.changes())
	res.recovered = time.Since(restart)
	if err := c.stop(ctx); err != nil {
		t.Fatal(err)
	}
	res.attention, res.reachedInWin = checkCrashTrial(t, s, fake, ids, inFlight, c.out.String())
	return res
}

// lastStepEvent is the latest audit entry of request id about a
// submission step: "submitting" means a provider call may be in flight.
func lastStepEvent(t *testing.T, s *store.Store, id int64) string {
	t.Helper()
	last := ""
	for _, k := range auditKinds(t, s, id) {
		switch k {
		case "submitting", "submission", "submitted", "not_sent":
			last = k
		}
	}
	return last
}

// checkCrashTrial checks the end of a trial and returns how many requests
// needed attention and how many in-flight submissions had reached the
// provider.
func checkCrashTrial(t *testing.T, s *store.Store, fake *tmcastest.Server, ids []int64, inFlight map[int64]bool, restartLog string) (attention, reached int) {
	t.Helper()
	ctx := context.Background()
	sent := sentTargets(fake)
	for _, id := range ids {
		r := getRequest(t, s, id)
		items, err := s.Items(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		needs := r.State == approvals.StateNeedsAttention
		switch {
		case needs != inFlight[id]:
			t.Errorf("request %d: %s (%s), but in flight at the kill: %v", id, r.State, r.Note, inFlight[id])
		case !needs && r.State != approvals.StateSucceeded:
			t.Errorf("request %d: %s (%s), want succeeded", id, r.State, r.Note)
		}
		if needs {
			attention++
			want := fmt.Sprintf(`"level":"ERROR","msg":"request needs attention","request_id":%d,`, id)
			if !strings.Contains(restartLog, want) {
				t.Errorf("request %d: no alert %s in the restarted replica's log", id, want)
			}
		}
		inWindowReached := false
		for _, it := range items {
			n := sent[it.Key]
			switch {
			case n > 1:
				t.Errorf("request %d: %s sent %d times", id, it.Key, n)
			case it.Status != approvals.ItemPending && n != 1:
				t.Errorf("request %d: %s is %s but was sent %d times, want once", id, it.Key, it.Status, n)
			case it.Status == approvals.ItemPending && n == 1:
				if !needs {
					t.Errorf("request %d: %s sent but never recorded", id, it.Key)
				}
				inWindowReached = true
			}
		}
		if inWindowReached {
			reached++
		}
	}
	if _, err := s.VerifyAudit(ctx); err != nil {
		t.Error(err)
	}
	return attention, reached
}
