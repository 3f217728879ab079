package digest_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/countersign/countersign/approvals"
	"github.com/countersign/countersign/bot/chat"
	"github.com/countersign/countersign/internal/audit"
	"github.com/countersign/countersign/internal/digest"
	"github.com/countersign/countersign/internal/safetext"
)

// sliceSource is an in-memory Source that applies the Filter fields
// Build uses. Everything in it is committed: its audit entries, derived
// from the requests' times, are selected by time alone.
type sliceSource []approvals.Request

func (s sliceSource) AuditHead(context.Context) (int64, string, error) { return 0, "", nil }

func (s sliceSource) AuditEntries(_ context.Context, w audit.Window) ([]audit.Entry, error) {
	var out []audit.Entry
	add := func(r approvals.Request, kind approvals.EventKind, at time.Time) {
		if !at.IsZero() && !at.Before(w.From) && at.Before(w.To) {
			out = append(out, audit.Entry{RequestID: r.ID, Kind: string(kind), At: at})
		}
	}
	for _, r := range s {
		add(r, "requested", r.CreatedAt)
		for _, a := range r.Approvals {
			add(r, approvals.EventApprove, a.At)
		}
		if r.Denial != nil {
			add(r, approvals.EventDeny, r.Denial.At)
		}
		if r.Cancel != nil {
			add(r, approvals.EventCancel, r.Cancel.At)
		}
		switch r.State {
		case approvals.StateExpired:
			add(r, approvals.EventExpire, r.UpdatedAt)
		case approvals.StateNeedsAttention:
			add(r, approvals.EventAttention, r.FinishedAt)
		case approvals.StateSucceeded, approvals.StatePartiallyFailed, approvals.StateFailed:
			add(r, approvals.EventFinish, r.FinishedAt)
		}
	}
	return out, nil
}

func (s sliceSource) List(_ context.Context, f approvals.Filter) ([]approvals.Request, error) {
	var out []approvals.Request
	for _, r := range s {
		if len(f.States) > 0 && !slices.Contains(f.States, r.State) {
			continue
		}
		if !f.UpdatedSince.IsZero() && r.UpdatedAt.Before(f.UpdatedSince) {
			continue
		}
		out = append(out, r)
	}
	return out, nil
}

// shape biases the generated states.
type shape struct {
	name   string
	states []approvals.State // drawn uniformly
}

var shapes = []shape{
	{"mixed", approvals.States()},
	{"all failing", []approvals.State{approvals.StateFailed, approvals.StatePartiallyFailed, approvals.StateNeedsAttention}},
	{"all pending", []approvals.State{approvals.StatePending}},
	{"all declined", []approvals.State{approvals.StateDenied, approvals.StateExpired, approvals.StateCancelled}},
	{"all fine", []approvals.State{approvals.StateSucceeded}},
}

// hostile returns user text that is long, multi-byte and full of control,
// bidirectional and zero-width characters.
func hostile(rng *rand.Rand, n int) string {
	parts := []string{"account is locked", "\n", "\t", "\x1b[31m", "\u202e", "\u2066", "\u200b", "\ufeff", "\u3164", "ünïcødé ", "🔥", "<@U123>", "*bold* ", "x"}
	var b strings.Builder
	for range n {
		b.WriteString(parts[rng.IntN(len(parts))])
	}
	return b.String()
}

// generate returns n requests with events spread over [from, to).
func generate(seed uint64, n int, from, to time.Time, sh shape) []approvals.Request {
	rng := rand.New(rand.NewPCG(seed, 42))
	span := int64(to.Sub(from))
	at := func() time.Time { return from.Add(time.Duration(rng.Int64N(span))) }
	people := []string{"alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi",
		strings.Repeat("a-person-with-a-very-long-name-", 5)}
	providers := []string{"tmcas", "graph"}
	for i := range 30 {
		providers = append(providers, fmt.Sprintf("provider-%02d-with-a-long-name", i))
	}
	out := make([]approvals.Request, 0, n)
	for i := range n {
		created := at()
		if rng.IntN(10) == 0 {
			created = from.Add(-time.Duration(rng.Int64N(int64(30 * 24 * time.Hour)))) // filed long before
		}
		targets := make([]string, 1+rng.IntN(40))
		for j := range targets {
			targets[j] = fmt.Sprintf("user-%d-%d@%s.contoso.com", i, j, strings.Repeat("sub", rng.IntN(30)))
		}
		r := approvals.Request{
			ID:                int64(i + 1),
			Spec:              approvals.Spec{Action: approvals.Actions()[rng.IntN(len(approvals.Actions()))], Provider: providers[rng.IntN(len(providers))], Targets: targets},
			Requester:         approvals.Actor{Person: people[rng.IntN(len(people))]},
			State:             sh.states[rng.IntN(len(sh.states))],
			ApprovalsRequired: 1,
			Approvers:         people,
			CreatedAt:         created,
			UpdatedAt:         created,
		}
		later := func(t time.Time) time.Time { return t.Add(time.Duration(rng.Int64N(int64(3 * time.Hour)))) }
		decision := func(t time.Time) *approvals.Decision {
			return &approvals.Decision{Actor: approvals.Actor{Person: people[rng.IntN(len(people))]}, At: t, Reason: hostile(rng, rng.IntN(60))}
		}
		switch r.State {
		case approvals.StatePending:
		case approvals.StateDenied:
			r.Denial = decision(later(created))
			r.UpdatedAt = r.Denial.At
		case approvals.StateCancelled:
			r.Cancel = decision(later(created))
			r.UpdatedAt, r.FinishedAt = r.Cancel.At, r.Cancel.At
		case approvals.StateExpired:
			r.UpdatedAt = later(created)
		default:
			r.ApprovedAt = later(created)
			r.Approvals = []approvals.Decision{*decision(r.ApprovedAt)}
			r.UpdatedAt = r.ApprovedAt
			if r.State.Terminal() {
				r.FinishedAt = later(r.ApprovedAt)
				r.UpdatedAt = r.FinishedAt
				r.Note = hostile(rng, rng.IntN(80))
			}
		}
		out = append(out, r)
	}
	return out
}

// rank orders marks as Message must keep them.
func rank(m chat.Mark) int {
	switch m {
	case chat.MarkFailed:
		return 0
	case chat.MarkPending:
		return 1
	}
	return 2
}

func TestMessageFitsWhateverTheVolume(t *testing.T) {
	windows := []time.Duration{time.Hour, 90 * 24 * time.Hour} // one chart row; more days than the chart shows
	for i, sh := range shapes {
		for j, w := range windows {
			t.Run(fmt.Sprintf("%s/%s", sh.name, w), func(t *testing.T) {
				t.Parallel()
				from, to := t0, t0.Add(w)
				src := sliceSource(generate(uint64(i*10+j), 10_000, from, to, sh))
				d, err := digest.Build(context.Background(), src, digest.Window{From: from, To: to}, time.UTC)
				if err != nil {
					t.Fatal(err)
				}
				m := d.Message()
				if n := messageChars(m); n > digest.MaxMessageChars {
					t.Errorf("message has %d characters, want ≤ %d", n, digest.MaxMessageChars)
				}
				if len(m.Lines) > digest.MaxMessageLines {
					t.Errorf("message has %d lines, want ≤ %d", len(m.Lines), digest.MaxMessageLines)
				}
				if n := utf8.RuneCountInString(m.Pre); n > digest.MaxPreChars {
					t.Errorf("Pre has %d characters, want ≤ %d", n, digest.MaxPreChars)
				}
				listed := len(d.Problems) + len(d.Pending) + len(d.Denied) + len(d.Expired) + len(d.Cancelled)
				if listed == 0 || len(m.Lines) == 0 {
					t.Fatalf("%d listed, %d lines: the generator made nothing to list", listed, len(m.Lines))
				}
				if m.More != listed-len(m.Lines) {
					t.Errorf("More = %d, want %d listed - %d shown", m.More, listed, len(m.Lines))
				}
				// Failures, then pending, then the rest; a class is only
				// shown once every line of the classes before it is.
				avail := []int{len(d.Problems), len(d.Pending), len(d.Denied) + len(d.Expired) + len(d.Cancelled)}
				shown := make([]int, 3)
				for k, l := range m.Lines {
					shown[rank(l.Mark)]++
					if k > 0 && rank(l.Mark) < rank(m.Lines[k-1].Mark) {
						t.Fatalf("line %d (%s) after a %s line", k, l.Mark, m.Lines[k-1].Mark)
					}
				}
				for c := 1; c < 3; c++ {
					if shown[c] > 0 && shown[c-1] < avail[c-1] {
						t.Errorf("class %d shown while class %d was cut (%d of %d)", c, c-1, shown[c-1], avail[c-1])
					}
				}
				if want := chat.ToneBad; len(d.Problems) > 0 && m.Tone != want {
					t.Errorf("Tone = %q with %d problems, want %q", m.Tone, len(d.Problems), want)
				}
				for _, s := range messageStrings(m) {
					for line := range strings.SplitSeq(s, "\n") {
						if safetext.Clean(line) != line {
							t.Fatalf("control, bidi or invisible character in %q", s)
						}
					}
				}
				for _, l := range m.Lines {
					if strings.Contains(l.Text, "\n") || strings.Contains(l.Detail, "\n") || utf8.RuneCountInString(l.Detail) > 120 {
						t.Fatalf("line not cut to one line of 120 runes: %q", l.Detail)
					}
				}
				t.Logf("%d characters, %d lines, %d more, Pre %d characters", messageChars(m), len(m.Lines), m.More, utf8.RuneCountInString(m.Pre))
			})
		}
	}
}

func messageStrings(m chat.Message) []string {
	out := []string{m.Title, m.Text, m.Footer}
	for _, f := range m.Fields {
		out = append(out, f.Label, f.Value)
	}
	for _, l := range m.Lines {
		out = append(out, l.Text, l.Detail)
	}
	return out
}

func BenchmarkDigest10k(b *testing.B) {
	from, to := t0, t0.Add(7*24*time.Hour)
	src := sliceSource(generate(1, 10_000, from, to, shapes[0]))
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		d, err := digest.Build(ctx, src, digest.Window{From: from, To: to}, time.UTC)
		if err != nil {
			b.Fatal(err)
		}
		_ = d.Message()
		_ = d.Text()
	}
}
