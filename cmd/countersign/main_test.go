package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/csv"
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/countersign/countersign/internal/testdb"
	_ "github.com/jackc/pgx/v5/stdlib" // "pgx" driver, to tamper with the audit log directly
	_ "modernc.org/sqlite"
)

// testKey is the audit key of the stores testdb opens.
const testKey = testdb.AuditKey

// runCLI runs the command line in-process and returns its exit code and
// output streams.
func runCLI(t *testing.T, environ []string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	return runCLIInput(t, environ, "", args...)
}

// runCLIInput is runCLI with stdin.
func runCLIInput(t *testing.T, environ []string, stdin string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	code = run(ctx, env{stdin: strings.NewReader(stdin), stdout: &out, stderr: &errb, environ: environ}, args)
	return code, out.String(), errb.String()
}

func TestUsage(t *testing.T) {
	code, _, stderr := runCLI(t, nil, "frobnicate")
	if code != 2 || !strings.Contains(stderr, `unknown command "frobnicate"`) {
		t.Errorf("unknown command: code %d, stderr %q", code, stderr)
	}
	code, stdout, _ := runCLI(t, nil, "help")
	if code != 0 || !strings.Contains(stdout, "audit verify") || !strings.Contains(stdout, "config check") {
		t.Errorf("help: code %d, stdout %q", code, stdout)
	}
	code, stdout, _ = runCLI(t, nil, "version")
	if code != 0 || !strings.HasPrefix(stdout, "countersign ") {
		t.Errorf("version: code %d, stdout %q", code, stdout)
	}
	code, _, stderr = runCLI(t, nil, "audit", "export", "--format", "xml")
	if code != 2 || !strings.Contains(stderr, "xml") {
		t.Errorf("bad format: code %d, stderr %q", code, stderr)
	}
}

func TestConfigCheckRedactsSecrets(t *testing.T) {
	environ := []string{
		"COUNTERSIGN_AUDIT_KEY=" + testKey,
		"COUNTERSIGN_STORE_URL=postgres://app:hunter2-secret@db.example/countersign",
	}
	code, stdout, stderr := runCLI(t, environ, "config", "check")
	if code != 0 {
		t.Fatalf("config check: code %d, stderr %q", code, stderr)
	}
	for _, secret := range []string{testKey, "hunter2-secret"} {
		if strings.Contains(stdout+stderr, secret) {
			t.Errorf("config check printed the secret %q:\n%s", secret, stdout)
		}
	}
	if !strings.Contains(stdout, "REDACTED") || !strings.Contains(stdout, "db.example") {
		t.Errorf("config check output lacks the redacted store URL:\n%s", stdout)
	}

	code, _, stderr = runCLI(t, []string{"COUNTERSIGN_AUDIT_KEY=" + testKey, "COUNTERSIGN_POLICY_APPROVALS_REQUIRED=0"}, "config", "check")
	if code != 1 || !strings.Contains(stderr, "approvals_required") {
		t.Errorf("invalid config: code %d, stderr %q", code, stderr)
	}
}

// TestPlaceholdersRefusedAtStart: config check and serve both refuse a
// placeholder secret and a chat API URL over plain http, naming the keys,
// before anything else happens.
func TestPlaceholdersRefusedAtStart(t *testing.T) {
	environ := []string{
		"COUNTERSIGN_AUDIT_KEY=CHANGE-ME-the-output-of-openssl-rand-base64-32",
		"COUNTERSIGN_STORE_URL=sqlite:" + t.TempDir() + "/cs.db",
		"COUNTERSIGN_DISCORD_API_URL=http://discord.example/api/v10",
	}
	for _, args := range [][]string{{"config", "check"}, {"serve", "--migrate=false"}} {
		code, _, stderr := runCLI(t, environ, args...)
		if code != 1 {
			t.Errorf("%s: code %d, want 1; stderr %q", args[0], code, stderr)
		}
		for _, want := range []string{`audit.key: is a placeholder ("change-me")`,
			`discord.api_url: "http://discord.example/api/v10": plain http is allowed only for loopback hosts`} {
			if !strings.Contains(stderr, want) {
				t.Errorf("%s: stderr %q does not say %q", args[0], stderr, want)
			}
		}
	}
}

// TestAuditCommands migrates a database, writes audit entries, verifies and
// exports them, then tampers with one row and expects verify to name it.
func TestAuditCommands(t *testing.T) {
	testdb.Each(t, func(t *testing.T, url string) {
		environ := []string{"COUNTERSIGN_AUDIT_KEY=" + testKey, "COUNTERSIGN_STORE_URL=" + url}

		code, _, stderr := runCLI(t, environ, "audit", "verify")
		if code != 1 || !strings.Contains(stderr, "countersign migrate") {
			t.Errorf("verify before migrate: code %d, stderr %q", code, stderr)
		}
		if code, _, stderr := runCLI(t, environ, "migrate"); code != 0 {
			t.Fatalf("migrate: code %d, stderr %q", code, stderr)
		}
		// Migrating twice is a no-op.
		if code, _, stderr := runCLI(t, environ, "migrate"); code != 0 {
			t.Fatalf("second migrate: code %d, stderr %q", code, stderr)
		}
		appendEntries(t, url, 5)

		code, stdout, stderr := runCLI(t, environ, "audit", "verify")
		if code != 0 || !strings.Contains(stdout, "5 entries verified") {
			t.Fatalf("verify: code %d, stdout %q, stderr %q", code, stdout, stderr)
		}

		code, stdout, stderr = runCLI(t, environ, "audit", "export", "--format", "jsonl")
		if code != 0 {
			t.Fatalf("export jsonl: code %d, stderr %q", code, stderr)
		}
		lines := strings.Split(strings.TrimSpace(stdout), "\n")
		if len(lines) != 5 {
			t.Fatalf("export jsonl: got %d lines, want 5:\n%s", len(lines), stdout)
		}
		var first map[string]any
		if err := json.Unmarshal([]byte(lines[0]), &first); err != nil {
			t.Fatalf("export jsonl line 1: %v", err)
		}
		code, stdout, _ = runCLI(t, environ, "audit", "export", "--format", "csv", "--since", "1h")
		if code != 0 {
			t.Fatalf("export csv: code %d", code)
		}
		rows, err := csv.NewReader(strings.NewReader(stdout)).ReadAll()
		if err != nil || len(rows) != 6 {
			t.Fatalf("export csv: %d rows (want header + 5), err %v", len(rows), err)
		}

		tamper(t, url, 3)
		code, _, stderr = runCLI(t, environ, "audit", "verify")
		if code != 1 || !strings.Contains(stderr, "BROKEN at entry 3") {
			t.Errorf("verify after tampering: code %d, stderr %q", code, stderr)
		}
	})
}

// appendEntries writes n audit entries through the store.
func appendEntries(t *testing.T, url string, n int) {
	t.Helper()
	ctx := context.Background()
	st := testdb.Open(t, url)
	for i := range n {
		if err := st.AppendAudit(ctx, time.Now(), int64(i+1), "test", "alice", map[string]int{"i": i}); err != nil {
			t.Fatal(err)
		}
	}
}

// tamper rewrites the detail of audit entry seq directly in the database,
// as someone with database access could, dropping the append-only guards.
func tamper(t *testing.T, url string, seq int) {
	t.Helper()
	driver, dsn, stmts := "pgx", url, []string{
		"DROP TRIGGER audit_log_no_change ON audit_log",
		"UPDATE audit_log SET detail = '{\"i\":99}' WHERE seq = 3",
	}
	if path, ok := strings.CutPrefix(url, "sqlite:"); ok {
		driver, dsn = "sqlite", path
		stmts[0] = "DROP TRIGGER audit_log_no_update"
	}
	stmts[1] = strings.Replace(stmts[1], "seq = 3", "seq = "+strconv.Itoa(seq), 1)
	db, err := sql.Open(driver, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, q := range stmts {
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
}
