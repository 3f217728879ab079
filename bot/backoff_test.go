package bot_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/countersign/countersign/bot"
)

// limited is a rate-limit answer asking for a wait.
type limited struct{ wait time.Duration }

func (l limited) Error() string { return "429" }

func TestBackoff(t *testing.T) {
	b := bot.Backoff{Attempts: 3, Min: time.Millisecond, Max: time.Second,
		Limited: func(err error) (time.Duration, bool) {
			var l limited
			if errors.As(err, &l) {
				return l.wait, true
			}
			return 0, false
		}}
	other := errors.New("channel_not_found")
	tests := []struct {
		name    string
		answers []error // what each run returns; the last repeats
		runs    int
		want    error // nil, or what the error must wrap
	}{
		{"success", []error{nil}, 1, nil},
		{"other error is final", []error{other}, 1, other},
		{"429, then success", []error{limited{0}, limited{time.Millisecond}, nil}, 3, nil},
		{"429 every time: Attempts runs", []error{limited{0}}, 3, limited{0}},
		{"a wait beyond Max fails at once", []error{limited{time.Hour}}, 1, limited{time.Hour}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			runs := 0
			err := b.Do(context.Background(), slog.New(slog.NewTextHandler(io.Discard, nil)), "test call", func() error {
				runs++
				return tt.answers[min(runs, len(tt.answers))-1]
			})
			if runs != tt.runs {
				t.Errorf("got %d runs, want %d", runs, tt.runs)
			}
			switch {
			case tt.want == nil && err != nil:
				t.Errorf("got %v, want success", err)
			case tt.want != nil && !errors.Is(err, tt.want):
				t.Errorf("got %v, want it to wrap %v", err, tt.want)
			case err != nil && !strings.HasPrefix(err.Error(), "test call: "):
				t.Errorf("got %q, want it to name the call", err)
			}
		})
	}
	// The wait ends with ctx.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	runs := 0
	err := b.Do(ctx, slog.New(slog.NewTextHandler(io.Discard, nil)), "test call", func() error { runs++; return limited{time.Second} })
	if runs != 1 || !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled wait: %d runs, %v; want 1 run and context.Canceled", runs, err)
	}
}
