package main

import (
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// providerRef matches a provider's reference id as summaries show it.
var providerRef = regexp.MustCompile(`\(ref [0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\)`)

var update = flag.Bool("update", false, "rewrite the golden transcripts")

// TestDemoTranscripts runs every script in testdata/demo through
// `countersign demo --script` and compares the transcript with its golden
// file. The demo runs on a frozen clock with seeded fakes, so transcripts
// are exact.
func TestDemoTranscripts(t *testing.T) {
	scripts, err := filepath.Glob(filepath.Join("testdata", "demo", "*.txt"))
	if err != nil || len(scripts) < 10 {
		t.Fatalf("found %d scripts (%v), want at least 10", len(scripts), err)
	}
	for _, script := range scripts {
		name := strings.TrimSuffix(filepath.Base(script), ".txt")
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			start := time.Now()
			code, stdout, stderr := runCLI(t, nil, "demo", "--script", script)
			if code != 0 {
				t.Fatalf("demo exited %d; stderr:\n%s", code, stderr)
			}
			if stderr != "" {
				t.Errorf("demo wrote to stderr:\n%s", stderr)
			}
			t.Logf("%s ran in %v", name, time.Since(start))
			// Provider reference ids are made up by the fakes at random.
			stdout = providerRef.ReplaceAllString(stdout, "(ref <provider-id>)")
			golden := filepath.Join("testdata", "demo", name+".golden")
			if *update {
				if err := os.WriteFile(golden, []byte(stdout), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if diff := cmp.Diff(string(want), stdout); diff != "" {
				t.Errorf("transcript differs from %s (-want +got):\n%s", golden, diff)
			}
		})
	}
}

// helpCommand matches a command in the bot's help: "│   /disable <user>...".
var helpCommand = regexp.MustCompile(`(?m)^│   /(?:countersign )?([a-z-]+)`)

// TestDemoTriesEveryHelpCommand: every command /countersign help lists is
// tried in testdata/demo/everycommand.txt, and none of them finds nothing
// to act on or no provider: the demo seeds what each needs.
func TestDemoTriesEveryHelpCommand(t *testing.T) {
	script, err := os.ReadFile(filepath.Join("testdata", "demo", "everycommand.txt"))
	if err != nil {
		t.Fatal(err)
	}
	golden, err := os.ReadFile(filepath.Join("testdata", "demo", "everycommand.golden"))
	if err != nil {
		t.Fatal(err)
	}
	code, help, stderr := runCLIInput(t, nil, "/countersign help\n", "demo")
	if code != 0 {
		t.Fatalf("demo exited %d: %s", code, stderr)
	}
	names := helpCommand.FindAllStringSubmatch(help, -1)
	if len(names) < 12 {
		t.Fatalf("found %d commands in the help, want at least 12:\n%s", len(names), help)
	}
	for _, m := range names {
		if m[1] == "help" {
			continue // the script's own help line is about one command
		}
		if !regexp.MustCompile(`(?m)^/(countersign )?` + m[1] + `( |$)`).Match(script) {
			t.Errorf("everycommand.txt does not try /%s", m[1])
		}
	}
	for _, bad := range []string{"No configured provider", "not found", "cannot be acted on"} {
		if strings.Contains(string(golden), bad) {
			t.Errorf("everycommand.golden says %q: a command found nothing to try it on", bad)
		}
	}
}
