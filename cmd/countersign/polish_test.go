package main

import (
	"database/sql"
	"strings"
	"testing"
	"time"

	_ "modernc.org/sqlite" // the driver for the broken database below

	"github.com/countersign/countersign/internal/testdb"
)

// TestMigrateSaysWhatItApplied: on an empty database migrate says what it
// applied; on a current one that there was nothing to apply.
func TestMigrateSaysWhatItApplied(t *testing.T) {
	environ := []string{"COUNTERSIGN_STORE_URL=" + testdb.SQLite(t), "COUNTERSIGN_AUDIT_KEY=" + testKey}
	for _, tc := range []struct {
		run       string
		want, not string
	}{
		{"first", "Countersign migrations and", "migrations are current"},
		{"second", "migrations are current: nothing to apply", "applied"},
	} {
		code, out, errOut := runCLI(t, environ, "migrate")
		if code != 0 || !strings.Contains(out, tc.want) || strings.Contains(out, tc.not) {
			t.Errorf("%s migrate: code %d, got %q, want %q and not %q (stderr %q)", tc.run, code, out, tc.want, tc.not, errOut)
		}
	}
}

// TestErrorSaysItsStepOnce: a failing migration check names itself once.
func TestErrorSaysItsStepOnce(t *testing.T) {
	url := testdb.SQLite(t)
	db, err := sql.Open("sqlite", strings.TrimPrefix(url, "sqlite:"))
	if err != nil {
		t.Fatal(err)
	}
	// A goose table the migrator cannot read.
	if _, err := db.Exec(`CREATE TABLE goose_db_version (nonsense TEXT)`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	environ := []string{"COUNTERSIGN_STORE_URL=" + url, "COUNTERSIGN_AUDIT_KEY=" + testKey}
	code, _, errOut := runCLI(t, environ, "audit", "verify")
	if code != 1 || strings.Count(errOut, "checking migrations") != 1 {
		t.Errorf("audit verify on a broken schema: code %d, stderr %q; want 1 and \"checking migrations\" once", code, errOut)
	}
	code, _, errOut = runCLI(t, environ, "migrate")
	if code != 1 || strings.Count(errOut, "migrating:") != 1 {
		t.Errorf("migrate on a broken schema: code %d, stderr %q; want 1 and \"migrating:\" once", code, errOut)
	}
}

func TestParseDuration(t *testing.T) {
	for _, tc := range []struct {
		in      string
		want    time.Duration
		wantErr string
	}{
		{"7d", 7 * 24 * time.Hour, ""},
		{"1d12h", 36 * time.Hour, ""},
		{"90m", 90 * time.Minute, ""},
		{"24h", 24 * time.Hour, ""},
		{"7", 0, `"7" has no unit`},
		{"7x", 0, `"7x" is not a duration`},
		{"1.5d", 0, "days must be a whole number"},
		{"", 0, "empty duration"},
	} {
		got, err := parseDuration(tc.in)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("parseDuration(%q) = %v, %v; want an error with %q", tc.in, got, err, tc.wantErr)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("parseDuration(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
}

// TestDigestSinceDays: --since takes days, and a bad value is one specific
// error, not "parse error" twice.
func TestDigestSinceDays(t *testing.T) {
	url := testdb.SQLite(t)
	testdb.Store(t, url)
	environ := []string{"COUNTERSIGN_STORE_URL=" + url, "COUNTERSIGN_AUDIT_KEY=" + testKey}
	if code, out, errOut := runCLI(t, environ, "digest", "--since", "7d"); code != 0 || !strings.Contains(out, "Countersign digest") {
		t.Fatalf("digest --since 7d: code %d\n%s\n%s", code, out, errOut)
	}
	code, _, errOut := runCLI(t, environ, "digest", "--since", "7x")
	if code != 2 || strings.Contains(errOut, "parse error") || strings.Count(errOut, `"7x"`) != 2 || strings.Count(errOut, "invalid value") != 1 {
		t.Errorf("digest --since 7x: code %d, stderr %q; want 2 and one specific error", code, errOut)
	}
}

// TestDigestJSONEmptyLists: an empty digest has [] lists, never null.
func TestDigestJSONEmptyLists(t *testing.T) {
	url := testdb.SQLite(t)
	testdb.Store(t, url)
	environ := []string{"COUNTERSIGN_STORE_URL=" + url, "COUNTERSIGN_AUDIT_KEY=" + testKey}
	code, out, errOut := runCLI(t, environ, "digest", "--format", "json")
	if code != 0 || strings.Contains(out, "null") || !strings.Contains(out, `"pending": []`) {
		t.Errorf("digest --format json: code %d, stderr %q, got\n%s\nwant [] for every empty list", code, errOut, out)
	}
}

// TestHelpEverywhere: -h lists a group's subcommands, or a command's flags
// and examples, on stdout with exit 0; a group alone is a usage error.
func TestHelpEverywhere(t *testing.T) {
	for _, tc := range []struct {
		args     []string
		code     int
		want     []string
		toStderr bool
	}{
		{[]string{"-h"}, 0, []string{"audit verify", "Examples:", "Exit codes"}, false},
		{[]string{"audit", "-h"}, 0, []string{"audit verify", "audit export"}, false},
		{[]string{"audit", "--help"}, 0, []string{"audit verify", "audit export"}, false},
		{[]string{"config", "-h"}, 0, []string{"config check"}, false},
		{[]string{"audit"}, 2, []string{"audit verify", "audit export"}, true},
		{[]string{"audit", "export", "-h"}, 0, []string{"-format", "-since", "Examples:", "countersign audit export --since 30d"}, false},
		{[]string{"digest", "-h"}, 0, []string{"-since duration", "Examples:", "countersign digest --since 7d"}, false},
		{[]string{"demo", "-h"}, 0, []string{"-script FILE", "Examples:"}, false},
		{[]string{"migrate", "-h"}, 0, []string{"-config", "Examples:"}, false},
		{[]string{"help", "digest"}, 0, []string{"-since duration", "Examples:"}, false},
		{[]string{"help", "audit", "export"}, 0, []string{"-format", "Examples:"}, false},
		{[]string{"help", "audit"}, 0, []string{"audit verify", "audit export"}, false},
		{[]string{"audit", "frob"}, 2, []string{`unknown command "audit frob"`}, true},
	} {
		code, out, errOut := runCLI(t, nil, tc.args...)
		got := out
		if tc.toStderr {
			got = errOut
		}
		if code != tc.code {
			t.Errorf("%v: code %d, want %d (stderr %q)", tc.args, code, tc.code, errOut)
		}
		for _, w := range tc.want {
			if !strings.Contains(got, w) {
				t.Errorf("%v: got\n%s\nwant it to contain %q", tc.args, got, w)
			}
		}
	}
}

// TestExitCodes: 0 done, 1 failed, 2 wrong call, as the README says.
func TestExitCodes(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want int
	}{
		{[]string{"version"}, 0},
		{[]string{"demo", "--script", "/nonexistent/script.txt"}, 1},
		{[]string{"demo", "--frobnicate"}, 2},
		{[]string{"demo", "extra"}, 2},
		{[]string{"frobnicate"}, 2},
		{nil, 2},
	} {
		if code, _, errOut := runCLI(t, nil, tc.args...); code != tc.want {
			t.Errorf("%v: code %d, want %d (stderr %q)", tc.args, code, tc.want, errOut)
		}
	}
}

// TestEveryCommandHasExamples: -h shows examples for every command, and
// each example calls its command.
func TestEveryCommandHasExamples(t *testing.T) {
	examples := commandExamples()
	for name := range subcommands() {
		if len(examples[name]) == 0 {
			t.Errorf("%q has no examples: add some to commandExamples in main.go", name)
		}
		for _, ex := range examples[name] {
			if !strings.HasPrefix(ex, "countersign "+name) {
				t.Errorf("example %q of %q does not call it", ex, name)
			}
		}
	}
}
