package engine

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/countersign/countersign/approvals"
	"github.com/countersign/countersign/internal/changes"
	"github.com/countersign/countersign/internal/store"
	"github.com/countersign/countersign/internal/store/storetest"
	"github.com/countersign/countersign/internal/testdb"
	"github.com/countersign/countersign/providers"
	"github.com/countersign/countersign/workflow"
)

func TestSlots(t *testing.T) {
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	at := func(s string) time.Time {
		v, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	cases := []struct {
		schedule string
		loc      *time.Location
		t        time.Time
		before   string // the latest slot strictly before t
		next     string
	}{
		{"@every 1m", nil, at("2026-11-23T09:00:30Z"), "2026-11-23T09:00:00Z", "2026-11-23T09:01:00Z"},
		{"@every 1m", nil, at("2026-11-23T09:00:00Z"), "2026-11-23T08:59:00Z", "2026-11-23T09:01:00Z"},
		{"@every 10s", nil, at("2026-11-23T09:00:25Z"), "2026-11-23T09:00:20Z", "2026-11-23T09:00:30Z"},
		{"*/15 * * * *", nil, at("2026-11-23T09:20:00Z"), "2026-11-23T09:15:00Z", "2026-11-23T09:30:00Z"},
		{"@daily", nil, at("2026-11-23T00:00:00Z"), "2026-11-22T00:00:00Z", "2026-11-24T00:00:00Z"},
		// Weekdays at 09:00 in Berlin: Monday's slot looks back to Friday.
		{"0 9 * * 1-5", berlin, at("2026-11-23T08:00:00Z"), "2026-11-20T08:00:00Z", "2026-11-24T08:00:00Z"},
		// Across the end of summer time (25 October 2026): 09:00 is 07:00Z before, 08:00Z after.
		{"0 9 * * *", berlin, at("2026-10-26T08:00:00Z"), "2026-10-25T08:00:00Z", "2026-10-27T08:00:00Z"},
		{"0 9 * * *", berlin, at("2026-10-25T08:00:00Z"), "2026-10-24T07:00:00Z", "2026-10-26T08:00:00Z"},
		{"CRON_TZ=America/New_York 0 9 * * *", berlin, at("2026-11-23T15:00:00Z"), "2026-11-23T14:00:00Z", "2026-11-24T14:00:00Z"},
		{"0 0 30 2 *", nil, at("2026-11-23T15:00:00Z"), "0001-01-01T00:00:00Z", "0001-01-01T00:00:00Z"}, // never
	}
	for _, tc := range cases {
		t.Run(tc.schedule+"@"+tc.t.Format(time.RFC3339), func(t *testing.T) {
			s, err := parseSchedule(tc.schedule, tc.loc)
			if err != nil {
				t.Fatal(err)
			}
			if got := slotBefore(s, tc.t).UTC().Format(time.RFC3339); got != tc.before {
				t.Errorf("slotBefore = %s, want %s", got, tc.before)
			}
			if got := s.Next(tc.t).UTC().Format(time.RFC3339); got != tc.next {
				t.Errorf("Next = %s, want %s", got, tc.next)
			}
		})
	}
	for _, bad := range []string{"", "every minute", "* * *", "61 * * * *"} {
		if _, err := parseSchedule(bad, nil); err == nil {
			t.Errorf("parseSchedule(%q) = nil error, want one", bad)
		}
	}
}

// runs records the calls of a Periodic's Run and tells changes of each.
// Each run's mark is its slot's Unix time.
type runs struct {
	taken[PeriodicRun]
	fail    map[time.Time]bool // read-only once runs are made
	changes changes.Signal
}

func (r *runs) run(_ context.Context, p PeriodicRun) (int64, error) {
	r.add(p)
	r.changes.Notify()
	if r.fail[p.Slot] {
		return p.Slot.Unix(), errors.New("chat unavailable")
	}
	return p.Slot.Unix(), nil
}

func TestPeriodicSlotClaims(t *testing.T) {
	testdb.Each(t, func(t *testing.T, url string) {
		ctx := context.Background()
		s := testdb.Store(t, url)
		hour := func(h int) time.Time { return t0.Add(time.Duration(h) * time.Hour) }
		r := &runs{fail: map[time.Time]bool{hour(3): true}}
		var replicas []*Engine
		for range 2 {
			e, err := New(Config{Store: s, Providers: newFakeProvider(), Now: fixed(t0),
				Periodic: []Periodic{{Name: "digest", Schedule: "@hourly", Run: r.run}}})
			if err != nil {
				t.Fatal(err)
			}
			replicas = append(replicas, e)
		}
		run := func(e *Engine, h int) {
			t.Helper()
			if err := e.runPeriodic(ctx, e.periodic["digest"], hour(h)); err != nil {
				t.Fatalf("slot %d: %v", h, err)
			}
		}
		run(replicas[0], 1)
		run(replicas[1], 1) // the other replica, or a retry: not run again
		// Slot 2 is claimed by a replica that died before finishing, longer
		// ago than a run can last.
		crashed := t0.Add(-time.Hour)
		if _, claimed, err := s.ClaimPeriodic(ctx, "digest", hour(2), crashed, crashed); err != nil || !claimed {
			t.Fatalf("claiming slot 2: %v %v", claimed, err)
		}
		run(replicas[1], 2) // its rescued job: never run twice
		run(replicas[0], 3) // fails
		run(replicas[1], 3)
		run(replicas[0], 4) // covers 2 and 3
		run(replicas[1], 5)
		after := func(slot, prev int) PeriodicRun {
			return PeriodicRun{Slot: hour(slot), Previous: hour(prev), Mark: hour(prev).Unix(), Marked: true}
		}
		want := []PeriodicRun{
			{Slot: hour(1), Previous: hour(0), Marked: true}, // nothing completed yet: the schedule's previous slot, nothing covered (mark 0)
			after(3, 1),
			after(4, 1), // the failed slot 3's mark is dropped
			after(5, 4),
		}
		if diff := cmp.Diff(want, r.take()); diff != "" {
			t.Errorf("runs (-want +got):\n%s", diff)
		}
	})
}

func TestPeriodicJobsRunOnLeaderOncePerSlot(t *testing.T) {
	slowEach(t, func(ctx context.Context, t *testing.T, url string) {
		r := &runs{}
		var engines []*Engine
		for i := range 2 {
			e := started(ctx, t, Config{Store: testdb.Store(t, url), Providers: newFakeProvider(), ID: []string{"a", "b"}[i],
				FetchPollInterval: 50 * time.Millisecond,
				Periodic:          []Periodic{{Name: "tick", Schedule: "@every 1s", Run: r.run}}})
			engines = append(engines, e)
		}
		var got []PeriodicRun
		waitFor(ctx, t, "three periodic runs", func() bool {
			got = append(got, r.take()...)
			return len(got) >= 3
		}, &r.changes)
		for _, e := range engines {
			if err := e.Stop(ctx); err != nil {
				t.Fatal(err)
			}
		}
		got = append(got, r.take()...)
		seen := map[time.Time]bool{}
		for i, c := range got {
			slot, prev := c.Slot, c.Previous
			if seen[slot] {
				t.Fatalf("slot %s ran twice: %v", slot, got)
			}
			seen[slot] = true
			if slot.Nanosecond() != 0 {
				t.Errorf("slot %s is not on the 1 s grid", slot)
			}
			if i > 0 && (!prev.Equal(got[i-1].Slot) || !c.Marked || c.Mark != got[i-1].Slot.Unix()) {
				t.Errorf("run %d: previous = %s, mark %d (%v); want the last completed slot %s and its mark", i, prev, c.Mark, c.Marked, got[i-1].Slot)
			}
		}
	})
}

func TestExpirySweep(t *testing.T) {
	slowEach(t, func(ctx context.Context, t *testing.T, url string) {
		s := testdb.Store(t, url)
		f := newFakeProvider()
		due := fileRequest(t, s, "fake", t0, "a@x.io")                       // expires at t0+1h
		fresh := fileRequest(t, s, "fake", t0.Add(90*time.Minute), "b@x.io") // expires at t0+2.5h
		var mu sync.Mutex
		now := t0.Add(2 * time.Hour)
		rec := &recorder{}
		clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
		router, err := providers.NewRouter(nil, f)
		if err != nil {
			t.Fatal(err)
		}
		wf, err := workflow.New(workflow.Config{Store: s, Providers: router, Now: clock})
		if err != nil {
			t.Fatal(err)
		}
		cfg, changed := watched(Config{Store: s, Providers: f, Notifier: rec, NotifyInterval: time.Nanosecond,
			Expirer: wf, ExpirySweep: "@every 1s", FetchPollInterval: 50 * time.Millisecond, Now: clock})
		e := started(ctx, t, cfg)
		defer e.Stop(context.Background())
		waitState(ctx, t, s, due.ID, approvals.StateExpired, changed)
		if got, err := s.Get(ctx, fresh.ID); err != nil || got.State != approvals.StatePending {
			t.Fatalf("request within its TTL = %s, %v; want pending", got.State, err)
		}
		// An approval arriving now is refused and nothing runs.
		if _, err := s.Apply(ctx, due.ID, storetest.Approval("bob", due.Hash), now); !errors.Is(err, approvals.ErrAlreadyDecided) {
			t.Fatalf("approving an expired request: %v, want ErrAlreadyDecided", err)
		}
		mu.Lock()
		now = t0.Add(3 * time.Hour)
		mu.Unlock()
		waitState(ctx, t, s, fresh.ID, approvals.StateExpired, changed)
		if err := e.Stop(ctx); err != nil {
			t.Fatal(err)
		}
		if n := storetest.ExecuteJobs(t, s); len(n) != 0 {
			t.Errorf("execution jobs = %v, want none", n)
		}
		if f.resolves != 0 || len(f.submitted()) != 0 {
			t.Errorf("provider calls for expired requests: %d resolves, %d submits", f.resolves, len(f.submitted()))
		}
		if rec.count(due.ID) == 0 || rec.count(fresh.ID) == 0 {
			t.Errorf("notifications: %d and %d, want the expiries told", rec.count(due.ID), rec.count(fresh.ID))
		}
	})
}

// waitState waits until request id is in state want, checking again
// whenever one of signals tells of a change.
func waitState(ctx context.Context, t *testing.T, s *store.Store, id int64, want approvals.State, signals ...*changes.Signal) {
	t.Helper()
	waitFor(ctx, t, fmt.Sprintf("request %d to be %s", id, want), func() bool { return getRequest(t, s, id).State == want }, signals...)
}
