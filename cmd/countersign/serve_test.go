package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/countersign/countersign/internal/changes"
	"github.com/countersign/countersign/internal/testdb"
	"github.com/countersign/countersign/providers/tmcas/tmcastest"
)

// syncBuffer is a bytes.Buffer safe for the server's goroutines; its
// Signal tells of every write.
type syncBuffer struct {
	changes.Signal
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	n, err := s.b.Write(p)
	s.mu.Unlock()
	s.Notify()
	return n, err
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startServe runs serve with args on a loopback port and returns its base
// URL and a function that stops it (as SIGTERM would) and returns serve's
// error.
func startServe(t *testing.T, environ []string, args ...string) (base string, stop func() error, logs *syncBuffer) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	logs = &syncBuffer{}
	done := make(chan error, 1)
	e := env{stdin: strings.NewReader(""), stdout: logs, stderr: logs, environ: environ}
	go func() {
		done <- serve(ctx, e, args, func(string) (net.Listener, error) { return ln, nil })
	}()
	stop = func() error {
		cancel()
		select {
		case err := <-done:
			return err
		case <-time.After(30 * time.Second):
			t.Fatal("serve did not stop within 30 s")
			return nil
		}
	}
	t.Cleanup(func() { cancel() })
	return "http://" + ln.Addr().String(), stop, logs
}

// serveKey is the audit key of the serve tests' configurations.
const serveKey = "serve-test-audit-key-0123456789abcdef"

// serveBase is what the serve tests' configurations share besides their
// chat platform: the store, the policy and the TMCAS fake.
const serveBase = `
store: { url: "%s" }
audit: { key: "` + serveKey + `" }
log: { level: warn, format: text }
policy: { approvals_required: 1, request_ttl: 1h, max_targets: 100, require_reason: true }
providers:
  tmcas: { base_url: "%s", token: "%s" }
routes: { disable: tmcas }
`

// served is serve running for a test.
type served struct {
	base string      // serve's base URL
	logs *syncBuffer // serve's log
	tm   *tmcastest.Server
	db   string // the store's URL
}

// servePlatform runs serve until the test ends (then checks it stopped
// cleanly) with serveBase, a new SQLite database, a TMCAS fake that knows
// mallory@contoso.com, and platform, the YAML of a chat platform. Close the
// platform's fake with t.Cleanup registered before it, so serve stops
// first.
func servePlatform(t *testing.T, platform string) served {
	t.Helper()
	s := served{tm: tmcastest.New(tmcastest.Options{Limit: -1}), db: testdb.SQLite(t)}
	t.Cleanup(s.tm.Close)
	s.tm.AddAccount("mallory@contoso.com")
	path := filepath.Join(t.TempDir(), "countersign.yaml")
	if err := os.WriteFile(path, []byte(fmt.Sprintf(serveBase, s.db, s.tm.URL(), s.tm.Token())+platform), 0o600); err != nil {
		t.Fatal(err)
	}
	var stop func() error
	s.base, stop, s.logs = startServe(t, nil, "--config", path)
	t.Cleanup(func() {
		if err := stop(); err != nil {
			t.Errorf("serve: %v\n%s", err, s.logs)
		}
	})
	return s
}

// getJSON fetches url and checks its status. The listener is bound before
// serve starts, so the request waits in the accept queue until serve is up.
func getJSON(t *testing.T, url string, want int) map[string]any {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	var body map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatalf("GET %s: decoding body: %v", url, err)
	}
	if resp.StatusCode != want {
		t.Fatalf("GET %s: status %d (%v), want %d", url, resp.StatusCode, body, want)
	}
	return body
}

func TestServeHealthAndShutdown(t *testing.T) {
	testdb.Each(t, func(t *testing.T, url string) {
		environ := []string{"COUNTERSIGN_AUDIT_KEY=" + testKey, "COUNTERSIGN_STORE_URL=" + url, "COUNTERSIGN_LOG_FORMAT=json"}
		base, stop, logs := startServe(t, environ)
		getJSON(t, base+"/healthz", http.StatusOK)
		body := getJSON(t, base+"/readyz", http.StatusOK)
		if body["status"] != "ready" {
			t.Errorf("/readyz body %v, want status ready", body)
		}
		resp, err := http.Get(base + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		scrape, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || !strings.Contains(string(scrape), "countersign_build_info") {
			t.Errorf("/metrics: status %d, body lacks countersign_build_info", resp.StatusCode)
		}
		if err := stop(); err != nil {
			t.Fatalf("serve returned %v after shutdown", err)
		}
		if !strings.Contains(logs.String(), "shutting down") {
			t.Errorf("no shutdown line in the log:\n%s", logs)
		}
		if strings.Contains(logs.String(), testKey) {
			t.Errorf("the audit key appears in the log")
		}
	})
}
