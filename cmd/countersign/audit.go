package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/countersign/countersign/internal/audit"
	"github.com/countersign/countersign/internal/engine"
	"github.com/countersign/countersign/internal/store"
)

// runAuditVerify checks the whole audit chain, and with --checkpoint that
// it still holds every checkpoint in a file. A broken chain or a forged
// checkpoint exits 1 and names the first bad sequence number or line.
func runAuditVerify(ctx context.Context, e env, args []string) error {
	fs := newFlags("audit verify", e)
	path := configFlag(fs)
	cpFile := fs.String("checkpoint", "", "also check the checkpoints in this file (audit.checkpoint_file, or serve's log lines; - reads stdin)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	cfg, err := loadConfig(*path, e)
	if err != nil {
		return err
	}
	var cps []audit.Checkpoint
	if *cpFile != "" {
		if cps, err = readCheckpoints(e, *cpFile, []byte(cfg.Audit.Key)); err != nil {
			return err
		}
	}
	st, err := openCurrentStore(ctx, cfg, newLogger(cfg, e.stderr))
	if err != nil {
		return err
	}
	defer st.Close()
	n, err := st.VerifyAudit(ctx, cps...)
	var broken *audit.BreakError
	if errors.As(err, &broken) {
		return exitError{code: 1, msg: fmt.Sprintf("audit chain BROKEN at entry %d: %s (%d entries before it verified)", broken.Seq, broken.Reason, n)}
	}
	if err != nil {
		return fmt.Errorf("verifying audit log: %w", err)
	}
	fmt.Fprintf(e.stdout, "audit chain OK: %d entries verified\n", n)
	if len(cps) > 0 {
		latest := cps[0]
		for _, cp := range cps {
			if cp.Seq > latest.Seq {
				latest = cp
			}
		}
		fmt.Fprintf(e.stdout, "holds all %d checkpoints (latest: entry %d at %s)\n", len(cps), latest.Seq, latest.At.Format(time.RFC3339))
	}
	return nil
}

// readCheckpoints reads and authenticates the checkpoints in file, or
// stdin for "-". A forged one exits 1.
func readCheckpoints(e env, file string, key []byte) ([]audit.Checkpoint, error) {
	r := e.stdin
	if file != "-" {
		f, err := os.Open(file)
		if err != nil {
			return nil, fmt.Errorf("reading checkpoints: %w", err)
		}
		defer f.Close()
		r = f
	}
	cps, err := audit.ReadCheckpoints(r, key)
	if errors.Is(err, audit.ErrForgedCheckpoint) {
		return nil, exitError{code: 1, msg: fmt.Sprintf("%s: %v", file, err)}
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	return cps, nil
}

// checkpointSchedule is how often serve signs a checkpoint of the audit
// chain. An entry is pinned by the first checkpoint after it, so this is
// how long a new entry stays open to a rewrite that checkpoints reveal; a
// run costs one read of the head and, when it moved, one log line.
const checkpointSchedule = "@every 5m"

// checkpointJob returns the leader's periodic job that signs the audit
// head, logs the checkpoint and appends it to file (audit.checkpoint_file)
// when that is set. A periodic job, rather than a timer per replica, so
// that replicas do not log the same checkpoint several times. A head that
// has not moved since this process's last checkpoint is not signed again;
// an empty chain is never signed.
func checkpointJob(log *slog.Logger, st *store.Store, file string) engine.Periodic {
	var mu sync.Mutex // runs of two slots may overlap
	var last int64
	return engine.Periodic{Name: "audit_checkpoint", Schedule: checkpointSchedule, Run: func(ctx context.Context, _ engine.PeriodicRun) (int64, error) {
		mu.Lock()
		defer mu.Unlock()
		cp, err := st.AuditCheckpoint(ctx, time.Now())
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

// runAuditExport writes audit entries, oldest first, as JSON lines or CSV.
func runAuditExport(ctx context.Context, e env, args []string) error {
	fs := newFlags("audit export", e)
	path := configFlag(fs)
	format := fs.String("format", "jsonl", "output format: jsonl or csv")
	since := fs.Duration("since", 0, "only entries from this long ago, e.g. 24h or 720h (default: all)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *since < 0 {
		return fmt.Errorf("%w: --since must not be negative", errUsage)
	}
	w, err := audit.NewWriter(e.stdout, *format)
	if err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	cfg, err := loadConfig(*path, e)
	if err != nil {
		return err
	}
	st, err := openCurrentStore(ctx, cfg, newLogger(cfg, e.stderr))
	if err != nil {
		return err
	}
	defer st.Close()
	var from time.Time
	if *since > 0 {
		from = time.Now().Add(-*since)
	}
	if err := st.Audit(ctx, from, w.Write); err != nil {
		return fmt.Errorf("exporting audit log: %w", err)
	}
	return w.Flush()
}
