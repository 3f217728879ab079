package digest_test

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/countersign/countersign/approvals"
	"github.com/countersign/countersign/bot"
	"github.com/countersign/countersign/internal/digest"
	"github.com/countersign/countersign/internal/engine"
	"github.com/countersign/countersign/internal/store"
	"github.com/countersign/countersign/internal/testdb"
	"github.com/countersign/countersign/providers"
)

// noProviders is an engine.Providers with none: the test runs no request.
type noProviders struct{}

func (noProviders) Provider(string) (providers.Provider, bool) { return nil, false }

// window is one posted digest, read back from its message.
type window struct {
	from, to time.Time
	filed    int
	replica  string
}

var (
	footerWindow = regexp.MustCompile(`^Window (\S+) – (\S+), end excluded`)
	filedCount   = regexp.MustCompile(`\((\d+) filed\)`)
)

// posts records the digests posted by every replica.
type posts struct {
	mu  sync.Mutex
	got []window
	err error
}

func (p *posts) post(replica string) func(context.Context, bot.Message) error {
	return func(_ context.Context, m bot.Message) error {
		p.mu.Lock()
		defer p.mu.Unlock()
		w, err := parseWindow(m)
		if err != nil && p.err == nil {
			p.err = err
		}
		w.replica = replica
		p.got = append(p.got, w)
		return nil
	}
}

func parseWindow(m bot.Message) (window, error) {
	var w window
	sub := footerWindow.FindStringSubmatch(m.Footer)
	if sub == nil {
		return w, fmt.Errorf("footer %q names no window", m.Footer)
	}
	var err1, err2 error
	w.from, err1 = time.Parse(time.RFC3339, sub[1])
	w.to, err2 = time.Parse(time.RFC3339, sub[2])
	if err1 != nil || err2 != nil {
		return w, fmt.Errorf("footer %q: %v %v", m.Footer, err1, err2)
	}
	if n := filedCount.FindStringSubmatch(m.Text); n != nil {
		w.filed, _ = strconv.Atoi(n[1])
	} else if !strings.HasPrefix(m.Text, "Nothing happened") {
		return w, fmt.Errorf("text %q has no filed count", m.Text)
	}
	return w, nil
}

func (p *posts) snapshot() ([]window, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.got), p.err
}

// TestOneDigestPerSlotAcrossFailover runs two replicas on one PostgreSQL
// database with a digest every second, stops the River leader after ten
// slots and checks that each slot's digest was posted exactly once, that
// the windows chain without gap or overlap, and that every request filed
// meanwhile was counted in exactly one window.
func TestOneDigestPerSlotAcrossFailover(t *testing.T) {
	const slots = 20
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	url := testdb.Postgres(t)
	rec := &posts{}
	engines := map[string]*engine.Engine{}
	stopped := map[string]bool{}
	var filer *store.Store
	for _, name := range []string{"a", "b"} {
		s := testdb.Store(t, url)
		filer = s
		e, err := engine.New(engine.Config{Store: s, Providers: noProviders{}, ID: "digest-" + name,
			FetchPollInterval: 50 * time.Millisecond,
			Periodic: []engine.Periodic{{Name: "digest", Schedule: "@every 1s",
				Run: digest.Job(digest.JobConfig{Source: s, Post: rec.post(name)})}}})
		if err != nil {
			t.Fatal(err)
		}
		if err := e.Start(ctx); err != nil {
			t.Fatal(err)
		}
		engines[name] = e
	}
	t.Cleanup(func() {
		for name, e := range engines {
			if !stopped[name] {
				if err := e.Stop(context.Background()); err != nil {
					t.Errorf("stopping replica %s: %v", name, err)
				}
			}
		}
	})

	policy := approvals.Policy{ApprovalsRequired: 1, RequestTTL: time.Hour, MaxTargets: 10, RequireReason: true, Approvers: []string{"bob"}}
	var created []time.Time
	file := func() {
		now := time.Now().UTC().Truncate(time.Microsecond) // as stored
		r, err := policy.File(spec(approvals.ActionDisable, "tmcas", fmt.Sprintf("u%d@contoso.com", len(created))), nil, actor("alice"), now)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := filer.Create(ctx, r, nil); err != nil {
			t.Fatal(err)
		}
		created = append(created, now)
	}

	distinct := func(ws []window) int {
		seen := map[time.Time]bool{}
		for _, w := range ws {
			seen[w.to] = true
		}
		return len(seen)
	}
	var leader string
	var postsBeforeStop int
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for i := 0; ; i++ {
		got, err := rec.snapshot()
		if err != nil {
			t.Fatal(err)
		}
		if distinct(got) >= slots {
			break
		}
		if i%5 == 0 {
			file() // about ten a second, landing all over the windows
		}
		if leader == "" && distinct(got) >= slots/2 {
			leader = riverLeader(ctx, t, url)
			name, ok := map[string]string{"digest-a": "a", "digest-b": "b"}[leader]
			if !ok {
				continue // between terms; ask again
			}
			if err := engines[name].Stop(ctx); err != nil {
				t.Fatalf("stopping the leader %s: %v", leader, err)
			}
			stopped[name] = true
			// Stop waited for a run in progress: every later post is the
			// other replica's.
			before, _ := rec.snapshot()
			postsBeforeStop = len(before)
			t.Logf("stopped the leader %s after %d digests", leader, postsBeforeStop)
		}
		select {
		case <-tick.C:
		case <-ctx.Done():
			t.Fatalf("waiting for %d digests: %v; got %d (leader stopped: %q)", slots, ctx.Err(), distinct(got), leader)
		}
	}
	for name, e := range engines {
		if !stopped[name] {
			if err := e.Stop(ctx); err != nil {
				t.Fatal(err)
			}
			stopped[name] = true
		}
	}

	got, err := rec.snapshot()
	if err != nil {
		t.Fatal(err)
	}
	if leader == "" {
		t.Fatal("the leader was never stopped")
	}
	perSlot := map[time.Time]int{}
	for _, w := range got {
		perSlot[w.to]++
	}
	for slot, n := range perSlot {
		if n != 1 {
			t.Errorf("slot %s posted %d times, want once", slot.Format(time.RFC3339), n)
		}
	}
	after := slices.Clone(got[postsBeforeStop:])
	slices.SortFunc(got, func(a, b window) int { return a.to.Compare(b.to) })
	filed := 0
	for i, w := range got {
		if !w.from.Before(w.to) {
			t.Errorf("window %d is [%s, %s)", i, w.from, w.to)
		}
		if i > 0 && !w.from.Equal(got[i-1].to) {
			t.Errorf("window %d starts at %s, want the end of the one before, %s", i, w.from.Format(time.RFC3339), got[i-1].to.Format(time.RFC3339))
		}
		filed += w.filed
	}
	for _, w := range after {
		if "digest-"+w.replica == leader {
			t.Errorf("the stopped leader %s posted the digest of %s", leader, w.to.Format(time.RFC3339))
		}
	}
	if len(after) == 0 {
		t.Error("no digest after the leader stopped")
	}
	first, last := got[0].from, got[len(got)-1].to
	want := 0
	for _, c := range created {
		if !c.Before(first) && c.Before(last) {
			want++
		}
	}
	if filed != want || want == 0 {
		t.Errorf("the windows counted %d requests filed, want the %d filed in [%s, %s)", filed, want, first.Format(time.RFC3339), last.Format(time.RFC3339))
	}
	longest := time.Duration(0)
	for _, w := range got {
		longest = max(longest, w.to.Sub(w.from))
	}
	t.Logf("%d digests for %d slots, windows chain from %s to %s, longest %s (the failover), %d requests counted once each",
		len(got), len(perSlot), first.Format(time.RFC3339), last.Format(time.RFC3339), longest, filed)
}

// riverLeader names the River leader, or "none" between terms.
func riverLeader(ctx context.Context, t *testing.T, url string) string {
	t.Helper()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var id string
	if err := conn.QueryRow(ctx, `SELECT leader_id FROM river_leader`).Scan(&id); err != nil {
		return "none"
	}
	return id
}
