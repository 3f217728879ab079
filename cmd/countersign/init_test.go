package main

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// strongSecret returns a random value of the shape the named secret file
// must hold, such as a real one would.
func strongSecret(t *testing.T, name string) string {
	t.Helper()
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	switch name {
	case "audit-key":
		return base64.StdEncoding.EncodeToString(b)
	case "slack-signing-secret":
		return hex.EncodeToString(b[:16])
	case "slack-bot-token":
		return "xoxb-" + hex.EncodeToString(b)
	case "store-url":
		return "postgres://countersign:" + hex.EncodeToString(b[:12]) + "@127.0.0.1:5432/countersign?sslmode=disable"
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// TestInitEveryCombination runs countersign init for every combination of
// platforms, providers and store, then config check on the result: before
// the secret files exist it names each of them; with them it passes,
// listing as warnings what is left to fill in (people:, the placeholder
// ids), and prints no secret. slack manifest works from the file before
// any secret exists.
func TestInitEveryCombination(t *testing.T) {
	flags := []string{"--slack", "--discord", "--tmcas", "--graph", "--postgres"}
	for mask := range 1 << len(flags) {
		var args []string
		var o initOptions
		on := []*bool{&o.Slack, &o.Discord, &o.TMCAS, &o.Graph, &o.Postgres}
		for i, f := range flags {
			if mask&(1<<i) != 0 {
				args = append(args, f)
				*on[i] = true
			}
		}
		t.Run(strings.Join(append([]string{"init"}, args...), " "), func(t *testing.T) {
			dir := t.TempDir()
			path, secrets := filepath.Join(dir, "countersign.yaml"), filepath.Join(dir, "secrets")
			initArgs := append([]string{"init", "--out", path, "--secrets-dir", secrets, "--public-url", "https://cs.contoso.com"}, args...)
			code, out, errOut := runCLI(t, nil, initArgs...)
			if code != 0 {
				t.Fatalf("init: code %d\n%s%s", code, out, errOut)
			}
			for _, want := range []string{"Wrote " + path, "Next steps:", "countersign config check --config " + path} {
				if !strings.Contains(out, want) {
					t.Errorf("init output lacks %q:\n%s", want, out)
				}
			}
			if o.Slack {
				code, out, errOut := runCLI(t, nil, "slack", "manifest", "--config", path)
				if code != 0 || !strings.Contains(out, `"https://cs.contoso.com/slack/commands"`) {
					t.Errorf("slack manifest before the secrets exist: code %d\n%s%s", code, out, errOut)
				}
			}

			// Without the secret files: each is named.
			code, _, errOut = runCLI(t, nil, "config", "check", "--config", path)
			if code != 1 {
				t.Fatalf("config check without secrets: code %d, want 1\n%s", code, errOut)
			}
			files := o.secrets()
			for _, s := range files {
				if want := filepath.Join(secrets, s.Name); !strings.Contains(errOut, want) {
					t.Errorf("config check does not name the missing %s:\n%s", want, errOut)
				}
			}
			if n := strings.Count(errOut, "reading secret"); n != len(files) {
				t.Errorf("%d secrets missing, want %d:\n%s", n, len(files), errOut)
			}

			// With them: valid, with warnings for what is left.
			if err := os.Mkdir(secrets, 0o700); err != nil {
				t.Fatal(err)
			}
			var values []string
			for _, s := range files {
				v := strongSecret(t, s.Name)
				values = append(values, v)
				writeFile(t, filepath.Join(secrets, s.Name), v+"\n")
			}
			code, out, errOut = runCLI(t, nil, "config", "check", "--config", path)
			if code != 0 {
				t.Fatalf("config check with the secrets: code %d\n%s", code, errOut)
			}
			want := []string{"OK, the configuration is valid", "warning: people: is empty"}
			if !o.TMCAS && !o.Graph {
				want = append(want, "warning: providers: no provider is configured")
			}
			if o.Slack {
				want = append(want, "warning: slack.approvers[0]: U0CHANGEME is no one's slack id")
			}
			if o.Discord {
				want = append(want, "warning: discord.application_id: is 0", "warning: discord.guild_id: is 0", "warning: discord.approver_roles[0]: is 0")
			}
			if o.Graph {
				want = append(want, "warning: providers.graph.tenant_id: is the all-zero GUID", "warning: providers.graph.client_id: is the all-zero GUID")
			}
			for _, w := range want {
				if !strings.Contains(errOut, w) {
					t.Errorf("config check lacks %q:\n%s", w, errOut)
				}
			}
			// The commented examples work once uncommented.
			doc := strings.NewReplacer("#  - { name: alice", "  - { name: alice",
				`#  - "*@breakglass`, `  - "*@breakglass`).Replace(readFile(t, path))
			writeFile(t, path, doc)
			code, _, errOut2 := runCLI(t, nil, "config", "check", "--config", path)
			if code != 0 || strings.Contains(errOut2, "people: is empty") {
				t.Errorf("config check with the examples uncommented: code %d\n%s", code, errOut2)
			}
			for _, v := range values {
				secret := v
				if strings.HasPrefix(v, "postgres://") {
					secret = strings.TrimPrefix(strings.Split(v, "@")[0], "postgres://countersign:")
				}
				if strings.Contains(out+errOut, secret) {
					t.Errorf("config check printed a secret:\n%s", out)
				}
			}
		})
	}
}

// TestInitRefusesToOverwrite: init never replaces a file unless --force,
// and --out - writes the file to stdout and the steps to stderr.
func TestInitRefusesToOverwrite(t *testing.T) {
	path := filepath.Join(t.TempDir(), "countersign.yaml")
	writeFile(t, path, "# edited by hand\n")
	code, _, errOut := runCLI(t, nil, "init", "--slack", "--out", path)
	if code != 1 || !strings.Contains(errOut, "exists; pass --force") {
		t.Errorf("existing file: code %d, stderr %q", code, errOut)
	}
	if got := readFile(t, path); got != "# edited by hand\n" {
		t.Errorf("the file was changed: %q", got)
	}
	if code, _, errOut := runCLI(t, nil, "init", "--slack", "--out", path, "--force"); code != 0 {
		t.Errorf("--force: code %d, stderr %q", code, errOut)
	}
	if got := readFile(t, path); !strings.Contains(got, "slack:") {
		t.Errorf("--force did not write the file:\n%s", got)
	}
	code, out, errOut := runCLI(t, nil, "init", "--tmcas", "--out", "-")
	if code != 0 || !strings.HasPrefix(out, "# countersign.yaml, written by countersign init --tmcas.") ||
		strings.Contains(out, "Next steps") || !strings.Contains(errOut, "Next steps:") {
		t.Errorf("--out -: code %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
}
