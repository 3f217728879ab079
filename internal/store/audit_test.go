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

	"github.com/countersign/countersign/internal/audit"
	"github.com/countersign/countersign/internal/store"
	"github.com/countersign/countersign/internal/store/storetest"
	"github.com/countersign/countersign/internal/testdb"
)

// raw runs SQL directly, as someone with database access (not Countersign)
// would.
func raw(t *testing.T, url string, stmts ...string) {
	t.Helper()
	for _, q := range stmts {
		if err := testdb.Exec(context.Background(), url, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
}

// dropGuards returns the statements that remove the append-only triggers,
// as someone who owns the database could.
func dropGuards(url string) []string {
	if strings.HasPrefix(url, "sqlite:") {
		var out []string
		for _, name := range []string{"audit_log_no_update", "audit_log_no_delete", "audit_log_extends_head",
			"audit_head_advance_only", "audit_head_no_insert", "audit_head_no_delete"} {
			out = append(out, "DROP TRIGGER "+name)
		}
		return out
	}
	return []string{"ALTER TABLE audit_log DISABLE TRIGGER USER", "ALTER TABLE audit_head DISABLE TRIGGER USER"}
}

// seedChain files and approves requests until the chain has 10 entries.
func seedChain(t *testing.T, s *store.Store) {
	t.Helper()
	ctx := context.Background()
	for i := range 5 {
		r := storetest.File(t, s, storetest.Policy(1), "tmcas", t0, fmt.Sprintf("user%d@contoso.com", i))
		if _, err := s.Apply(ctx, r.ID, storetest.Approval("bob", r.Hash), t0); err != nil {
			t.Fatal(err)
		}
	}
	if n, err := s.VerifyAudit(ctx); n != 10 || err != nil {
		t.Fatalf("VerifyAudit of the untouched chain = %d, %v; want 10, nil", n, err)
	}
}

// tamperCase is one way to tamper with the seeded chain once the guards
// are dropped: tamper may act through the store first and returns the
// statements to run; wantSeq is the first bad entry verify must name.
type tamperCase struct {
	name    string
	tamper  func(t *testing.T, s *store.Store, url string) []string
	wantSeq int64
}

// statements is a tamper that only runs stmts.
func statements(stmts ...string) func(*testing.T, *store.Store, string) []string {
	return func(*testing.T, *store.Store, string) []string { return stmts }
}

// verifyNamesBreak runs each case on a fresh chain of 10 entries in both
// dialects and checks that verify names the first bad entry.
func verifyNamesBreak(t *testing.T, cases []tamperCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			testdb.Each(t, func(t *testing.T, url string) {
				s := open(t, url)
				seedChain(t, s)
				stmts := tc.tamper(t, s, url)
				raw(t, url, append(dropGuards(url), stmts...)...)
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

func TestAuditVerifyDetectsTampering(t *testing.T) {
	// Each case is what an attacker with database access does after dropping
	// the append-only triggers.
	verifyNamesBreak(t, []tamperCase{
		{"modified detail", statements(`UPDATE audit_log SET detail = '{"to":"denied"}' WHERE seq = 5`), 5},
		{"modified actor", statements(`UPDATE audit_log SET actor = 'mallory' WHERE seq = 2`), 2},
		{"modified first", statements(`UPDATE audit_log SET kind = 'cancel' WHERE seq = 1`), 1},
		{"deleted middle", statements(`DELETE FROM audit_log WHERE seq = 6`), 6},
		{"deleted first", statements(`DELETE FROM audit_log WHERE seq = 1`), 1},
		{"deleted last", statements(`DELETE FROM audit_log WHERE seq = 10`), 10},
		{"deleted last and head rewound", statements(
			`DELETE FROM audit_log WHERE seq = 10`,
			`UPDATE audit_head SET seq = 9, hash = 'forged'`,
		), 10},
		{"inserted middle", statements(
			`UPDATE audit_log SET seq = seq + 100 WHERE seq >= 4`,
			`UPDATE audit_log SET seq = seq - 99 WHERE seq >= 104`,
			`INSERT INTO audit_log (seq, at, request_id, kind, actor, detail, prev_hash, hash)
				SELECT 4, at, request_id, 'approve', 'mallory', detail, prev_hash, hash FROM audit_log WHERE seq = 5`,
		), 4},
		{"appended at end", statements(
			`INSERT INTO audit_log (seq, at, request_id, kind, actor, detail, prev_hash, hash)
				SELECT 11, at, request_id, kind, actor, detail, hash, hash FROM audit_log WHERE seq = 10`,
			`UPDATE audit_head SET seq = 11`,
		), 11},
		{"reordered", statements(
			`UPDATE audit_log SET seq = 1000 WHERE seq = 3`,
			`UPDATE audit_log SET seq = 3 WHERE seq = 7`,
			`UPDATE audit_log SET seq = 7 WHERE seq = 1000`,
		), 3},
	})
}

// TestAuditVerifyDetectsTailTruncation removes the newest entries, as
// someone with database access could after dropping the guards, and
// rewrites the head to match what is left. Without the audit key the head's
// MAC cannot follow, so verify names the first entry after the forged head.
func TestAuditVerifyDetectsTailTruncation(t *testing.T) {
	const rewriteHead = `UPDATE audit_head SET seq = (SELECT COALESCE(MAX(seq), 0) FROM audit_log),
		hash = COALESCE((SELECT hash FROM audit_log WHERE seq = (SELECT MAX(seq) FROM audit_log)), '')`
	// truncate deletes the last n entries, then runs head.
	truncate := func(n int, head ...string) func(*testing.T, *store.Store, string) []string {
		return statements(append([]string{fmt.Sprintf(`DELETE FROM audit_log WHERE seq > %d`, 10-n)}, head...)...)
	}
	verifyNamesBreak(t, []tamperCase{
		{"last 1, head rewritten", truncate(1, rewriteHead), 10},
		{"last 3, head rewritten", truncate(3, rewriteHead), 8},
		{"all, head rewritten", truncate(10, rewriteHead), 1},
		{"last 3, head rewritten, mac cleared", truncate(3, rewriteHead, `UPDATE audit_head SET mac = ''`), 8},
		{"all, head rewritten, mac cleared", truncate(10, rewriteHead, `UPDATE audit_head SET mac = ''`), 1},
		{"last 1, head deleted", truncate(1, `DELETE FROM audit_head`), 10},
		{"all, head deleted", truncate(10, `DELETE FROM audit_head`), 1},
		{"none, head deleted", truncate(0, `DELETE FROM audit_head`), 11},
		{"all, head kept", truncate(10), 1},
	})
}

// TestAuditVerifyDetectsHeadRewind moves the head back over entries that
// are still there: to a head forged without the key, and to an authentic
// earlier head replayed from a copy of the database.
func TestAuditVerifyDetectsHeadRewind(t *testing.T) {
	// rewind appends an entry through the store, then moves the head back
	// with the statement to(old) gives for the head before the append.
	rewind := func(to func(old headRow) string) func(*testing.T, *store.Store, string) []string {
		return func(t *testing.T, s *store.Store, url string) []string {
			old := readHeadRow(t, url)
			if err := s.AppendAudit(context.Background(), t0, 0, "test", "system", nil); err != nil {
				t.Fatal(err)
			}
			return []string{to(old)}
		}
	}
	verifyNamesBreak(t, []tamperCase{
		{"forged", rewind(func(headRow) string {
			return `UPDATE audit_head SET seq = 10, hash = (SELECT hash FROM audit_log WHERE seq = 10)`
		}), 11},
		{"replayed", rewind(func(old headRow) string {
			return fmt.Sprintf(`UPDATE audit_head SET seq = %d, hash = '%s', mac = '%s'`, old.seq, old.hash, old.mac)
		}), 11},
	})
}

// TestAuditAppendRefusesForgedHead checks that the store does not build on
// a head rewritten without the key: sealing a new head on top would make
// the rewrite verify.
func TestAuditAppendRefusesForgedHead(t *testing.T) {
	cases := []struct {
		name  string
		stmts []string
		want  error
	}{
		{"tail cut, head rewritten", []string{
			`DELETE FROM audit_log WHERE seq > 7`,
			`UPDATE audit_head SET seq = 7, hash = (SELECT hash FROM audit_log WHERE seq = 7)`,
		}, audit.ErrBroken},
		{"head deleted", []string{`DELETE FROM audit_head`}, audit.ErrNoHead},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			testdb.Each(t, func(t *testing.T, url string) {
				s := open(t, url)
				seedChain(t, s)
				raw(t, url, append(dropGuards(url), tc.stmts...)...)
				before := readHeadRow(t, url)
				err := s.AppendAudit(context.Background(), t0, 0, "test", "system", nil)
				if !errors.Is(err, tc.want) {
					t.Fatalf("AppendAudit on a forged head: got %v, want %v", err, tc.want)
				}
				if after := readHeadRow(t, url); after != before {
					t.Errorf("head after the refused append = %+v, want it unchanged %+v", after, before)
				}
			})
		})
	}
}

// headRow is the audit_head record as stored.
type headRow struct {
	seq       int64
	hash, mac string
}

// readHeadRow reads audit_head directly; the zero value when it is missing.
func readHeadRow(t *testing.T, url string) headRow {
	t.Helper()
	var h headRow
	err := testdb.QueryRow(context.Background(), url, `SELECT seq, hash, mac FROM audit_head`, nil, &h.seq, &h.hash, &h.mac)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		t.Fatalf("reading audit_head: %v", err)
	}
	return h
}

// TestAuditLogIsAppendOnly runs, with the guards in place, what someone
// with database access might try. Each must be refused by a trigger (not
// fail for another reason) and leave the chain intact.
func TestAuditLogIsAppendOnly(t *testing.T) {
	const entryCols = `seq, at, request_id, kind, actor, detail, prev_hash, hash`
	common := []string{
		`UPDATE audit_log SET actor = 'x' WHERE seq = 1`,
		`DELETE FROM audit_log WHERE seq = 10`,
		`DELETE FROM audit_log WHERE seq > 7`,
		`DELETE FROM audit_log`,
		`INSERT INTO audit_log (` + entryCols + `) SELECT 11, at, request_id, kind, actor, detail, prev_hash, hash FROM audit_log WHERE seq = 10`,
		`UPDATE audit_head SET seq = 9, hash = (SELECT hash FROM audit_log WHERE seq = 9)`,
		`UPDATE audit_head SET seq = 11`,
		`UPDATE audit_head SET seq = 0, hash = ''`,
		`UPDATE audit_head SET mac = ''`,
		`DELETE FROM audit_head`,
	}
	only := map[string][]string{
		"sqlite": {
			// REPLACE deletes the row it collides with without firing
			// delete triggers.
			`INSERT OR REPLACE INTO audit_log (` + entryCols + `) SELECT seq, at, request_id, kind, 'mallory', detail, prev_hash, hash FROM audit_log WHERE seq = 1`,
			`REPLACE INTO audit_head (id, seq, hash) VALUES (1, 0, '')`,
		},
		"postgres": {
			`TRUNCATE audit_log`,
			`TRUNCATE audit_head`,
			`TRUNCATE audit_log, audit_head`,
			`INSERT INTO audit_log (` + entryCols + `) SELECT ` + entryCols + ` FROM audit_log WHERE seq = 1 ON CONFLICT (seq) DO UPDATE SET actor = 'mallory'`,
		},
	}
	testdb.Each(t, func(t *testing.T, url string) {
		s := open(t, url)
		seedChain(t, s)
		dialect := "postgres"
		if strings.HasPrefix(url, "sqlite:") {
			dialect = "sqlite"
		}
		for _, q := range append(common, only[dialect]...) {
			if err := testdb.Exec(context.Background(), url, q); err == nil || !strings.Contains(err.Error(), "append-only") {
				t.Errorf("%s: got %v, want an append-only trigger to refuse it", q, err)
			}
		}
		if n, err := s.VerifyAudit(context.Background()); n != 10 || err != nil {
			t.Errorf("VerifyAudit after the refused statements = %d, %v; want 10, nil", n, err)
		}
	})
}

const (
	envAppendURL   = "CS_TEST_APPEND_URL"
	envAppendCount = "CS_TEST_APPEND_COUNT"
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
