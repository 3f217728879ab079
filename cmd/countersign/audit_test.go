package main

import (
	"bytes"
	"context"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/countersign/countersign/internal/app"
	"github.com/countersign/countersign/internal/bottest"
	"github.com/countersign/countersign/internal/engine"
	"github.com/countersign/countersign/internal/store"
	"github.com/countersign/countersign/internal/testdb"
)

// migrated returns the environment of a migrated database at url holding n
// audit entries.
func migrated(t *testing.T, url string, n int) []string {
	t.Helper()
	environ := []string{"COUNTERSIGN_AUDIT_KEY=" + testKey, "COUNTERSIGN_STORE_URL=" + url}
	if code, _, stderr := runCLI(t, environ, "migrate"); code != 0 {
		t.Fatalf("migrate: code %d, stderr %q", code, stderr)
	}
	appendEntries(t, url, n)
	return environ
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestAuditVerifyCheckpoints signs checkpoints as serve does and checks
// them with audit verify --checkpoint: from the checkpoint file, from log
// lines in either format, forged, and from another chain.
func TestAuditVerifyCheckpoints(t *testing.T) {
	testdb.Each(t, func(t *testing.T, url string) {
		ctx := context.Background()
		environ := migrated(t, url, 5)
		st, err := store.Open(ctx, url, store.Options{AuditKey: []byte(testKey)})
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		dir := t.TempDir()
		file := filepath.Join(dir, "checkpoints.jsonl")
		var text, jsonLog bytes.Buffer
		for _, h := range []slog.Handler{slog.NewTextHandler(&text, nil), slog.NewJSONHandler(&jsonLog, nil)} {
			job := app.CheckpointJob(slog.New(h), st, file, nil)
			for range 2 { // the second run finds the head unmoved
				if _, err := job.Run(ctx, engine.PeriodicRun{Slot: time.Now()}); err != nil {
					t.Fatalf("checkpoint job: %v", err)
				}
			}
		}
		if got := strings.Count(readFile(t, file), "\n"); got != 2 {
			t.Fatalf("checkpoint file has %d lines, want 2 (one per job, none for an unmoved head):\n%s", got, readFile(t, file))
		}
		appendEntries(t, url, 2) // entries after a checkpoint do not matter
		logfmtFile := filepath.Join(dir, "serve.log")
		if err := os.WriteFile(logfmtFile, text.Bytes(), 0o600); err != nil {
			t.Fatal(err)
		}

		for _, tc := range []struct {
			name, file, stdin, want string
		}{
			{"checkpoint file", file, "", "holds all 2 checkpoints (latest: entry 5 at "},
			{"logfmt log", logfmtFile, "", "holds all 1 checkpoints (latest: entry 5 at "},
			{"json log line on stdin", "-", jsonLog.String(), "holds all 1 checkpoints (latest: entry 5 at "},
		} {
			code, stdout, stderr := runCLIInput(t, environ, tc.stdin, "audit", "verify", "--checkpoint", tc.file)
			if code != 0 || !strings.Contains(stdout, "7 entries verified") || !strings.Contains(stdout, tc.want) {
				t.Errorf("%s: code %d, stdout %q, stderr %q; want 0 and %q", tc.name, code, stdout, stderr, tc.want)
			}
		}

		// A checkpoint altered by hand is refused, naming its line.
		line := strings.TrimSpace(strings.Split(readFile(t, file), "\n")[0])
		forged := strings.Replace(line, `"seq":5`, `"seq":4`, 1)
		code, _, stderr := runCLIInput(t, environ, line+"\n"+forged+"\n", "audit", "verify", "--checkpoint", "-")
		if code != 1 || !strings.Contains(stderr, "line 2 (entry 4): checkpoint is not authentic") {
			t.Errorf("forged checkpoint: code %d, stderr %q; want 1 naming line 2", code, stderr)
		}

		// Another chain under the same key does not hold these checkpoints.
		dialect := "postgres"
		if strings.HasPrefix(url, "sqlite:") {
			dialect = "sqlite"
		}
		other := migrated(t, testdb.URL(t, dialect), 5)
		code, _, stderr = runCLI(t, other, "audit", "verify", "--checkpoint", file)
		if code != 1 || !strings.Contains(stderr, "BROKEN at entry 5: entry differs from the checkpoint") {
			t.Errorf("checkpoint of another chain: code %d, stderr %q; want 1, broken at 5", code, stderr)
		}
		code, _, stderr = runCLIInput(t, environ, `{"msg":"serving"}`, "audit", "verify", "--checkpoint", "-")
		if code != 1 || !strings.Contains(stderr, "no checkpoint found") {
			t.Errorf("no checkpoint in input: code %d, stderr %q", code, stderr)
		}
	})
}

// TestServeWritesAuditCheckpoints checks that serve signs a checkpoint at
// start-up, logs it and appends it to audit.checkpoint_file, and that both
// verify.
func TestServeWritesAuditCheckpoints(t *testing.T) {
	testdb.Each(t, func(t *testing.T, url string) {
		environ := migrated(t, url, 3)
		file := filepath.Join(t.TempDir(), "checkpoints.jsonl")
		base, stop, logs := startServe(t, append(environ, "COUNTERSIGN_LOG_FORMAT=json", "COUNTERSIGN_AUDIT_CHECKPOINT_FILE="+file))
		getJSON(t, base+"/healthz", http.StatusOK)
		bottest.Await(t, 30*time.Second, "a checkpoint logged", func() bool {
			return strings.Contains(logs.String(), `"msg":"audit checkpoint"`)
		}, &logs.Signal)
		if err := stop(); err != nil {
			t.Fatalf("serve: %v", err)
		}
		if !strings.Contains(logs.String(), `"msg":"audit checkpoint","seq":3,`) {
			t.Errorf("no checkpoint of entry 3 in the log:\n%s", logs)
		}
		for _, tc := range []struct{ name, file, stdin string }{
			{"file", file, ""},
			{"log", "-", logs.String()},
		} {
			code, stdout, stderr := runCLIInput(t, environ, tc.stdin, "audit", "verify", "--checkpoint", tc.file)
			if code != 0 || !strings.Contains(stdout, "holds all 1 checkpoints (latest: entry 3 at ") {
				t.Errorf("verify with the %s: code %d, stdout %q, stderr %q", tc.name, code, stdout, stderr)
			}
		}
	})
}

func TestServeRefusesUnwritableCheckpointFile(t *testing.T) {
	environ := migrated(t, testdb.SQLite(t), 0)
	file := filepath.Join(t.TempDir(), "missing-dir", "checkpoints.jsonl")
	// serve must fail before it listens; were it to run, the timeout ends it.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var logs bytes.Buffer
	e := env{stdin: strings.NewReader(""), stdout: &logs, stderr: &logs, environ: append(environ, "COUNTERSIGN_AUDIT_CHECKPOINT_FILE="+file)}
	err := serve(ctx, e, nil, func(string) (net.Listener, error) { return net.Listen("tcp", "127.0.0.1:0") })
	if err == nil || !strings.Contains(err.Error(), "audit.checkpoint_file") {
		t.Fatalf("serve with an unwritable checkpoint file: %v, want an audit.checkpoint_file error", err)
	}
}
