// Package adaptertest helps test chat adapters: a bot.Handler that records
// the events an adapter hands it, and a way to run an adapter that opens
// its own connection (Slack's Socket Mode, Discord's Gateway) for the
// length of a test.
package adaptertest

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/countersign/countersign/bot"
	"github.com/countersign/countersign/bot/chat"
)

// Recorder is a bot.Handler that records every event and answers it with
// the function the test set for its kind. Without one, a command is
// answered with the message "ok", a click or a submit with an empty
// response. Set the functions before the events they answer are sent.
type Recorder struct {
	OnCommand func(bot.Command) bot.Response
	OnClick   func(bot.Click) bot.Response
	OnSubmit  func(bot.Submit) bot.Response

	mu       sync.Mutex
	commands []bot.Command
	clicks   []bot.Click
	submits  []bot.Submit
}

// record appends e to events and returns the answer of the function answer
// points to, or otherwise the default.
func record[E any](r *Recorder, events *[]E, e E, answer *func(E) bot.Response, otherwise bot.Response) bot.Response {
	r.mu.Lock()
	*events = append(*events, e)
	f := *answer
	r.mu.Unlock()
	if f == nil {
		return otherwise
	}
	return f(e)
}

// Command implements bot.Handler.
func (r *Recorder) Command(_ context.Context, c bot.Command) bot.Response {
	return record(r, &r.commands, c, &r.OnCommand, bot.Response{Message: &chat.Message{Text: "ok"}})
}

// Click implements bot.Handler.
func (r *Recorder) Click(_ context.Context, c bot.Click) bot.Response {
	return record(r, &r.clicks, c, &r.OnClick, bot.Response{})
}

// Submit implements bot.Handler.
func (r *Recorder) Submit(_ context.Context, s bot.Submit) bot.Response {
	return record(r, &r.submits, s, &r.OnSubmit, bot.Response{})
}

// Commands returns the commands received so far.
func (r *Recorder) Commands() []bot.Command {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]bot.Command(nil), r.commands...)
}

// Clicks returns the clicks received so far.
func (r *Recorder) Clicks() []bot.Click {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]bot.Click(nil), r.clicks...)
}

// Submits returns the dialog submissions received so far.
func (r *Recorder) Submits() []bot.Submit {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]bot.Submit(nil), r.submits...)
}

// Calls returns how many events of any kind reached the recorder.
func (r *Recorder) Calls() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.commands) + len(r.clicks) + len(r.submits)
}

// Runner is an adapter that receives events over a connection it opens
// itself.
type Runner interface {
	Run(ctx context.Context, h bot.Handler) error
}

// stopWithin bounds how long Run waits for an adapter to stop.
const stopWithin = 10 * time.Second

// Run runs a with h until the test ends. Then it cancels a's context and
// fails the test if a's Run returned an error or did not return within
// ten seconds.
func Run(t testing.TB, a Runner, h bot.Handler) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx, h) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("%T.Run: %v", a, err)
			}
		case <-time.After(stopWithin):
			t.Errorf("%T.Run did not return within %v of being cancelled", a, stopWithin)
		}
	})
}
