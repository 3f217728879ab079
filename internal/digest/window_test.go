package digest_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/countersign/countersign/approvals"
	"github.com/countersign/countersign/bot/chat"
	"github.com/countersign/countersign/internal/digest"
	"github.com/countersign/countersign/internal/engine"
	"github.com/countersign/countersign/internal/store"
	"github.com/countersign/countersign/internal/testdb"
)

// lateSource is a store with a hook that runs once, right after the
// digest's first read of it: a commit that lands after the window was
// read.
type lateSource struct {
	*store.Store
	once sync.Once
	hook func()
}

func (l *lateSource) AuditHead(ctx context.Context) (int64, string, error) {
	seq, hash, err := l.Store.AuditHead(ctx)
	l.once.Do(l.hook)
	return seq, hash, err
}

func (l *lateSource) List(ctx context.Context, f approvals.Filter) ([]approvals.Request, error) {
	rs, err := l.Store.List(ctx, f)
	l.once.Do(l.hook)
	return rs, err
}

// TestLateCommitIsInTheNextDigest files a request stamped just before a
// slot that commits only after that slot's digest read the store: the
// next digest counts it, as late, and no digest counts anything twice.
func TestLateCommitIsInTheNextDigest(t *testing.T) {
	testdb.Each(t, func(t *testing.T, url string) {
		ctx := context.Background()
		s := testdb.Store(t, url)
		hs := history{t: t, s: s, at: func(d time.Duration) time.Time { return t0.Add(d) }}
		slot0, slot1, slot2 := t0, t0.Add(h), t0.Add(2*h)
		hs.file("alice", spec(approvals.ActionDisable, "tmcas", "a@contoso.com"), 1, 36*h, 10*m)
		// Stamped after slot 1 but committed before its digest reads.
		hs.file("alice", spec(approvals.ActionDisable, "tmcas", "early@contoso.com"), 1, 36*h, h+time.Millisecond)
		src := &lateSource{Store: s, hook: func() {
			hs.file("alice", spec(approvals.ActionDisable, "tmcas", "late@contoso.com"), 1, 36*h, h-time.Millisecond)
		}}
		var got []digest.Digest
		var footers []string
		run := digest.Job(digest.JobConfig{Source: src,
			Post:   func(_ context.Context, m chat.Message) error { footers = append(footers, m.Footer); return nil },
			Posted: func(_ context.Context, d digest.Digest) error { got = append(got, d); return nil }})
		mark, err := run(ctx, engine.PeriodicRun{Slot: slot1, Previous: slot0})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := run(ctx, engine.PeriodicRun{Slot: slot2, Previous: slot1, Mark: mark, Marked: true}); err != nil {
			t.Fatal(err)
		}
		if len(got) != 2 {
			t.Fatalf("posted %d digests, want 2", len(got))
		}
		if got[0].Filed != 1 || got[1].Filed != 2 {
			t.Errorf("filed per digest = %d, %d; want 1 (on time), 2 (the late one and the one after the slot)", got[0].Filed, got[1].Filed)
		}
		if got[0].Late != 0 || got[1].Late != 1 {
			t.Errorf("late per digest = %d, %d; want 0, 1", got[0].Late, got[1].Late)
		}
		if want := "and 1 event from before it, recorded after the last digest"; !strings.Contains(footers[1], want) {
			t.Errorf("footer %q does not say %q", footers[1], want)
		}
		if strings.Contains(footers[0], "from before it") {
			t.Errorf("footer %q tells of late events, want none", footers[0])
		}
	})
}

// TestFirstDigest checks the first digest's window. The first after an
// upgrade (no mark) counts what was stamped in its window, not the whole
// history before it; the first ever (mark 0: nothing covered yet) also
// counts what was recorded before its window, as late, so slots missed
// after the install lose nothing.
func TestFirstDigest(t *testing.T) {
	for _, tc := range []struct {
		name                string
		marked              bool
		wantTotal, wantLate int
	}{
		{"after an upgrade: its own time only", false, 1, 0},
		{"ever: everything since the install", true, 2, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := testdb.Store(t, testdb.SQLite(t))
			hs := history{t: t, s: s, at: func(d time.Duration) time.Time { return t0.Add(d) }}
			hs.file("alice", spec(approvals.ActionDisable, "tmcas", "early@contoso.com"), 1, 36*h, -2*h)
			hs.file("alice", spec(approvals.ActionDisable, "tmcas", "new@contoso.com"), 1, 36*h, 10*m)
			var got digest.Digest
			run := digest.Job(digest.JobConfig{Source: s, Post: func(context.Context, chat.Message) error { return nil },
				Posted: func(_ context.Context, d digest.Digest) error { got = d; return nil }})
			mark, err := run(context.Background(), engine.PeriodicRun{Slot: t0.Add(h), Previous: t0, Marked: tc.marked})
			if err != nil {
				t.Fatal(err)
			}
			if got.Total != tc.wantTotal || got.Filed != tc.wantTotal || got.Late != tc.wantLate {
				t.Errorf("total, filed, late = %d, %d, %d; want %d, %[4]d, %d", got.Total, got.Filed, got.Late, tc.wantTotal, tc.wantLate)
			}
			if head, _, _ := s.AuditHead(context.Background()); mark != head {
				t.Errorf("mark = %d, want the audit head %d", mark, head)
			}
		})
	}
}

// TestLateEventOnTheDayBefore counts a request filed late on the day
// before the window in the chart, on its own day.
func TestLateEventOnTheDayBefore(t *testing.T) {
	s := testdb.Store(t, testdb.SQLite(t))
	hs := history{t: t, s: s, at: func(d time.Duration) time.Time { return t0.Add(d) }}
	hs.file("alice", spec(approvals.ActionDisable, "tmcas", "sunday@contoso.com"), 1, 36*h, -10*h) // 23:00 Sunday
	hs.file("alice", spec(approvals.ActionDisable, "tmcas", "monday@contoso.com"), 1, 36*h, 10*m)
	head, _, err := s.AuditHead(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	// The digest before read the log before either committed.
	d, err := digest.Build(context.Background(), s, digest.Window{From: t0, To: t0.Add(h), After: 0, Through: head}, time.UTC)
	if err != nil {
		t.Fatal(err)
	}
	want := []digest.Day{{Date: "2026-11-22", Filed: 1}, {Date: "2026-11-23", Filed: 1}}
	if diff := cmp.Diff(want, d.Days); diff != "" {
		t.Errorf("Days (-want +got):\n%s", diff)
	}
	if d.Filed != 2 || d.Late != 1 {
		t.Errorf("filed, late = %d, %d; want 2, 1", d.Filed, d.Late)
	}
	if !strings.Contains(d.Text(), "and 1 event from before it") {
		t.Errorf("Text does not tell of the late event:\n%s", d.Text())
	}
}
