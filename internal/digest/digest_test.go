package digest_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/countersign/countersign/approvals"
	"github.com/countersign/countersign/bot/chat"
	"github.com/countersign/countersign/internal/audit"
	"github.com/countersign/countersign/internal/digest"
	"github.com/countersign/countersign/internal/engine"
	"github.com/countersign/countersign/internal/store"
	"github.com/countersign/countersign/internal/testdb"
)

const h, m = time.Hour, time.Minute

// seed stores a day of history around the window [t0, t0+24h) and
// returns the ids by name.
func seed(t testing.TB, s *store.Store) map[string]int64 {
	hs := history{t: t, s: s, at: func(d time.Duration) time.Time { return t0.Add(d) }}
	ids := map[string]int64{}
	long := 36 * h

	// Done before the window: not in it.
	r := hs.file("alice", spec(approvals.ActionDisable, "tmcas", "old@contoso.com"), 1, long, -3*h)
	r = hs.approve(r, "bob", -2*h)
	hs.run(r, -2*h, finish(approvals.StateSucceeded, ""), -110*m)
	ids["before"] = r.ID

	// Filed before, approved and run in the window.
	r = hs.file("alice", spec(approvals.ActionDisable, "tmcas", "mallory@contoso.com"), 1, long, -1*h)
	r = hs.approve(r, "carol", 10*m)
	hs.run(r, 11*m, finish(approvals.StateSucceeded, ""), 15*m)
	ids["carried"] = r.ID

	// Filed before the window and still pending, with a partial approval
	// before it.
	r = hs.file("erin", spec(approvals.ActionEnableMFA, "graph", "ceo@contoso.com"), 2, 48*h, -30*m)
	hs.approve(r, "dave", -20*m)
	ids["old pending"] = r.ID

	r = hs.file("alice", spec(approvals.ActionDisable, "tmcas", "a@contoso.com", "b@contoso.com", "c@contoso.com", "d@contoso.com"), 1, long, 1*h)
	r = hs.approve(r, "bob", 65*m)
	hs.run(r, 66*m, finish(approvals.StateFailed, "TMCAS answered 403: the API key lacks the account-disable permission"), 80*m)
	ids["failed"] = r.ID

	r = hs.file("frank", spec(approvals.ActionResetPassword, "graph", "x@contoso.com", "y@contoso.com"), 1, long, 2*h)
	r = hs.approve(r, "carol", 150*m)
	hs.run(r, 151*m, finish(approvals.StatePartiallyFailed, "1 of 2 targets failed: y@contoso.com: user not found"), 3*h)
	ids["partial"] = r.ID

	// Two approvals needed; one given in the window.
	r = hs.file("alice", spec(approvals.ActionMarkCompromised, "graph", "z@contoso.com"), 2, long, 3*h)
	hs.approve(r, "bob", 210*m)
	ids["half approved"] = r.ID

	r = hs.file("alice", spec(approvals.ActionRevokeSessions, "graph", "w@contoso.com"), 1, long, 4*h)
	r = hs.approve(r, "bob", 250*m)
	hs.run(r, 251*m, approvals.Event{Kind: approvals.EventAttention,
		Reason: "replica stopped inside the submit window; check the provider before retrying. " + strings.Repeat("More detail. ", 20)}, 280*m)
	ids["attention"] = r.ID

	r = hs.file("frank", spec(approvals.ActionBlockIP, "tmcas", "203.0.113.7"), 1, long, 5*h)
	hs.apply(r, approvals.Event{Kind: approvals.EventDeny, Actor: actor("bob"), Reason: "our own VPN\negress \u202eklat\u202c\x07"}, 330*m)
	ids["denied"] = r.ID

	r = hs.file("alice", spec(approvals.ActionEnable, "tmcas", "v@contoso.com"), 1, time.Hour, 6*h)
	hs.apply(r, approvals.Event{Kind: approvals.EventExpire}, 450*m)
	ids["expired"] = r.ID

	mail := spec(approvals.ActionPurgeMail, "graph", "<abc@mail.contoso.com>")
	mail.Mail = &approvals.MailOptions{Action: "soft-delete"}
	r = hs.file("erin", mail, 1, long, 8*h)
	hs.apply(r, approvals.Event{Kind: approvals.EventCancel, Actor: actor("erin"), Reason: "filed by mistake"}, 495*m)
	ids["cancelled"] = r.ID

	// Tuesday, local time of the window's second day.
	r = hs.file("alice", spec(approvals.ActionDisable, "tmcas", "u@contoso.com"), 1, long, 16*h)
	r = hs.approve(r, "bob", 16*h+2*m)
	hs.run(r, 16*h+3*m, finish(approvals.StateSucceeded, ""), 16*h+10*m)
	ids["tuesday"] = r.ID

	r = hs.file("frank", spec(approvals.ActionDisable, "tmcas", "t@contoso.com"), 1, long, 22*h)
	ids["pending"] = r.ID

	// Pending at the end of the window, approved after it.
	r = hs.file("alice", spec(approvals.ActionDisable, "tmcas", "s@contoso.com"), 1, long, 23*h)
	hs.approve(r, "carol", 25*h)
	ids["approved after"] = r.ID

	// After the window: not in it.
	r = hs.file("alice", spec(approvals.ActionDisable, "tmcas", "later@contoso.com"), 1, long, 26*h)
	ids["after"] = r.ID
	return ids
}

func TestGolden(t *testing.T) {
	ctx := context.Background()
	s := testdb.Store(t, testdb.SQLite(t))
	ids := seed(t, s)
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name     string
		from, to time.Time
		loc      *time.Location
	}{
		{"day_utc", t0, t0.Add(24 * h), time.UTC},
		{"three_days_berlin", t0.Add(-36 * h), t0.Add(36 * h), berlin},
		{"empty", t0.Add(-30 * 24 * h), t0.Add(-29 * 24 * h), time.UTC},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d, err := digest.Build(ctx, s, committed(t, s, tc.from, tc.to), tc.loc)
			if err != nil {
				t.Fatal(err)
			}
			golden(t, tc.name+".text.golden", d.Text())
			golden(t, tc.name+".message.golden", render(d.Message()))
		})
	}

	// The facts behind the day's golden files, so a wrong golden file
	// cannot be accepted by -update unnoticed.
	d, err := digest.Build(ctx, s, committed(t, s, t0, t0.Add(24*h)), time.UTC)
	if err != nil {
		t.Fatal(err)
	}
	listed := func(es []digest.Entry) []int64 {
		var out []int64
		for _, e := range es {
			out = append(out, e.ID)
		}
		return out
	}
	got := map[string][]int64{
		"problems": listed(d.Problems), "pending": listed(d.Pending), "denied": listed(d.Denied),
		"expired": listed(d.Expired), "cancelled": listed(d.Cancelled),
	}
	want := map[string][]int64{
		"problems":  {ids["failed"], ids["partial"], ids["attention"]},
		"pending":   {ids["old pending"], ids["half approved"], ids["pending"], ids["approved after"]},
		"denied":    {ids["denied"]},
		"expired":   {ids["expired"]},
		"cancelled": {ids["cancelled"]},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("listed requests (-want +got):\n%s", diff)
	}
	// carried, failed, partial, half approved, attention, denied, expired,
	// cancelled, tuesday, pending, approved after.
	if d.Total != 11 || d.Filed != 10 {
		t.Errorf("Total, Filed = %d, %d; want 11, 10", d.Total, d.Filed)
	}
	wantTiming := digest.Timing{Median: 10 * m, Of: 5} // 70m, 5m, 30m, 10m, 2m
	if d.ToApproval != wantTiming {
		t.Errorf("ToApproval = %+v, want %+v", d.ToApproval, wantTiming)
	}
	wantTiming = digest.Timing{Median: 15 * m, Of: 5} // 5m, 15m, 30m, 30m, 8m
	if d.ToCompletion != wantTiming {
		t.Errorf("ToCompletion = %+v, want %+v", d.ToCompletion, wantTiming)
	}
	wantApprovers := []digest.Count{{Key: "bob", Count: 4}, {Key: "carol", Count: 2}}
	if diff := cmp.Diff(wantApprovers, d.TopApprovers); diff != "" {
		t.Errorf("TopApprovers (-want +got):\n%s", diff)
	}
	if got := d.Denied[0].Reason; got != "our own VPN egress klat" {
		t.Errorf("denial reason = %q, want control and bidi characters removed", got)
	}
	wantDays := []digest.Day{{Date: "2026-11-23", Filed: 7}, {Date: "2026-11-24", Filed: 3}}
	if diff := cmp.Diff(wantDays, d.Days); diff != "" {
		t.Errorf("Days (-want +got):\n%s", diff)
	}
	msg := d.Message()
	if msg.Tone != chat.ToneBad {
		t.Errorf("Tone = %q, want bad with failures", msg.Tone)
	}
	if want := "Countersign digest: Mon 23 Nov 09:00 – Tue 24 Nov 09:00 (UTC)"; msg.Title != want {
		t.Errorf("Title = %q, want %q", msg.Title, want)
	}
	// The digest round-trips through JSON (countersign digest --format json).
	b, err := json.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	var back digest.Digest
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if back.Text() != d.Text() {
		t.Errorf("Text after a JSON round trip differs:\n%s\nwant:\n%s", back.Text(), d.Text())
	}
}

func TestBuildRefusesBadWindows(t *testing.T) {
	src := sliceSource(nil)
	for _, w := range [][2]time.Time{{t0, t0}, {t0, t0.Add(-time.Second)}, {{}, t0}, {t0, t0.Add(20 * 366 * 24 * h)}} {
		if _, err := digest.Build(context.Background(), src, digest.Window{From: w[0], To: w[1]}, nil); !errors.Is(err, digest.ErrWindow) {
			t.Errorf("Build(%s, %s) = %v, want ErrWindow", w[0], w[1], err)
		}
	}
}

func TestJobPostsAndReportsErrors(t *testing.T) {
	ctx := context.Background()
	var posted []chat.Message
	post := func(_ context.Context, m chat.Message) error { posted = append(posted, m); return nil }
	slot := engine.PeriodicRun{Slot: t0, Previous: t0.Add(-h)}
	run := digest.Job(digest.JobConfig{Source: sliceSource(nil), Post: post})
	if _, err := run(ctx, slot); err != nil {
		t.Fatal(err)
	}
	if len(posted) != 1 || !strings.HasPrefix(posted[0].Text, "Nothing happened") {
		t.Fatalf("posted %+v, want one Nothing happened message", posted)
	}
	chatDown := errors.New("chat unavailable")
	run = digest.Job(digest.JobConfig{Source: sliceSource(nil), Post: func(context.Context, chat.Message) error { return chatDown }})
	if _, err := run(ctx, slot); !errors.Is(err, chatDown) {
		t.Errorf("Run with a failing Post = %v, want it wrapped", err)
	}
	listDown := errors.New("database unavailable")
	run = digest.Job(digest.JobConfig{Source: failingSource{listDown}, Post: post})
	if _, err := run(ctx, slot); !errors.Is(err, listDown) {
		t.Errorf("Run with a failing Source = %v, want it wrapped", err)
	}
}

type failingSource struct{ err error }

func (f failingSource) List(context.Context, approvals.Filter) ([]approvals.Request, error) {
	return nil, f.err
}

func (f failingSource) AuditEntries(context.Context, audit.Window) ([]audit.Entry, error) {
	return nil, f.err
}

func (f failingSource) AuditHead(context.Context) (int64, string, error) { return 0, "", f.err }
