package digest

import (
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/countersign/countersign/approvals"
	"github.com/countersign/countersign/bot/chat"
	"github.com/countersign/countersign/internal/safetext"
)

// Limits of Message, which must fit Slack and Discord whatever the volume.
// Characters are counted as runes over every string of the message.
const (
	// MaxMessageChars bounds the characters of all strings in a Message.
	MaxMessageChars = 1800
	// MaxMessageLines bounds Message().Lines.
	MaxMessageLines = 25
	// MaxPreChars bounds Message().Pre.
	MaxPreChars = 600

	// moreReserve leaves room for the adapter's "… and N more".
	moreReserve     = 30
	textReasonRunes = 500 // a reason or note in Text
	maxTargetRunes  = 120 // a target, when Build keeps it
	lineTargetRunes = 40  // a target in a Message line
	personRunes     = 40  // a person's name in a field
)

// Message renders the digest for Slack and Discord. It always fits
// MaxMessageChars, MaxMessageLines and MaxPreChars: when the lists do
// not fit, failures come first, then pending requests, then denied,
// expired and cancelled ones, and More counts the rest. When the counts
// and the chart would leave room for only a few list lines, they and the
// lines are drawn more tersely.
func (d Digest) Message() chat.Message {
	loc := d.location()
	listed := len(d.Problems) + len(d.Pending) + len(d.Denied) + len(d.Expired) + len(d.Cancelled)
	// From roomy to terse; the first that shows wantLines list lines wins.
	layouts := [...]layout{
		{field: 180, chartRows: 14, text: 80, detail: 120},
		{field: 90, chartRows: 7, text: 60, detail: 80},
		{field: 40, chartRows: 3, text: 48, detail: 48},
	}
	var m chat.Message
	for i, l := range layouts {
		m = d.message(loc, l)
		if len(m.Lines) >= min(wantLines, listed) || i == len(layouts)-1 {
			break
		}
	}
	return m
}

// layout sets how much of each part a Message shows.
type layout struct {
	field     int // runes of a field's value
	chartRows int // days of the chart
	text      int // runes of a line's Text
	detail    int // runes of a line's Detail
}

// wantLines is how many list lines Message makes room for first.
const wantLines = 10

func (d Digest) message(loc *time.Location, l layout) chat.Message {
	m := chat.Message{
		Title:  d.title(loc),
		Footer: d.footer(),
	}
	if d.Total == 0 && len(d.Pending) == 0 {
		m.Text = "Nothing happened: no request was filed, decided or run, and none is pending."
		return m
	}
	switch {
	case len(d.Problems) > 0:
		m.Tone = chat.ToneBad
	case len(d.Pending) > 0:
		m.Tone = chat.ToneWaiting
	default:
		m.Tone = chat.ToneGood
	}
	m.Text = d.summary(loc)
	m.Fields = d.fields(l.field)
	m.Pre = d.chart(loc, 16, l.chartRows)
	for utf8.RuneCountInString(m.Pre) > MaxPreChars {
		l.chartRows--
		m.Pre = d.chart(loc, 16, l.chartRows)
	}
	budget := MaxMessageChars - moreReserve
	used := messageRunes(m)
	full := false
	for _, g := range []struct {
		mark chat.Mark
		es   []Entry
	}{
		{chat.MarkFailed, d.Problems}, {chat.MarkPending, d.Pending},
		{chat.MarkSkipped, d.Denied}, {chat.MarkSkipped, d.Expired}, {chat.MarkSkipped, d.Cancelled},
	} {
		if full {
			m.More += len(g.es)
			continue
		}
		for i, e := range g.es {
			line := chat.Line{Mark: g.mark, Text: lineText(e, l.text), Detail: cut(outcome(e), l.detail)}
			n := lineRunes(line)
			if full = full || len(m.Lines) == MaxMessageLines || used+n > budget; full {
				m.More += len(g.es) - i
				break
			}
			m.Lines = append(m.Lines, line)
			used += n
		}
	}
	return m
}

// title names the window in loc.
func (d Digest) title(loc *time.Location) string {
	from, to := d.From.In(loc), d.To.In(loc)
	layout := "Mon 2 Jan 15:04"
	if from.Second() != 0 || to.Second() != 0 {
		layout = "Mon 2 Jan 15:04:05"
	}
	if from.Year() != to.Year() {
		layout = "Mon 2 Jan 2006 15:04"
	}
	return fmt.Sprintf("Countersign digest: %s – %s (%s)", from.Format(layout), to.Format(layout), loc)
}

// footer gives the exact window, which the title rounds.
func (d Digest) footer() string {
	return fmt.Sprintf("Window %s – %s, end excluded%s. Full report: countersign digest --format text",
		d.From.UTC().Format(time.RFC3339), d.To.UTC().Format(time.RFC3339), d.lateNote())
}

// lateNote tells of events from before the window, or is empty.
func (d Digest) lateNote() string {
	if d.Late == 0 {
		return ""
	}
	return fmt.Sprintf(", and %s from before it, recorded after the last digest", chat.Count(d.Late, "event"))
}

func (d Digest) summary(loc *time.Location) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s filed, decided or run in this window (%d filed).", chat.Count(d.Total, "request"), d.Filed)
	if n := len(d.Problems); n > 0 {
		fmt.Fprintf(&b, " %d failed or need attention.", n)
	}
	if n := len(d.Pending); n > 0 {
		fmt.Fprintf(&b, " %d still pending at %s.", n, d.To.In(loc).Format("15:04"))
	}
	return b.String()
}

// fields renders the counts, each value cut to limit runes.
func (d Digest) fields(limit int) []chat.Field {
	var out []chat.Field
	add := func(label string, cs []Count) {
		if len(cs) > 0 {
			out = append(out, chat.Field{Label: label, Value: cut(joinCounts(cs, " · ", personRunes), limit)})
		}
	}
	add("Outcomes", d.ByOutcome)
	add("Actions", d.ByAction)
	add("Providers", d.ByProvider)
	if d.ToApproval.Of > 0 {
		out = append(out, chat.Field{Label: "Median to approval", Value: timing(d.ToApproval)})
	}
	if d.ToCompletion.Of > 0 {
		out = append(out, chat.Field{Label: "Median to completion", Value: timing(d.ToCompletion)})
	}
	add("Top requesters", d.TopRequesters)
	add("Top approvers", d.TopApprovers)
	return out
}

func timing(t Timing) string {
	return fmt.Sprintf("%s (of %d)", duration(t.Median), t.Of)
}

func joinCounts(cs []Count, sep string, keyRunes int) string {
	var b strings.Builder
	for i, c := range cs {
		if i > 0 {
			b.WriteString(sep)
		}
		b.WriteString(cut(c.Key, keyRunes))
		b.WriteByte(' ')
		b.WriteString(strconv.Itoa(c.Count))
	}
	return b.String()
}

// lineText is "#12 disable a@x.io +2 · alice".
func lineText(e Entry, limit int) string {
	return cut("#"+strconv.FormatInt(e.ID, 10)+" "+string(e.Action)+" "+targets(e, lineTargetRunes)+" · "+e.Requester, limit)
}

// targets is the first target and how many more there are.
func targets(e Entry, limit int) string {
	if len(e.Targets) == 0 {
		return "(no targets)"
	}
	s := cut(e.Targets[0], limit)
	if e.NTargets > 1 {
		s += " +" + strconv.Itoa(e.NTargets-1)
	}
	return s
}

// outcome says what became of e, with who and why; the reason is not cut.
func outcome(e Entry) string {
	var s string
	switch e.State {
	case approvals.StatePending:
		s = "pending for " + duration(e.Age)
		if len(e.Waiting) > 0 {
			s += ", waiting for " + strings.Join(e.Waiting, ", ")
		}
		return s
	case approvals.StateDenied:
		s = "denied by " + e.By
	case approvals.StateCancelled:
		s = "cancelled by " + e.By
	case approvals.StatePartiallyFailed:
		s = "partially failed"
	case approvals.StateNeedsAttention:
		s = "needs attention"
	default:
		s = string(e.State)
	}
	if e.Reason != "" {
		s += ": " + e.Reason
	}
	return s
}

// chart draws requests filed per day: the last rows days, bars of at most
// width blocks scaled to the largest count shown.
func (d Digest) chart(loc *time.Location, width, rows int) string {
	days := d.Days
	var b strings.Builder
	b.WriteString("Filed per day (" + loc.String())
	if rows > 0 && len(days) > rows {
		fmt.Fprintf(&b, ", last %d of %d days", rows, len(days))
		days = days[len(days)-rows:]
	}
	b.WriteString(")\n")
	top := 0
	for _, day := range days {
		top = max(top, day.Filed)
	}
	for i, day := range days {
		label := day.Date
		if t, err := time.ParseInLocation(time.DateOnly, day.Date, loc); err == nil {
			label = t.Format("Mon _2 Jan")
		}
		n := 0
		if top > 0 {
			n = (day.Filed*width + top - 1) / top // a day with any request shows a block
		}
		b.WriteString(label)
		b.WriteString(" ")
		b.WriteString(strings.Repeat("█", n))
		b.WriteString(strings.Repeat(" ", width-n))
		b.WriteString(" ")
		b.WriteString(strconv.Itoa(day.Filed))
		if i < len(days)-1 {
			b.WriteByte('\n')
		}
	}
	return b.String()
}

// Text renders the full plain-text report: every count, every listed
// request and the chart of every day.
func (d Digest) Text() string {
	loc := d.location()
	var b strings.Builder
	b.WriteString(d.title(loc))
	b.WriteString("\n")
	fmt.Fprintf(&b, "Window: %s – %s, end excluded%s\n\n", d.From.UTC().Format(time.RFC3339), d.To.UTC().Format(time.RFC3339), d.lateNote())
	if d.Total == 0 && len(d.Pending) == 0 {
		b.WriteString("Nothing happened: no request was filed, decided or run, and none is pending.\n")
		return b.String()
	}
	fmt.Fprintf(&b, "Requests filed, decided or run: %d (filed: %d)\n", d.Total, d.Filed)
	row := func(label, value string) { fmt.Fprintf(&b, "%-27s %s\n", label+":", value) }
	counts := func(label string, cs []Count) {
		if len(cs) == 0 {
			row(label, "none")
			return
		}
		row(label, joinCounts(cs, ", ", textReasonRunes))
	}
	counts("Outcomes", d.ByOutcome)
	counts("Actions", d.ByAction)
	counts("Providers", d.ByProvider)
	for _, t := range []struct {
		label string
		t     Timing
	}{{"Median time to approval", d.ToApproval}, {"Median time to completion", d.ToCompletion}} {
		if t.t.Of == 0 {
			row(t.label, "none")
		} else {
			row(t.label, timing(t.t))
		}
	}
	counts("Top requesters", d.TopRequesters)
	counts("Top approvers", d.TopApprovers)
	b.WriteString("\n")
	b.WriteString(d.chart(loc, 40, 0))
	b.WriteString("\n")
	section := func(title string, es []Entry) {
		if len(es) == 0 {
			return
		}
		fmt.Fprintf(&b, "\n%s (%d):\n", title, len(es))
		for _, e := range es {
			tg := strings.Join(e.Targets, ", ")
			if e.NTargets > len(e.Targets) {
				tg += fmt.Sprintf(" +%d more", e.NTargets-len(e.Targets))
			}
			fmt.Fprintf(&b, "  #%d %s %s via %s, by %s; %s: %s\n", e.ID, e.Action, tg, e.Provider, e.Requester,
				e.At.In(loc).Format("Mon 2 Jan 15:04:05"), cut(outcome(e), textReasonRunes))
		}
	}
	section("Failed or needing attention", d.Problems)
	section(fmt.Sprintf("Still pending at %s", d.To.In(loc).Format("Mon 2 Jan 15:04:05")), d.Pending)
	section("Denied", d.Denied)
	section("Expired", d.Expired)
	section("Cancelled", d.Cancelled)
	return b.String()
}

// duration is a short human duration: 45s, 3m07s, 5h02m, 2d04h.
func duration(d time.Duration) string {
	if d < 0 {
		d = 0
	}
	s := int64(d / time.Second)
	switch {
	case s < 60:
		return fmt.Sprintf("%ds", s)
	case s < 3600:
		return fmt.Sprintf("%dm%02ds", s/60, s%60)
	case s < 48*3600:
		return fmt.Sprintf("%dh%02dm", s/3600, s%3600/60)
	}
	return fmt.Sprintf("%dd%02dh", s/86400, s%86400/3600)
}

// clean makes user-supplied text one line of plain text without the
// characters that can make it read differently than it is (safetext).
// Escaping for a platform is the adapters' work.
func clean(s string) string { return strings.TrimSpace(safetext.Clean(s)) }

// cut shortens s to at most n runes, ending with … when it cut.
func cut(s string, n int) string {
	if len(s) <= n || utf8.RuneCountInString(s) <= n {
		return s
	}
	i, count := 0, 0
	for i = range s {
		if count == n-1 {
			break
		}
		count++
	}
	return s[:i] + "…"
}

// messageRunes counts the characters of every string in m.
func messageRunes(m chat.Message) int {
	n := utf8.RuneCountInString(m.Title) + utf8.RuneCountInString(m.Text) + utf8.RuneCountInString(m.Pre) +
		utf8.RuneCountInString(m.Footer)
	for _, f := range m.Fields {
		n += utf8.RuneCountInString(f.Label) + utf8.RuneCountInString(f.Value)
	}
	for _, l := range m.Lines {
		n += lineRunes(l)
	}
	return n
}

func lineRunes(l chat.Line) int {
	return utf8.RuneCountInString(string(l.Mark)) + utf8.RuneCountInString(l.Text) + utf8.RuneCountInString(l.Detail)
}
