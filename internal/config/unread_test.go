package config

import (
	"path/filepath"
	"strings"
	"testing"
)

// TestUnreadSecretFiles: loading without secrets accepts *_file keys whose
// files do not exist yet, enables what they enable, and still reports
// every problem that is not a secret's own.
func TestUnreadSecretFiles(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "missing")
	doc := `
audit: {key_file: ` + missing + `}
slack: {bot_token_file: ` + missing + `, signing_secret_file: ` + missing + `, approvers: [U02BOB], command_prefix: cs-}
providers: {tmcas: {token_file: ` + missing + `}}
routes: {disable: tmcas}
`
	if _, err := Parse([]byte(doc), nil); err == nil || !strings.Contains(err.Error(), "slack.bot_token_file: reading secret") {
		t.Fatalf("without the option: err %v, want the missing files reported", err)
	}
	c, err := Parse([]byte(doc), nil, UnreadSecretFiles())
	if err != nil {
		t.Fatalf("with the option: %v", err)
	}
	if !c.SlackEnabled() || !c.TMCASEnabled() || c.Slack.BotToken != UnreadSecret || c.Slack.CommandPrefix != "cs-" {
		t.Errorf("got slack %v, tmcas %v, bot token %q, prefix %q", c.SlackEnabled(), c.TMCASEnabled(), c.Slack.BotToken, c.Slack.CommandPrefix)
	}
	_, err = Parse([]byte(doc+"http: {public_url: relative}\n"), []string{"COUNTERSIGN_AUDIT_KEY_FILE=" + missing}, UnreadSecretFiles())
	if got := problems(t, err); len(got) != 1 || !strings.HasPrefix(got[0], "http.public_url:") {
		t.Errorf("problems %q, want only http.public_url's", got)
	}
}
