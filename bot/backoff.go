package bot

import (
	"context"
	"fmt"
	"log/slog"
	"time"
)

// Backoff is how an adapter waits out its platform's rate limits (HTTP
// 429 with the time to wait). The platform libraries' own retries sleep
// deaf to ctx, so the adapters turn them off and call Do instead.
type Backoff struct {
	// Attempts bounds the runs of one call, the first included.
	Attempts int
	// Min is the least wait, whatever the platform asks; a wait asked for
	// beyond Max fails the call instead of blocking its caller.
	Min, Max time.Duration
	// Limited reports the wait a rate-limit error asks for; ok is false
	// for every other error, which is final.
	Limited func(err error) (wait time.Duration, ok bool)
}

// Do runs call until it succeeds, fails for another reason than a rate
// limit, or has run b.Attempts times, waiting between runs as the platform
// asked. Errors are wrapped with what, which names the platform and call
// ("slack chat.update").
func (b Backoff) Do(ctx context.Context, log *slog.Logger, what string, call func() error) error {
	for attempt := 1; ; attempt++ {
		err := call()
		if err == nil {
			return nil
		}
		wait, limited := b.Limited(err)
		wait = max(wait, b.Min)
		if !limited || wait > b.Max || attempt >= b.Attempts {
			return fmt.Errorf("%s: %w", what, err)
		}
		log.WarnContext(ctx, "rate limited; waiting", "call", what, "retry_after", wait.String(), "attempt", attempt)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("%s: %w", what, ctx.Err())
		case <-t.C:
		}
	}
}
