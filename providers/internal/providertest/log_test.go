package providertest

import (
	"log/slog"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestLog(t *testing.T) {
	l := NewLog()
	base := l.Logger()
	base.Info("first", "n", 1)
	base.With("provider", "graph").Warn("provider call", "status", 429)
	want := []Line{
		{Level: slog.LevelInfo, Message: "first", Attrs: map[string]string{"n": "1"}, Text: "INFO first n=1"},
		{Level: slog.LevelWarn, Message: "provider call", Attrs: map[string]string{"provider": "graph", "status": "429"},
			Text: "WARN provider call provider=graph status=429"},
	}
	if diff := cmp.Diff(want, l.Lines()); diff != "" {
		t.Errorf("lines of a logger and one derived with With (-want +got):\n%s", diff)
	}
	tests := []struct {
		subs []string
		want []string
	}{
		{[]string{"provider call", "status=429"}, []string{"WARN provider call provider=graph status=429"}},
		{[]string{"n=1", "status=429"}, nil},
		{nil, []string{"INFO first n=1", "WARN provider call provider=graph status=429"}},
	}
	for _, tt := range tests {
		if diff := cmp.Diff(tt.want, l.Matching(tt.subs...)); diff != "" {
			t.Errorf("Matching(%q) (-want +got):\n%s", tt.subs, diff)
		}
	}
}
