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

	"github.com/countersign/countersign/approvals"
	"github.com/countersign/countersign/bot/chat"
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
	from, to    time.Time
	filed, late int
	replica     string
}

var (
	footerWindow = regexp.MustCompile(`^Window (\S+) – (\S+), end excluded`)
	footerLate   = regexp.MustCompile(`, and (\d+) events? from before it`)
	filedCount   = regexp.MustCompile(`\((\d+) filed\)`)
)

// posts records the digests posted by every replica, and tells of each
// on changed.
type posts struct {
	mu      sync.Mutex
	got     []window
	err     error
	changed chan struct{} // capacity 1
}

func (p *posts) post(replica string) func(context.Context, chat.Message) error {
	return func(_ context.Context, m chat.Message) error {
		p.mu.Lock()
		defer p.mu.Unlock()
		w, err := parseWindow(m)
		if err != nil && p.err == nil {
			p.err = err
		}
		w.replica = replica
		p.got = append(p.got, w)
		select {
		case p.changed <- struct{}{}:
		default: // a wake-up is pending already
		}
		return nil
	}
}

func parseWindow(m chat.Message) (window, error) {
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
	if n := footerLate.FindStringSubmatch(m.Footer); n != nil {
		w.late, _ = strconv.Atoi(n[1])
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
// database with a digest every second, stops the River leader half-way
// and checks that each slot's digest was posted exactly once, that the
// windows chain without gap or overlap, and that every request filed
// meanwhile was counted in exactly one digest, whenever it committed.
// Requests are filed from the first digest on, which covers none of them
// (it covers its own time only), and the test ends once the digests
// posted cover the audit log up to the last one.
func TestOneDigestPerSlotAcrossFailover(t *testing.T) {
	const slots = 12
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	url := testdb.Postgres(t)
	rec := &posts{changed: make(chan struct{}, 1)}
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
	created := 0
	var lastStamp time.Time
	file := func() {
		lastStamp = time.Now()
		r, err := policy.File(spec(approvals.ActionDisable, "tmcas", fmt.Sprintf("u%d@contoso.com", created)), nil, actor("alice"), lastStamp)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := filer.Create(ctx, r, nil); err != nil {
			t.Fatal(err)
		}
		created++
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
	// The load: about ten requests a second, landing all over the windows
	// and often committing while a digest reads.
	load := time.NewTicker(100 * time.Millisecond)
	defer load.Stop()
	filing := load.C
	lastSeq := int64(-1) // the audit head once filing stopped
	for {
		got, err := rec.snapshot()
		if err != nil {
			t.Fatal(err)
		}
		n := distinct(got)
		if leader == "" && n >= slots/2 {
			// The replica that posted last leads.
			name := got[len(got)-1].replica
			leader = "digest-" + name
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
		if filing != nil && n >= slots-3 {
			filing = nil
			if lastSeq, _, err = filer.AuditHead(ctx); err != nil {
				t.Fatal(err)
			}
		}
		if filing == nil && n >= slots && covered(ctx, t, url, lastSeq, lastStamp) {
			break
		}
		select {
		case <-rec.changed:
		case <-filing:
			if n >= 1 {
				file()
			}
		case <-ctx.Done():
			t.Fatalf("waiting for %d digests covering the audit log up to %d: %v; got %d (leader stopped: %q)", slots, lastSeq, ctx.Err(), n, leader)
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
	filed, late := 0, 0
	for i, w := range got {
		if !w.from.Before(w.to) {
			t.Errorf("window %d is [%s, %s)", i, w.from, w.to)
		}
		if i > 0 && !w.from.Equal(got[i-1].to) {
			t.Errorf("window %d starts at %s, want the end of the one before, %s", i, w.from.Format(time.RFC3339), got[i-1].to.Format(time.RFC3339))
		}
		filed += w.filed
		late += w.late
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
	if filed != created || created == 0 {
		t.Errorf("the digests counted %d requests filed, want the %d filed", filed, created)
	}
	longest := time.Duration(0)
	for _, w := range got {
		longest = max(longest, w.to.Sub(w.from))
	}
	t.Logf("%d digests for %d slots, windows chain from %s to %s, longest %s (the failover), %d requests counted once each (%d events late)",
		len(got), len(perSlot), first.Format(time.RFC3339), last.Format(time.RFC3339), longest, filed, late)
}

// covered reports whether the digests posted cover every audit entry up
// to seq stamped before at: a completed run has a mark at or after seq and
// a slot after at.
func covered(ctx context.Context, t *testing.T, url string, seq int64, at time.Time) bool {
	t.Helper()
	var n int
	if err := testdb.QueryRow(ctx, url, `SELECT COUNT(*) FROM periodic_runs WHERE name = 'digest' AND state = 'done' AND mark >= $1 AND slot > $2`,
		[]any{seq, at.UnixMicro()}, &n); err != nil {
		t.Fatal(err)
	}
	return n > 0
}
