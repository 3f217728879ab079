package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/countersign/countersign/internal/audit"
)

// auditVerifyFlags: audit verify checks the whole audit chain, and with
// --checkpoint that it still holds every checkpoint in a file. A broken
// chain or a forged checkpoint exits 1 and names the first bad sequence
// number or line.
func auditVerifyFlags(fs *flag.FlagSet) command {
	cpFile := fs.String("checkpoint", "", "also check the checkpoints in this file (audit.checkpoint_file, or serve's log lines; - reads stdin)")
	return command{run: func(ctx context.Context, c *call) error {
		var cps []audit.Checkpoint
		if *cpFile != "" {
			var err error
			if cps, err = readCheckpoints(c.env, *cpFile, []byte(c.cfg.Audit.Key)); err != nil {
				return err
			}
		}
		n, err := c.st.VerifyAudit(ctx, cps...)
		var broken *audit.BreakError
		if errors.As(err, &broken) {
			return exitError{code: 1, msg: fmt.Sprintf("audit chain BROKEN at entry %d: %s (%d entries before it verified)", broken.Seq, broken.Reason, n)}
		}
		if err != nil {
			return fmt.Errorf("verifying audit log: %w", err)
		}
		fmt.Fprintf(c.stdout, "audit chain OK: %d entries verified\n", n)
		if len(cps) > 0 {
			latest := cps[0]
			for _, cp := range cps {
				if cp.Seq > latest.Seq {
					latest = cp
				}
			}
			fmt.Fprintf(c.stdout, "holds all %d checkpoints (latest: entry %d at %s)\n", len(cps), latest.Seq, latest.At.Format(time.RFC3339))
		}
		return nil
	}}
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

// auditExportFlags: audit export writes audit entries, oldest first, as
// JSON lines or CSV.
func auditExportFlags(fs *flag.FlagSet) command {
	format := fs.String("format", "jsonl", "output format: jsonl or csv")
	since := durationFlag(fs, "since", 0, "only entries from this long ago: a `duration` such as 24h or 30d (default: all)")
	var w audit.Writer
	return command{
		check: func(e env) error {
			if *since < 0 {
				return fmt.Errorf("%w: --since must not be negative", errUsage)
			}
			var err error
			if w, err = audit.NewWriter(e.stdout, *format); err != nil {
				return fmt.Errorf("%w: %v", errUsage, err)
			}
			return nil
		},
		run: func(ctx context.Context, c *call) error {
			var from time.Time
			if *since > 0 {
				from = time.Now().Add(-*since)
			}
			if err := c.st.Audit(ctx, from, w.Write); err != nil {
				return fmt.Errorf("exporting audit log: %w", err)
			}
			return w.Flush()
		},
	}
}
