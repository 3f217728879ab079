package providertest

import (
	"context"
	"log/slog"
	"strings"
	"sync"
)

// Line is one logged record.
type Line struct {
	Level   slog.Level
	Message string
	// Attrs maps every attribute's key to its value, those added with
	// Logger.With included.
	Attrs map[string]string
	// Text is "LEVEL message key=value …", the attributes added with
	// Logger.With first, for looking for what must or must never be
	// logged.
	Text string
}

// Log is a slog.Handler that keeps every record. It is safe for
// concurrent use; loggers derived with With share its lines.
type Log struct {
	mu    *sync.Mutex
	lines *[]Line
	attrs []slog.Attr
}

// NewLog returns an empty Log.
func NewLog() *Log { return &Log{mu: &sync.Mutex{}, lines: new([]Line)} }

// Logger returns a logger writing to l.
func (l *Log) Logger() *slog.Logger { return slog.New(l) }

// Enabled reports true: every level is kept.
func (l *Log) Enabled(context.Context, slog.Level) bool { return true }

// Handle keeps r.
func (l *Log) Handle(_ context.Context, r slog.Record) error {
	line := Line{Level: r.Level, Message: r.Message, Attrs: map[string]string{}}
	var b strings.Builder
	b.WriteString(r.Level.String() + " " + r.Message)
	add := func(a slog.Attr) bool {
		v := a.Value.String()
		line.Attrs[a.Key] = v
		b.WriteString(" " + a.Key + "=" + v)
		return true
	}
	for _, a := range l.attrs {
		add(a)
	}
	r.Attrs(add)
	line.Text = b.String()
	l.mu.Lock()
	defer l.mu.Unlock()
	*l.lines = append(*l.lines, line)
	return nil
}

// WithAttrs returns a handler adding as to every record, sharing l's
// lines.
func (l *Log) WithAttrs(as []slog.Attr) slog.Handler {
	c := *l
	c.attrs = append(append([]slog.Attr{}, l.attrs...), as...)
	return &c
}

// WithGroup returns l: the clients log no groups.
func (l *Log) WithGroup(string) slog.Handler { return l }

// Lines returns every line logged so far.
func (l *Log) Lines() []Line {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]Line(nil), *l.lines...)
}

// Matching returns the texts of the lines containing every one of subs.
func (l *Log) Matching(subs ...string) []string {
	var out []string
	for _, line := range l.Lines() {
		ok := true
		for _, s := range subs {
			ok = ok && strings.Contains(line.Text, s)
		}
		if ok {
			out = append(out, line.Text)
		}
	}
	return out
}
