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
	"github.com/countersign/countersign/internal/engine"
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

// Job returns the Run func of the "digest" engine.Periodic: it builds the
// digest of the window from the last completed slot to this one and posts
// it, also when nothing happened, so the channel shows that every slot
// ran. The window ends at the audit head read now, which the run returns
// as its mark; the next run's window starts there (see Window), so an
// event committed after this run read the log is in the next digest, and
// windows chain without gaps or overlaps even across failed runs and
// failovers. The first run ever (mark 0) also counts everything recorded
// since the install before its window, as late events, so no slot missed
// after the install loses them; the first run after an upgrade from a
// version without marks covers its own time range only.
func Job(cfg JobConfig) func(ctx context.Context, r engine.PeriodicRun) (int64, error) {
	log := cmp.Or(cfg.Logger, slog.New(slog.NewTextHandler(io.Discard, nil)))
	return func(ctx context.Context, r engine.PeriodicRun) (int64, error) {
		if cfg.Source == nil || cfg.Post == nil {
			return 0, errors.New("digest: JobConfig needs a Source and a Post")
		}
		if err := untilSlot(ctx, r.Slot); err != nil {
			return 0, err
		}
		head, _, err := cfg.Source.AuditHead(ctx)
		if err != nil {
			return 0, fmt.Errorf("reading the audit head: %w", err)
		}
		w := Window{From: r.Previous, To: r.Slot, After: head, Through: head}
		if r.Marked {
			w.After = r.Mark
		}
		d, err := Build(ctx, cfg.Source, w, cfg.Location)
		if err != nil {
			return 0, fmt.Errorf("building digest: %w", err)
		}
		if err := cfg.Post(ctx, d.Message()); err != nil {
			return 0, fmt.Errorf("posting digest of %s – %s: %w", w.From.Format(time.RFC3339), w.To.Format(time.RFC3339), err)
		}
		log.InfoContext(ctx, "digest posted", "from", w.From, "to", w.To, "after_seq", w.After, "through_seq", w.Through,
			"requests", d.Total, "late", d.Late, "problems", len(d.Problems), "pending", len(d.Pending))
		if cfg.Posted != nil {
			if err := cfg.Posted(ctx, d); err != nil {
				return 0, fmt.Errorf("recording the digest of %s – %s: %w", w.From.Format(time.RFC3339), w.To.Format(time.RFC3339), err)
			}
		}
		return head, nil
	}
}

// untilSlot waits until the slot has come: River may start a periodic run
// up to 200 ms early. Correctness does not depend on it, as an event stamped
// before the slot and committed after the head was read is counted by the
// next digest; waiting only keeps such events in their own window.
func untilSlot(ctx context.Context, slot time.Time) error {
	wait := time.Until(slot)
	if wait <= 0 {
		return nil
	}
	timer := time.NewTimer(wait)
	defer timer.Stop()
	select {
	case <-timer.C:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("waiting for the digest's slot: %w", context.Cause(ctx))
	}
}
