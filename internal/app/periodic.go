package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/countersign/countersign/bot/chat"
	"github.com/countersign/countersign/internal/audit"
	"github.com/countersign/countersign/internal/digest"
	"github.com/countersign/countersign/internal/engine"
	"github.com/countersign/countersign/internal/store"
)

// periodic returns the leader's jobs besides the expiry sweep: the digest,
// when a platform has a digest channel, and the audit checkpoints.
func (s *System) periodic(now func() time.Time) ([]engine.Periodic, error) {
	var jobs []engine.Periodic
	if post, ok := DigestPoster(s.Platforms); ok {
		loc, err := time.LoadLocation(s.Config.Digest.Timezone)
		if err != nil {
			return nil, fmt.Errorf("digest.timezone: %w", err)
		}
		jobs = append(jobs, engine.Periodic{
			Name: "digest", Schedule: s.Config.Digest.Schedule, Location: loc,
			Run: digest.Job(digest.JobConfig{Source: s.Store, Post: post, Location: loc, Logger: s.Log.With("periodic", "digest"),
				Posted: func(ctx context.Context, d digest.Digest) error { return AuditDigest(ctx, s.Store, d) }}),
		})
	}
	if f := s.Config.Audit.CheckpointFile; f != "" {
		// Fail at start-up, not at the first checkpoint, when the file
		// cannot be written.
		file, err := openCheckpointFile(f)
		if err != nil {
			return nil, err
		}
		file.Close()
	}
	return append(jobs, CheckpointJob(s.Log, s.Store, s.Config.Audit.CheckpointFile, now)), nil
}

// DigestPoster returns a function that posts a digest to every platform's
// digest channel, trying them all and reporting every failure, and whether
// any platform has one.
func DigestPoster(ps []Platform) (func(ctx context.Context, m chat.Message) error, bool) {
	var targets []Platform
	for _, p := range ps {
		if p.Digest != "" {
			targets = append(targets, p)
		}
	}
	post := func(ctx context.Context, m chat.Message) error {
		var errs []error
		for _, p := range targets {
			if _, err := p.Chat.Post(ctx, p.Digest, m); err != nil {
				errs = append(errs, fmt.Errorf("posting the digest to %s: %w", p.Name, err))
			}
		}
		return errors.Join(errs...)
	}
	return post, len(targets) > 0
}

// AuditDigest records a posted digest in the audit log, so the auditor can
// see which windows were reported and when.
func AuditDigest(ctx context.Context, st *store.Store, d digest.Digest) error {
	return st.AppendAudit(ctx, time.Now(), 0, "digest_posted", "system", map[string]any{
		"from": d.From, "to": d.To, "after_seq": d.AfterSeq, "through_seq": d.ThroughSeq, "late": d.Late,
		"requests": d.Total, "problems": len(d.Problems), "pending": len(d.Pending),
	})
}

// checkpointSchedule is how often the leader signs a checkpoint of the
// audit chain. An entry is pinned by the first checkpoint after it, so this
// is how long a new entry stays open to a rewrite that checkpoints reveal;
// a run costs one read of the head and, when it moved, one log line.
const checkpointSchedule = "@every 5m"

// CheckpointJob returns the leader's periodic job that signs the audit
// head at now (nil: time.Now), logs the checkpoint and appends it to file
// (audit.checkpoint_file) when that is set. A periodic job, rather than a
// timer per replica, so that replicas do not log the same checkpoint
// several times. A head that has not moved since this process's last
// checkpoint is not signed again; an empty chain is never signed.
func CheckpointJob(log *slog.Logger, st *store.Store, file string, now func() time.Time) engine.Periodic {
	if now == nil {
		now = time.Now
	}
	var mu sync.Mutex // runs of two slots may overlap
	var last int64
	return engine.Periodic{Name: "audit_checkpoint", Schedule: checkpointSchedule, Run: func(ctx context.Context, _ engine.PeriodicRun) (int64, error) {
		mu.Lock()
		defer mu.Unlock()
		cp, err := st.AuditCheckpoint(ctx, now())
		if err != nil {
			return 0, err
		}
		if cp.Seq == last {
			return 0, nil
		}
		// The file first: once the line is logged, the checkpoint is stored.
		if file != "" {
			if err := appendCheckpoint(file, cp); err != nil {
				return 0, err
			}
		}
		log.InfoContext(ctx, audit.CheckpointMessage, cp.LogAttrs()...)
		last = cp.Seq
		return 0, nil
	}}
}

// openCheckpointFile opens audit.checkpoint_file for appending, creating
// it. Checkpoints hold no secret: the file may be world-readable.
func openCheckpointFile(file string) (*os.File, error) {
	f, err := os.OpenFile(file, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("audit.checkpoint_file: %w", err)
	}
	return f, nil
}

// appendCheckpoint writes cp as one JSON line, in one write, and syncs it.
func appendCheckpoint(file string, cp audit.Checkpoint) error {
	line, err := json.Marshal(cp)
	if err != nil {
		return fmt.Errorf("encoding checkpoint: %w", err)
	}
	f, err := openCheckpointFile(file)
	if err != nil {
		return err
	}
	_, err = f.Write(append(line, '\n'))
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("audit.checkpoint_file: %w", err)
	}
	return nil
}
