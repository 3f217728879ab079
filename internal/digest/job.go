package digest

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/countersign/countersign/bot/chat"
)

// JobConfig configures the digest's periodic job.
type JobConfig struct {
	// Source is where requests are read; *store.Store implements it.
	Source Source
	// Post posts the digest message to the digest channel(s). An error
	// fails the run, and the next slot's digest covers this window too.
	Post func(ctx context.Context, m chat.Message) error
	// Location is the time zone of the digest's days and times; nil
	// means UTC.
	Location *time.Location
	// Logger receives one line per run; nil discards.
	Logger *slog.Logger
	// Posted, when set, is told of each digest after it was posted, to
	// record it in the audit log; its error fails the run.
	Posted func(ctx context.Context, d Digest) error
}

// settleTime is how long after its end a window is read: River starts a
// periodic job up to 100 ms before its slot, and a request stamped just
// before the slot may still be committing.
const settleTime = 250 * time.Millisecond

// settle waits until slot+settleTime has passed on the wall clock, which
// River's schedules also use.
func settle(ctx context.Context, slot time.Time) error {
	wait := time.Until(slot.Add(settleTime))
	if wait <= 0 {
		return nil
	}
	timer := time.NewTimer(wait)
	defer timer.Stop()
	select {
	case <-timer.C:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("waiting for the digest window to end: %w", context.Cause(ctx))
	}
}

// Job returns the Run func of the "digest" engine.Periodic: it builds the
// digest of [previous, slot) and posts it, also when nothing happened, so
// the channel shows that every slot ran. It reads the window once it has
// ended (plus settleTime), as River may start the run a little early. The engine runs it at most once per
// slot and passes the last completed slot as previous, so windows chain
// without gaps even across failed runs and failovers.
func Job(cfg JobConfig) func(ctx context.Context, slot, previous time.Time) error {
	log := cmp.Or(cfg.Logger, slog.New(slog.NewTextHandler(io.Discard, nil)))
	return func(ctx context.Context, slot, previous time.Time) error {
		if cfg.Source == nil || cfg.Post == nil {
			return errors.New("digest: JobConfig needs a Source and a Post")
		}
		if err := settle(ctx, slot); err != nil {
			return err
		}
		d, err := Build(ctx, cfg.Source, previous, slot, cfg.Location)
		if err != nil {
			return fmt.Errorf("building digest: %w", err)
		}
		if err := cfg.Post(ctx, d.Message()); err != nil {
			return fmt.Errorf("posting digest of %s – %s: %w", previous.Format(time.RFC3339), slot.Format(time.RFC3339), err)
		}
		log.InfoContext(ctx, "digest posted", "from", previous, "to", slot, "requests", d.Total,
			"problems", len(d.Problems), "pending", len(d.Pending))
		if cfg.Posted != nil {
			if err := cfg.Posted(ctx, d); err != nil {
				return fmt.Errorf("recording the digest of %s – %s: %w", previous.Format(time.RFC3339), slot.Format(time.RFC3339), err)
			}
		}
		return nil
	}
}
