package config

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// Every secret gets its own marker, so that a leak of any one is caught.
var secretMarkers = map[string]string{
	"audit.key":                     "audit-MARKER-7f0c2d9e-0123456789abcdef",
	"slack.bot_token":               "xoxb-MARKER-slack-bot-5a1e",
	"slack.signing_secret":          "MARKER-slack-signing-93bd",
	"slack.app_token":               "xapp-MARKER-slack-app-c4f2",
	"discord.bot_token":             "MARKER-discord-bot-2b77",
	"providers.tmcas.token":         "MARKER-tmcas-token-e8a0",
	"providers.graph.client_secret": "MARKER-graph-secret-61d3",
	"store.url":                     "MARKER-db-password-0aa9", // the password only
}

// fullConfig returns a valid document that sets every key, secrets from
// secretMarkers; half the secrets come through *_file keys.
func fullConfig(t *testing.T) string {
	t.Helper()
	m := secretMarkers
	file := func(key string) string { return writeFile(t, "secret", m[key]+"\n") }
	return `
http:
  listen: "127.0.0.1:8443"
  public_url: https://countersign.example.com
  read_timeout: 5s
  shutdown_timeout: 1m30s
store:
  url: "postgres://countersign:` + m["store.url"] + `@db.example.com:5432/countersign?sslmode=verify-full&password=` + m["store.url"] + `"
audit:
  key_file: ` + file("audit.key") + `
  checkpoint_file: /var/lib/countersign/audit-checkpoints.jsonl
log: {level: debug, format: text}
policy:
  approvals_required: 2
  request_ttl: 45m
  max_targets: 250
  require_reason: false
  protected_targets: ["ceo@contoso.com", "*@breakglass.contoso.com"]
  admins: [alice]
  actions:
    purge-mail:permanent: {approvals_required: 3}
    disable: {approvals_required: 1}
people:
  - {name: alice, email: alice@contoso.com, slack: U01ALICE, discord: "1001"}
  - {name: bob, email: bob@contoso.com, slack: U02BOB, discord: "4242"}
  - {name: "carol smith", email: carol@contoso.com}
slack:
  bot_token: ` + m["slack.bot_token"] + `
  signing_secret_file: ` + file("slack.signing_secret") + `
  app_token: ` + m["slack.app_token"] + `
  api_url: https://slack.example.com/api/
  channels: [C0SOC]
  requesters: [S0RESPONDERS]
  approvers: [S0LEADS, U02BOB]
  digest_channel: C0SOC
discord:
  bot_token_file: ` + file("discord.bot_token") + `
  application_id: "1000000000000000001"
  public_key: 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08
  guild_id: "1000000000000000002"
  api_url: https://discord.example.com/api/v10
  channels: ["1000000000000000003"]
  requester_roles: ["1000000000000000004"]
  approver_roles: ["1000000000000000005", "1000000000000000006"]
  digest_channel: "1000000000000000003"
providers:
  tmcas:
    region: eu
    base_url: https://tmcas.example.com
    token_file: ` + file("providers.tmcas.token") + `
    requests_per_minute: 10
    max_items_per_call: 50
    sweep_days: 14
  graph:
    cloud: global
    tenant_id: contoso.onmicrosoft.com
    client_id: 6731de76-14a6-49ae-97bc-6eba6914391e
    client_secret: ` + m["providers.graph.client_secret"] + `
    base_url: https://graph.example.com
    token_url: https://login.example.com/token
    identity_provider: entraID
    enable_legacy_security_actions: true
    requests_per_second: 5
    mail_lookback: 168h
routes: {disable: tmcas, reset-password: graph, purge-mail: graph, block-ip: graph}
digest: {schedule: "30 8 * * 1-5", timezone: Europe/Berlin}
engine: {poll_interval: 30s, poll_deadline: 4h, workers: 4, expiry_sweep: "@every 30s"}
`
}

func TestRedacted(t *testing.T) {
	c, err := Parse([]byte(fullConfig(t)), nil)
	if err != nil {
		t.Fatalf("Parse(fullConfig): %v", err)
	}
	// Every secret really was loaded, so its absence below means something.
	for key, marker := range secretMarkers {
		if v, _ := valueAt(t, c, key).(string); !strings.Contains(v, marker) {
			t.Fatalf("%s = %q, want it to hold %q", key, v, marker)
		}
	}
	out, err := c.Redacted()
	if err != nil {
		t.Fatalf("Redacted: %v", err)
	}
	for key, marker := range secretMarkers {
		if strings.Contains(string(out), marker) {
			t.Errorf("Redacted output shows the %s secret:\n%s", key, out)
		}
	}
	if strings.Contains(string(out), "MARKER") {
		t.Errorf("Redacted output shows a secret:\n%s", out)
	}

	back, probs := decodeOnly(t, string(out), nil)
	if len(probs) > 0 {
		t.Fatalf("decoding Redacted output: %q\n%s", probs, out)
	}
	for key := range secretMarkers {
		if key == "store.url" {
			continue
		}
		if got := valueAt(t, back, key); got != redactedValue {
			t.Errorf("Redacted %s = %q, want %q", key, got, redactedValue)
		}
	}
	wantURL := "postgres://countersign:REDACTED@db.example.com:5432/countersign?password=REDACTED&sslmode=verify-full"
	if back.Store.URL != wantURL {
		t.Errorf("Redacted store.url = %q, want %q", back.Store.URL, wantURL)
	}
	assertSameApartFromSecrets(t, c, back)
}

func TestRedactedLeavesEmptySecretsEmpty(t *testing.T) {
	c, err := Parse([]byte(withKey("")), nil)
	if err != nil {
		t.Fatal(err)
	}
	out, err := c.Redacted()
	if err != nil {
		t.Fatal(err)
	}
	back, probs := decodeOnly(t, string(out), nil)
	if len(probs) > 0 {
		t.Fatalf("decoding Redacted output: %q", probs)
	}
	if back.Slack.BotToken != "" || back.Audit.Key != redactedValue || back.Store.URL != "sqlite:countersign.db" {
		t.Errorf("got bot_token %q audit.key %q store.url %q; want empty, REDACTED, unchanged",
			back.Slack.BotToken, back.Audit.Key, back.Store.URL)
	}
}

func TestRedactURL(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"sqlite:countersign.db", "sqlite:countersign.db"},
		{"sqlite:/var/lib/cs.db?_pragma=busy_timeout(5000)", "sqlite:/var/lib/cs.db?_pragma=busy_timeout(5000)"},
		{"postgres://u@h/db", "postgres://u@h/db"},
		{"postgres://u:p%40ss@h/db", "postgres://u:REDACTED@h/db"},
		{"postgresql://u:@h/db", "postgresql://u:REDACTED@h/db"},
		{"postgres://h/db?sslmode=disable", "postgres://h/db?sslmode=disable"},
		{"postgres://h/db?user=u&PASSWORD=p&sslpassword=q", "postgres://h/db?PASSWORD=REDACTED&sslpassword=REDACTED&user=u"},
		{"postgres://u:p#x@h/db", "REDACTED"},
		{"postgres://u:p%zz@h/db", "REDACTED"},
		{"postgres://h/db?password=%zz", "REDACTED"},
	} {
		if got := RedactURL(tc.in); got != tc.want {
			t.Errorf("RedactURL(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// assertSameApartFromSecrets checks that back, loaded from the Redacted
// output of c, equals c with its secrets redacted.
func assertSameApartFromSecrets(t testing.TB, c, back *Config) {
	t.Helper()
	if diff := cmp.Diff(c.redact(), back, cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("config loaded from Redacted output differs apart from secrets (-want +got):\n%s", diff)
	}
}
