package main

import (
	"bufio"
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/countersign/countersign/internal/app"
	"github.com/countersign/countersign/internal/engine"
	"github.com/countersign/countersign/internal/testdb"
)

// notOffline lists the README's commands this test does not run, each with
// why, by the start of the command line (after `countersign` or `go run
// ./cmd/countersign`, a countersign command is spelt "countersign …"). A
// README block with a command in neither this list nor one the test can run
// fails the test, naming it: add it here, or make it runnable below.
var notOffline = map[string]string{
	"countersign serve":            "runs until stopped, serving chat endpoints; serve_test and sigterm_test run it",
	"countersign discord register": "calls Discord's API with a real bot token",
	"countersign digest --post":    "posts to a real Slack or Discord channel",
	"go test":                      "the test suite itself: running it from a test would recurse",
	"openssl rand":                 "not a countersign command: a system tool that makes the key",
	"docker ":                      "needs a Docker daemon and network access to pull the base images",
	"kubectl ":                     "needs a Kubernetes cluster",
	"go install ":                  "fetches the released module from the network; the tests build the same package",
	"helm install":                 "needs a Kubernetes cluster",
	"helm lint":                    "needs the helm tool, which CI installs; deploy's -tags long tests render the chart with it",
}

// sh is a fenced shell block's opening line; blocks may be indented in lists.
var sh = regexp.MustCompile("^\\s*```(sh|bash|shell|console)\\s*$")

// readmeCommand is one command line of a README shell block.
type readmeCommand struct {
	line  int     // in README.md
	text  string  // as written, continuation lines joined, comment removed
	words []token // its shell words and operators
}

// token is a shell word, or an operator (| > < ; &) when op is set.
type token struct {
	text string
	op   bool
}

// TestReadmeWalkThrough runs every command of README.md's shell blocks that
// can run offline, in order, in one directory with a SQLite store and a
// configuration: `countersign …` and `go run ./cmd/countersign …` run
// in-process and must exit 0. Commands that cannot run offline are listed in
// notOffline with why; any other command fails the test.
func TestReadmeWalkThrough(t *testing.T) {
	cmds := readmeCommands(t, filepath.Join("..", "..", "README.md"))
	if len(cmds) < 5 {
		t.Fatalf("found %d commands in README.md's shell blocks, want at least 5", len(cmds))
	}
	dir := t.TempDir()
	url := "sqlite:" + filepath.Join(dir, "countersign.db")
	readmeFixtures(t, dir, url)
	t.Chdir(dir)
	ran := 0
	for _, c := range cmds {
		if why, ok := skipped(c.text); ok {
			t.Logf("README.md:%d not run offline (%s): %s", c.line, why, c.text)
			continue
		}
		args, stdin, ok := runnable(t, c.words)
		if !ok {
			t.Errorf("README.md:%d: %q is neither a countersign command this test can run nor listed in notOffline (readme_test.go): make it runnable or list it with why", c.line, c.text)
			continue
		}
		if args[0] == "init" {
			// Written beside the fixture's configuration, which the
			// commands after it read (TestInitEveryCombination checks what
			// init writes).
			args = append(args, "--out", filepath.Join(t.TempDir(), "countersign.yaml"))
		}
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			var out, errOut strings.Builder
			code := run(ctx, env{stdin: strings.NewReader(stdin), stdout: &out, stderr: &errOut}, args)
			if code != 0 {
				t.Errorf("README.md:%d: %s exited %d, want 0\nstdout:\n%s\nstderr:\n%s", c.line, c.text, code, out.String(), errOut.String())
			}
		})
		ran++
	}
	if ran < 5 {
		t.Errorf("ran %d README commands, want at least 5", ran)
	}
}

// readmeFixtures makes what the README's commands expect in dir: a
// configuration (countersign.yaml) with a migrated SQLite store at url
// holding a few audit entries, and the audit checkpoints serve would have
// written to audit-checkpoints.jsonl and logged to serve.log.
func readmeFixtures(t *testing.T, dir, url string) {
	t.Helper()
	config := "store: { url: \"" + url + "\" }\naudit: { key: \"" + testKey + "\" }\n"
	if err := os.WriteFile(filepath.Join(dir, "countersign.yaml"), []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	testdb.Store(t, url) // migrated, so that commands shown before `migrate` find a current schema
	appendEntries(t, url, 3)
	var log bytes.Buffer
	job := app.CheckpointJob(slog.New(slog.NewJSONHandler(&log, nil)), testdb.Open(t, url), filepath.Join(dir, "audit-checkpoints.jsonl"), nil)
	if _, err := job.Run(context.Background(), engine.PeriodicRun{Slot: time.Now()}); err != nil {
		t.Fatalf("checkpoint job: %v", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "serve.log"), log.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
}

// skipped returns why the command is in notOffline.
func skipped(text string) (string, bool) {
	norm := strings.Replace(text, "go run ./cmd/countersign", "countersign", 1)
	for prefix, why := range notOffline {
		if strings.HasPrefix(norm, prefix) {
			return why, true
		}
	}
	return "", false
}

// runnable returns the arguments of a countersign command and its stdin.
// Output redirections are dropped (the output is not kept); `grep PATTERN
// FILE | countersign …` is run with FILE's lines holding PATTERN as stdin.
func runnable(t *testing.T, tokens []token) (args []string, stdin string, ok bool) {
	t.Helper()
	words := tokens
	if len(tokens) > 4 && tokens[0].text == "grep" && tokens[3].op && tokens[3].text == "|" {
		b, err := os.ReadFile(tokens[2].text)
		if err != nil {
			t.Fatalf("%v (make it in readmeFixtures)", err)
		}
		for line := range strings.Lines(string(b)) {
			if strings.Contains(line, tokens[1].text) {
				stdin += line
			}
		}
		words = tokens[4:]
	}
	for i, w := range words {
		if w.op {
			if w.text != ">" || slices.ContainsFunc(words[i+1:], func(w token) bool { return w.op }) {
				return nil, "", false
			}
			words = words[:i] // > and its file, however named
			break
		}
	}
	var plain []string
	for _, w := range words {
		plain = append(plain, w.text)
	}
	switch {
	case len(plain) >= 1 && plain[0] == "countersign":
		return plain[1:], stdin, true
	case len(plain) >= 3 && plain[0] == "go" && plain[1] == "run" && plain[2] == "./cmd/countersign":
		return plain[3:], stdin, true
	}
	return nil, "", false
}

// readmeCommands reads the command lines of path's shell blocks: lines
// that are not comments (output is shown as comments), with `\`
// continuations joined.
func readmeCommands(t *testing.T, path string) []readmeCommand {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var cmds []readmeCommand
	in, pending, start := false, "", 0
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		switch {
		case !in:
			in = sh.MatchString(sc.Text())
			continue
		case strings.HasPrefix(line, "```"):
			in = false
			continue
		case pending == "" && (line == "" || strings.HasPrefix(line, "#")):
			continue
		}
		if pending == "" {
			start = n
		}
		if cont, ok := strings.CutSuffix(line, "\\"); ok {
			pending += cont + " "
			continue
		}
		text := pending + line
		pending = ""
		words, end := shellWords(text)
		cmds = append(cmds, readmeCommand{line: start, text: strings.TrimSpace(text[:end]), words: words})
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return cmds
}

// shellWords splits s into words and operators as a shell would (quotes,
// not expansions) up to a comment, which starts at end.
func shellWords(s string) (tokens []token, end int) {
	var word strings.Builder
	inWord, quote := false, rune(0)
	flush := func() {
		if inWord {
			tokens, inWord = append(tokens, token{text: word.String()}), false
			word.Reset()
		}
	}
	for i, r := range s {
		switch {
		case quote != 0 && r == quote:
			quote = 0
		case quote != 0:
			word.WriteRune(r)
		case r == '\'' || r == '"':
			quote, inWord = r, true
		case r == ' ' || r == '\t':
			flush()
		case !inWord && r == '#':
			return tokens, i
		case strings.ContainsRune("|><;&", r):
			flush()
			tokens = append(tokens, token{text: string(r), op: true})
		default:
			word.WriteRune(r)
			inWord = true
		}
	}
	flush()
	return tokens, len(s)
}

// TestReadmeCommandParsing: how the walk-through reads command lines, and
// that a command it cannot run and does not list is caught.
func TestReadmeCommandParsing(t *testing.T) {
	for _, tc := range []struct {
		line     string
		wantArgs string // joined by |; "" when not runnable
		skipped  bool
	}{
		{`countersign digest --since 7d   # a week`, "digest|--since|7d", false},
		{`go run ./cmd/countersign demo`, "demo", false},
		{`countersign audit export --format csv > "audit $(date).csv"`, "audit|export|--format|csv", false},
		{`countersign config check --config 'my file.yaml'`, "config|check|--config|my file.yaml", false},
		{`countersign audit export | gzip > a.gz`, "", false},
		{`helm template deploy/helm/countersign`, "", false},
		{`countersign serve --config x.yaml`, "", true},
		{`go run ./cmd/countersign serve`, "", true},
	} {
		words, end := shellWords(tc.line)
		text := strings.TrimSpace(tc.line[:end])
		_, skip := skipped(text)
		args, _, ok := runnable(t, words)
		if skip != tc.skipped || (!skip && (ok != (tc.wantArgs != "") || strings.Join(args, "|") != tc.wantArgs)) {
			t.Errorf("%q: skipped %v, args %q (runnable %v); want skipped %v, args %q", tc.line, skip, args, ok, tc.skipped, tc.wantArgs)
		}
	}
}
