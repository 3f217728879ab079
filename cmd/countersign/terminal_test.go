package main

import (
	"bytes"
	"context"
	"io"
	"strings"
	"sync"
	"testing"
	"time"
)

// promptWriter collects what the demo writes and says on prompted when a
// prompt appears.
type promptWriter struct {
	mu       sync.Mutex
	buf      bytes.Buffer
	prompted chan struct{}
}

func (w *promptWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(p)
	if bytes.Contains(p, []byte("> ")) {
		select {
		case w.prompted <- struct{}{}:
		default:
		}
	}
	return len(p), nil
}

func (w *promptWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}

// TestDemoTerminal types into the demo on a line-editing terminal (the
// real library, on a pipe instead of a tty): backspace edits the line, the
// up arrow recalls earlier lines, and Ctrl-C ends the demo at once with a
// word.
func TestDemoTerminal(t *testing.T) {
	in, typing := io.Pipe()
	t.Cleanup(func() { typing.Close() })
	out := &promptWriter{prompted: make(chan struct{}, 1)}
	e := env{stdin: strings.NewReader(""), stdout: io.Discard, stderr: io.Discard,
		terminal: func() (io.ReadWriter, func(), error) {
			return struct {
				io.Reader
				io.Writer
			}{in, out}, func() {}, nil
		}}
	go func() {
		// Typing ends with Ctrl-C while the pipe stays open, so only
		// Ctrl-C can end the demo.
		io.WriteString(typing, "/as carolx\x7f\r/as bob\r\x1b[A\x1b[A\r\x03") //nolint:errcheck // the test fails below if it does not arrive
	}()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if code := run(ctx, e, []string{"demo"}); code != 0 {
		t.Fatalf("demo exited %d:\n%s", code, out)
	}
	got := out.String()
	for _, tc := range []struct {
		want     string
		min, max int
	}{
		{"You are now carol.", 2, 2}, // typed with a backspace, then recalled with ↑↑
		{"You are now bob.", 1, 1},
		{"Demo ended", 1, 1},
		{"\r\n", 10, 1000}, // the terminal writes raw-mode line ends
	} {
		if n := strings.Count(got, tc.want); n < tc.min || n > tc.max {
			t.Errorf("%q appears %d times, want %d to %d; output:\n%s", tc.want, n, tc.min, tc.max, got)
		}
	}
	if !strings.HasSuffix(got, "are gone.\r\n") {
		t.Errorf("the demo's last words are not last (a prompt drawn after them?):\n%q", got[max(0, len(got)-120):])
	}
}

// TestDemoInterrupt: on a pipe, an interrupt (ctx) ends the demo while it
// waits for a line, not at the next Enter, and says so.
func TestDemoInterrupt(t *testing.T) {
	in, typing := io.Pipe()
	t.Cleanup(func() { typing.Close() })
	out := &promptWriter{prompted: make(chan struct{}, 1)}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	interrupted, interrupt := context.WithCancel(ctx)
	done := make(chan int)
	go func() { done <- run(interrupted, env{stdin: in, stdout: out, stderr: out}, []string{"demo"}) }()
	select {
	case <-out.prompted:
	case <-ctx.Done():
		t.Fatalf("no prompt:\n%s", out)
	}
	interrupt()
	select {
	case code := <-done:
		if code != 0 || !strings.Contains(out.String(), "Demo ended") {
			t.Errorf("interrupted demo: code %d, output:\n%s\nwant 0 and a word", code, out)
		}
	case <-ctx.Done():
		t.Fatal("the demo did not end on an interrupt")
	}
}
