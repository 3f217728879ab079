package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/countersign/countersign/bot/discord/discordtest"
	"github.com/countersign/countersign/internal/config"
	"github.com/countersign/countersign/internal/testdb"
)

// writeFile writes content to path with mode 0600, failing the test on
// error.
func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestSlackManifestConfig: slack manifest takes --config and reads
// http.public_url and slack.command_prefix from it (it used to exit 2,
// "flag provided but not defined: -config"); without a URL it refuses
// instead of printing a Socket Mode manifest, which it gives only when
// asked.
func TestSlackManifestConfig(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "countersign.yaml")
	writeFile(t, path, "http: { public_url: \"https://cs.contoso.com/\" }\nslack: { command_prefix: cs- }\naudit: { key: "+testKey+" }\n")
	socketCfg := filepath.Join(dir, "socket.yaml")
	writeFile(t, socketCfg, "http: { public_url: \"https://cs.contoso.com/\" }\naudit: { key_file: /nonexistent/audit-key }\n"+
		"slack: { bot_token_file: /nonexistent/bot, app_token_file: /nonexistent/app, approvers: [U02BOB] }\n")
	noURL := filepath.Join(dir, "nourl.yaml")
	writeFile(t, noURL, "audit: { key: "+testKey+" }\n")
	for _, tc := range []struct {
		name    string
		args    []string
		code    int
		want    []string
		wantNot []string
	}{
		{"config", []string{"--config", path}, 0,
			[]string{`"https://cs.contoso.com/slack/commands"`, `"request_url": "https://cs.contoso.com/slack/interactions"`, `"/cs-disable"`, `"/countersign"`, `"socket_mode_enabled": false`},
			[]string{`"/disable"`}},
		{"--url wins", []string{"--config", path, "--url", "https://other.contoso.com"}, 0,
			[]string{`"https://other.contoso.com/slack/commands"`, `"/cs-disable"`}, []string{"cs.contoso.com"}},
		{"socket mode", []string{"--config", path, "--socket-mode"}, 0,
			[]string{`"socket_mode_enabled": true`, `"/cs-disable"`}, []string{"cs.contoso.com", `"url"`, "request_url"}},
		{"no URL", []string{"--config", noURL}, 2, []string{"no request URL", "http.public_url", "--socket-mode"}, nil},
		{"nothing at all", nil, 2, []string{"no request URL"}, nil},
		{"both", []string{"--url", "https://x.contoso.com", "--socket-mode"}, 2, []string{"exclude each other"}, nil},
		{"socket config, HTTP manifest", []string{"--config", socketCfg}, 0,
			[]string{"warning: serve will use Socket Mode (slack.app_token is set), but this manifest is for HTTP mode"}, nil},
		{"socket config, socket manifest", []string{"--config", socketCfg, "--socket-mode"}, 0, nil, []string{"warning"}},
		{"missing config", []string{"--config", filepath.Join(dir, "missing.yaml")}, 1, []string{"missing.yaml"}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errOut := runCLI(t, nil, append([]string{"slack", "manifest"}, tc.args...)...)
			if code != tc.code {
				t.Fatalf("code %d, want %d\n%s%s", code, tc.code, out, errOut)
			}
			for _, w := range tc.want {
				if !strings.Contains(out+errOut, w) {
					t.Errorf("output lacks %s:\n%s%s", w, out, errOut)
				}
			}
			for _, w := range tc.wantNot {
				if strings.Contains(out+errOut, w) {
					t.Errorf("output has %s:\n%s", w, out)
				}
			}
		})
	}
}

// TestTestVariablesAreNotConfiguration: the test suite's own variables
// live outside the COUNTERSIGN_ namespace, so that a shell set up to run
// the tests (as the README says) can still run every subcommand; they used
// to be COUNTERSIGN_TEST_POSTGRES…, which config refuses as unknown.
func TestTestVariablesAreNotConfiguration(t *testing.T) {
	environ := []string{"COUNTERSIGN_AUDIT_KEY=" + testKey}
	for _, name := range []string{testdb.EnvPostgres, testdb.EnvPostgresRequired, envChild} {
		if strings.HasPrefix(name, config.EnvPrefix) {
			t.Errorf("test variable %s is in the configuration's namespace %s", name, config.EnvPrefix)
		}
		environ = append(environ, name+"=1")
	}
	if code, _, stderr := runCLI(t, environ, "config", "check"); code != 0 {
		t.Errorf("config check with the test variables set: code %d, want 0; stderr %q", code, stderr)
	}
	// Any other COUNTERSIGN_ variable stays an error: a typo must not pass.
	code, _, stderr := runCLI(t, []string{"COUNTERSIGN_AUDIT_KEY=" + testKey, "COUNTERSIGN_TEST_POSTGRES=x"}, "config", "check")
	if code != 1 || !strings.Contains(stderr, "COUNTERSIGN_TEST_POSTGRES: unknown environment variable") {
		t.Errorf("an unknown COUNTERSIGN_ variable: code %d, stderr %q", code, stderr)
	}
}

// TestConfigCheckWarns: a valid configuration with Slack but no people:
// and no provider exits 0, as before, but now says what cannot work, after
// the OK line on stderr, keeping stdout the configuration alone.
func TestConfigCheckWarns(t *testing.T) {
	environ := []string{
		"COUNTERSIGN_AUDIT_KEY=" + testKey,
		"COUNTERSIGN_SLACK_BOT_TOKEN=xoxb-1",
		"COUNTERSIGN_SLACK_APP_TOKEN=xapp-1",
		"COUNTERSIGN_SLACK_APPROVERS=U02BOB",
	}
	code, stdout, stderr := runCLI(t, environ, "config", "check")
	if code != 0 {
		t.Fatalf("code %d, want 0; stderr %q", code, stderr)
	}
	want := []string{
		"countersign config check: OK, the configuration is valid, with 3 warnings:",
		"warning: people: is empty",
		"warning: slack.approvers[0]: U02BOB is no one's slack id in people:",
		"warning: providers: no provider is configured",
	}
	last := -1
	for _, w := range want {
		i := strings.Index(stderr, w)
		if i < 0 || i < last {
			t.Errorf("stderr lacks %q after the lines before it:\n%s", w, stderr)
		}
		last = i
	}
	if strings.Contains(stdout, "warning") {
		t.Errorf("warnings on stdout:\n%s", stdout)
	}
}

// TestDiscordRegister: discord register takes --config, registers the
// commands with the fake, and names the Interactions Endpoint URL from
// http.public_url (or says what is missing, or that the Gateway needs
// none).
func TestDiscordRegister(t *testing.T) {
	fake := discordtest.New(t, discordtest.Options{Token: "register-test-token", AppID: "1000000000000000001", GuildID: "900000000000000001"})
	key := discordtest.NewSigner().PublicKey()
	dir := t.TempDir()
	for _, tc := range []struct{ name, publicURL, publicKey, want string }{
		{"http interactions", "https://cs.contoso.com/", key,
			"Interactions Endpoint URL (developer portal, General Information): https://cs.contoso.com/discord/interactions"},
		{"no public url", "", key, "set http.public_url"},
		{"gateway", "https://cs.contoso.com/", "", "interactions arrive over the Gateway"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "-")+".yaml")
			writeFile(t, path, `
http: {public_url: "`+tc.publicURL+`"}
audit: {key: `+testKey+`}
discord:
  bot_token: register-test-token
  application_id: "1000000000000000001"
  guild_id: "900000000000000001"
  approver_roles: ["900000000000000010"]
  public_key: "`+tc.publicKey+`"
  api_url: `+fake.APIURL()+"\n")
			code, out, errOut := runCLI(t, nil, "discord", "register", "--config", path)
			if code != 0 {
				t.Fatalf("code %d\n%s%s", code, out, errOut)
			}
			if !strings.Contains(out, "discord commands registered in guild 900000000000000001") || !strings.Contains(out, tc.want) {
				t.Errorf("output lacks %q:\n%s", tc.want, out)
			}
			if cmds, _ := fake.Commands(); len(cmds) == 0 {
				t.Error("no commands registered")
			}
		})
	}
}
