package store_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/countersign/countersign/internal/audit"
	"github.com/countersign/countersign/internal/store"
	"github.com/countersign/countersign/internal/testdb"
)

// raw runs SQL directly, as someone with database access (not Countersign)
// would.
func raw(t *testing.T, url string, stmts ...string) {
	t.Helper()
	ctx := context.Background()
	if path, ok := strings.CutPrefix(url, "sqlite:"); ok {
		db, err := sql.Open("sqlite", path)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		for _, q := range stmts {
			if _, err := db.ExecContext(ctx, q); err != nil {
				t.Fatalf("%s: %v", q, err)
			}
		}
		return
	}
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	for _, q := range stmts {
		if _, err := conn.Exec(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
}

func dropGuards(url string) string {
	if strings.HasPrefix(url, "sqlite:") {
		return "DROP TRIGGER audit_log_no_update; DROP TRIGGER audit_log_no_delete"
	}
	return "DROP TRIGGER audit_log_no_change ON audit_log"
}

// seedChain files and approves requests until the chain has 10 entries.
func seedChain(t *testing.T, s *store.Store) {
	t.Helper()
	ctx := context.Background()
	for i := range 5 {
		r := file(t, s, testPolicy(1), fmt.Sprintf("user%d@contoso.com", i), t0)
		if _, err := s.Apply(ctx, r.ID, approve("bob", r.Hash), t0); err != nil {
			t.Fatal(err)
		}
	}
	if n, err := s.VerifyAudit(ctx); n != 10 || err != nil {
		t.Fatalf("VerifyAudit of the untouched chain = %d, %v; want 10, nil", n, err)
	}
}

func TestAuditVerifyDetectsTampering(t *testing.T) {
	// Each case is what an attacker with database access does after dropping
	// the append-only triggers; wantSeq is the first bad entry verify names.
	cases := []struct {
		name    string
		stmts   []string
		wantSeq int64
	}{
		{"modified detail", []string{`UPDATE audit_log SET detail = '{"to":"denied"}' WHERE seq = 5`}, 5},
		{"modified actor", []string{`UPDATE audit_log SET actor = 'mallory' WHERE seq = 2`}, 2},
		{"modified first", []string{`UPDATE audit_log SET kind = 'cancel' WHERE seq = 1`}, 1},
		{"deleted middle", []string{`DELETE FROM audit_log WHERE seq = 6`}, 6},
		{"deleted first", []string{`DELETE FROM audit_log WHERE seq = 1`}, 1},
		{"deleted last", []string{`DELETE FROM audit_log WHERE seq = 10`}, 10},
		{"deleted last and head rewound", []string{
			`DELETE FROM audit_log WHERE seq = 10`,
			`UPDATE audit_head SET seq = 9, hash = 'forged'`,
		}, 9},
		{"inserted middle", []string{
			`UPDATE audit_log SET seq = seq + 100 WHERE seq >= 4`,
			`UPDATE audit_log SET seq = seq - 99 WHERE seq >= 104`,
			`INSERT INTO audit_log (seq, at, request_id, kind, actor, detail, prev_hash, hash)
				SELECT 4, at, request_id, 'approve', 'mallory', detail, prev_hash, hash FROM audit_log WHERE seq = 5`,
		}, 4},
		{"appended at end", []string{
			`INSERT INTO audit_log (seq, at, request_id, kind, actor, detail, prev_hash, hash)
				SELECT 11, at, request_id, kind, actor, detail, hash, hash FROM audit_log WHERE seq = 10`,
			`UPDATE audit_head SET seq = 11`,
		}, 11},
		{"reordered", []string{
			`UPDATE audit_log SET seq = 1000 WHERE seq = 3`,
			`UPDATE audit_log SET seq = 3 WHERE seq = 7`,
			`UPDATE audit_log SET seq = 7 WHERE seq = 1000`,
		}, 3},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			testdb.Each(t, func(t *testing.T, url string) {
				s := open(t, url)
				seedChain(t, s)
				raw(t, url, append(strings.Split(dropGuards(url), "; "), tc.stmts...)...)
				_, err := s.VerifyAudit(context.Background())
				var be *audit.BreakError
				if !errors.As(err, &be) {
					t.Fatalf("VerifyAudit error = %v, want *audit.BreakError", err)
				}
				if be.Seq != tc.wantSeq {
					t.Fatalf("first bad sequence = %d (%v), want %d", be.Seq, err, tc.wantSeq)
				}
			})
		})
	}
}

func TestAuditLogIsAppendOnly(t *testing.T) {
	testdb.Each(t, func(t *testing.T, url string) {
		s := open(t, url)
		seedChain(t, s)
		for _, q := range []string{`UPDATE audit_log SET actor = 'x' WHERE seq = 1`, `DELETE FROM audit_log WHERE seq = 1`} {
			if err := tryRaw(url, q); err == nil || !strings.Contains(err.Error(), "append-only") {
				t.Errorf("%s: got %v, want the append-only trigger to refuse it", q, err)
			}
		}
	})
}

func tryRaw(url, q string) error {
	ctx := context.Background()
	if path, ok := strings.CutPrefix(url, "sqlite:"); ok {
		db, err := sql.Open("sqlite", path)
		if err != nil {
			return err
		}
		defer db.Close()
		_, err = db.ExecContext(ctx, q)
		return err
	}
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, q)
	return err
}

const (
	envAppendURL   = "COUNTERSIGN_TEST_APPEND_URL"
	envAppendCount = "COUNTERSIGN_TEST_APPEND_COUNT"
)

// TestMain doubles as the child process of TestAuditAppendsFromTwoProcesses.
func TestMain(m *testing.M) {
	if url := os.Getenv(envAppendURL); url != "" {
		if err := appendProcess(url); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// appendProcess appends entries once the parent closes stdin.
func appendProcess(url string) error {
	n, err := strconv.Atoi(os.Getenv(envAppendCount))
	if err != nil {
		return err
	}
	ctx := context.Background()
	s, err := store.Open(ctx, url, store.Options{AuditKey: testKey})
	if err != nil {
		return err
	}
	defer s.Close()
	if _, err := io.Copy(io.Discard, os.Stdin); err != nil { // the start signal
		return err
	}
	for i := range n {
		if err := s.AppendAudit(ctx, t0, 0, "test", "process-"+strconv.Itoa(os.Getpid()), map[string]int{"i": i}); err != nil {
			return fmt.Errorf("append %d: %w", i, err)
		}
	}
	return nil
}

func TestAuditAppendsFromTwoProcesses(t *testing.T) {
	const perProcess = 800
	testdb.Each(t, func(t *testing.T, url string) {
		s := open(t, url)
		var wg sync.WaitGroup
		var starts []io.WriteCloser
		errs := make([]error, 2)
		outs := make([][]byte, 2)
		for i := range 2 {
			cmd := exec.Command(os.Args[0])
			cmd.Env = append(os.Environ(), envAppendURL+"="+url, envAppendCount+"="+strconv.Itoa(perProcess))
			stdin, err := cmd.StdinPipe()
			if err != nil {
				t.Fatal(err)
			}
			var out strings.Builder
			cmd.Stdout, cmd.Stderr = &out, &out
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			starts = append(starts, stdin)
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs[i] = cmd.Wait()
				outs[i] = []byte(out.String())
			}()
		}
		for _, w := range starts { // both start appending at once
			w.Close()
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Fatalf("process %d: %v\n%s", i, err, outs[i])
			}
		}
		n, err := s.VerifyAudit(context.Background())
		if err != nil || n != 2*perProcess {
			t.Fatalf("VerifyAudit = %d, %v; want %d entries, no error", n, err, 2*perProcess)
		}
		writers := map[string]int{}
		if err := s.Audit(context.Background(), t0.Add(-1), func(e audit.Entry) error { writers[e.Actor]++; return nil }); err != nil {
			t.Fatal(err)
		}
		if len(writers) != 2 {
			t.Fatalf("entries by writer = %v, want two processes with %d each", writers, perProcess)
		}
	})
}
