package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/countersign/countersign/internal/audit"
)

// runAuditVerify checks the whole audit chain. A broken chain exits 1 and
// names the first bad sequence number.
func runAuditVerify(ctx context.Context, e env, args []string) error {
	fs := newFlags("audit verify", e)
	path := configFlag(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
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
	n, err := st.VerifyAudit(ctx)
	var broken *audit.BreakError
	if errors.As(err, &broken) {
		return exitError{code: 1, msg: fmt.Sprintf("audit chain BROKEN at entry %d: %s (%d entries before it verified)", broken.Seq, broken.Reason, n)}
	}
	if err != nil {
		return fmt.Errorf("verifying audit log: %w", err)
	}
	fmt.Fprintf(e.stdout, "audit chain OK: %d entries verified\n", n)
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
