package config

import (
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/countersign/countersign/approvals"
	"github.com/countersign/countersign/providers"
)

// Credentials that make providers configured, for cases about routes.
const bothProviders = `
providers:
  tmcas: {token: t}
  graph: {tenant_id: contoso.onmicrosoft.com, client_id: c, client_secret: s}
`

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		doc  string // a complete document; most cases use withKey
		want []string
	}{
		{"valid minimal", withKey(""), nil},
		{"valid full", fullConfig(t), nil},

		// http
		{"listen without port", withKey("http: {listen: \"8080\"}"),
			[]string{`http.listen: "8080" is not a host:port address such as :8080`}},
		{"listen port out of range", withKey("http: {listen: \":99999\"}"),
			[]string{`http.listen: port "99999" is not a number from 0 to 65535`}},
		{"public url relative", withKey("http: {public_url: countersign.example.com}"),
			[]string{`http.public_url: "countersign.example.com" is not an absolute http:// or https:// URL`}},
		{"timeouts", withKey("http: {read_timeout: 0s, shutdown_timeout: -1s}"), []string{
			`http.read_timeout: must be greater than 0, got 0s`,
			`http.shutdown_timeout: must be greater than 0, got -1s`}},

		// store
		{"store empty", withKey(`store: {url: ""}`), []string{`store.url: is required: sqlite:PATH or postgres://user@host/db`}},
		{"store scheme", withKey(`store: {url: "mysql://u:hunter2@h/db"}`),
			[]string{`store.url: must start with sqlite:, postgres:// or postgresql://, got "mysql:"`}},
		{"store no scheme", withKey(`store: {url: "u:hunter2@h/db"}`),
			[]string{`store.url: must start with sqlite:, postgres:// or postgresql://`}},
		{"store sqlite without path", withKey(`store: {url: "sqlite:"}`),
			[]string{`store.url: sqlite: needs a file path, e.g. sqlite:countersign.db`}},
		{"store hash", withKey(`store: {url: "postgres://u:hun#ter2@h/db"}`),
			[]string{`store.url: must not contain "#"; percent-encode it as %23 (value not shown: it may hold a password)`}},
		{"store unparsable", withKey(`store: {url: "postgresql://u:hunter2%zz@h/db"}`),
			[]string{`store.url: is not a valid URL; percent-encode special characters in the password (value not shown: it may hold a password)`}},
		{"store postgres ok", withKey(`store: {url: "postgresql://u:hunter2@h:5432/db?sslmode=verify-full"}`), nil},

		// audit
		{"audit key missing", "", []string{
			`audit.key: is required: an HMAC key of at least 32 bytes (set audit.key, audit.key_file or COUNTERSIGN_AUDIT_KEY)`}},
		{"audit key short", "audit: {key: 0123456789abcdef0123456789abcde}", []string{
			`audit.key: must be at least 32 bytes (e.g. the output of openssl rand -base64 32)`}},
		{"audit checkpoint file", "audit: {key: " + testAuditKey + ", checkpoint_file: /var/lib/countersign/checkpoints.jsonl}", nil},
		{"audit checkpoint file a directory", "audit: {key: " + testAuditKey + ", checkpoint_file: /var/lib/countersign/}", []string{
			`audit.checkpoint_file: "/var/lib/countersign/" is a directory; name a file such as /var/lib/countersign/audit-checkpoints.jsonl`}},
		{"audit checkpoint file dot", "audit: {key: " + testAuditKey + ", checkpoint_file: .}", []string{
			`audit.checkpoint_file: "." is a directory; name a file such as /var/lib/countersign/audit-checkpoints.jsonl`}},

		// log
		{"log", withKey("log: {level: verbose, format: xml}"), []string{
			`log.level: "verbose" is not one of debug, info, warn, error`,
			`log.format: "xml" is not one of json, text`}},

		// policy
		{"approvals_required 0", withKey("policy: {approvals_required: 0}"), []string{
			`policy.approvals_required: must be at least 1, got 0: the two-person rule needs an approver other than the requester`}},
		{"request_ttl", withKey("policy: {request_ttl: 0s}"), []string{`policy.request_ttl: must be greater than 0, got 0s`}},
		{"max_targets 0", withKey("policy: {max_targets: 0}"), []string{`policy.max_targets: must be from 1 to 10000, got 0`}},
		{"max_targets 10001", withKey("policy: {max_targets: 10001}"), []string{`policy.max_targets: must be from 1 to 10000, got 10001`}},
		{"max_targets 10000", withKey("policy: {max_targets: 10000}"), nil},
		{"protected globs", withKey(`policy: {protected_targets: ["ok@x", "[a-", " ", "*@[x"]}`), []string{
			`policy.protected_targets[1]: "[a-" is not a valid glob (path.Match syntax: *, ?, [a-z])`,
			`policy.protected_targets[2]: must not be empty`,
			`policy.protected_targets[3]: "*@[x" is not a valid glob (path.Match syntax: *, ?, [a-z])`}},
		{"protected ids", withKey(`policy: {protected_targets: ["id:7f3a9c1e-0000-4000-8000-00000000c0e0", "ID: "]}`), []string{
			`policy.protected_targets[1]: "ID: " names no id: write id:<identity or account id>, e.g. id:7f3a9c1e-…`}},
		{"admins not in people", withKey("people: [{name: bob}]\npolicy: {admins: [bob, zoe]}"),
			[]string{`policy.admins[1]: "zoe" is not the name of anyone in people:`}},
		{"policy actions", withKey(`
policy:
  actions:
    frobnicate: {approvals_required: 2}
    disable:x: {approvals_required: 2}
    purge-mail:shred: {approvals_required: 2}
    purge-mail:hard-delete: {approvals_required: 0}
    purge-mail:quarantine: {approvals_required: 3}
    block-ip: {approvals_required: 2}`), []string{
			`policy.actions.disable:x: only purge-mail takes a variant, not disable`,
			`policy.actions.frobnicate: unknown action "frobnicate" (want one of disable, enable, reset-password, enable-mfa, revoke-sessions, require-signin, mark-compromised, purge-mail, block-ip)`,
			`policy.actions.purge-mail:hard-delete.approvals_required: must be at least 1, got 0`,
			`policy.actions.purge-mail:shred: unknown purge-mail action "shred" (want one of soft-delete, hard-delete, junk, deleted-items, inbox, quarantine, delete, permanent)`}},

		// people
		{"duplicate email", withKey("people: [{name: bob, email: b@x.com}, {name: rob, email: B@X.com}]"),
			[]string{`people: people[1] (rob): email "b@x.com" is already used by bob`}},
		{"duplicate name", withKey("people: [{name: bob}, {name: bob}]"),
			[]string{`people: people[1] (bob): name "bob" is already used by bob`}},
		{"empty name", withKey("people: [{email: a@x.com}]"), []string{`people: people[0]: name is empty`}},
		{"person shapes", withKey(`people: [{name: bob, email: "bob at x", slack: C0SOC, discord: "-1"}]`), []string{
			`people[0].email: "bob at x" is not an e-mail address`,
			`people[0].slack: "C0SOC" is not a Slack user id (U… or W…)`,
			`people[0].discord: "-1" is not a Discord user id (a number, the snowflake)`}},

		// slack
		{"slack command prefix", withKey("slack: {command_prefix: cs-}"), nil},
		{"slack command prefix capitals", withKey("slack: {command_prefix: CS/}"),
			[]string{`slack.command_prefix: "CS/" may hold only lower-case letters, digits, - and _`}},
		{"slack command prefix too long", withKey("slack: {command_prefix: countersign-bot-}"),
			[]string{`slack.command_prefix: "countersign-bot-" is too long: /countersign-bot-mark-compromised would have 33 characters, Slack allows 32`}},
		{"slack partial", withKey("slack: {channels: [C0SOC]}"), []string{
			`slack.bot_token: is required when slack is configured`,
			`slack.signing_secret: is required when slack is configured without slack.app_token (HTTP mode needs it to verify requests)`,
			`slack.approvers: is required when slack is configured: user or user-group ids (U…, W…, S…) who may approve`}},
		{"slack socket mode needs no signing secret", withKey("slack: {bot_token: xoxb-1, app_token: xapp-1, approvers: [U02BOB]}"), nil},
		{"slack token shapes", withKey("slack: {bot_token: xoxp-user-token, app_token: xoxb-2, approvers: [U02BOB]}"), []string{
			`slack.bot_token: must be a bot token (xoxb-…)`,
			`slack.app_token: must be an app-level token (xapp-…)`}},
		{"slack ids", withKey(`
slack:
  bot_token: xoxb-1
  signing_secret: ` + strongSigningSecret + `
  channels: [C0SOC, G0PRIV, U02BOB]
  requesters: [S0RESP, c0soc]
  approvers: [S0LEADS, bob]
  digest_channel: "#soc"`), []string{
			`slack.channels[2]: "U02BOB" is not a Slack channel id (C… or G…)`,
			`slack.requesters[1]: "c0soc" is not a Slack user or user-group id (U…, W… or S…)`,
			`slack.approvers[1]: "bob" is not a Slack user or user-group id (U…, W… or S…)`,
			`slack.digest_channel: "#soc" is not a Slack channel id (C… or G…)`}},
		{"slack api url", withKey(`slack: {api_url: "https://slack.com/api"}`),
			[]string{`slack.api_url: must end with /, as slack-go appends method names to it`}},
		{"slack api url not a url", withKey(`slack: {api_url: "slack/"}`),
			[]string{`slack.api_url: "slack/" is not an absolute http:// or https:// URL`}},
		// The bot token travels to the API URLs: plain http only where it
		// cannot cross a network.
		{"chat api urls over plain http", withKey(`
slack: {api_url: "http://slack.example/api/"}
discord: {api_url: "http://10.0.0.7/api/v10"}`), []string{
			`slack.api_url: "http://slack.example/api/": plain http is allowed only for loopback hosts; use https`,
			`discord.api_url: "http://10.0.0.7/api/v10": plain http is allowed only for loopback hosts; use https`}},
		{"chat api urls on loopback", withKey(`
slack: {api_url: "http://127.0.0.1:8080/api/"}
discord: {api_url: "http://localhost:9000/api/v10"}`), nil},
		{"chat api urls ipv6 loopback and https", withKey(`
slack: {api_url: "http://[::1]:8080/api/"}
discord: {api_url: "https://discord.example/api/v10"}`), nil},

		// discord
		{"discord partial", withKey("discord: {bot_token: t}"), []string{
			`discord.application_id: is required when discord is configured`,
			`discord.guild_id: is required when discord is configured`,
			`discord.approver_roles: is required when discord is configured: role ids whose members may approve`}},
		{"discord shapes", withKey(`
discord:
  bot_token: t
  application_id: app
  guild_id: "18446744073709551616"
  public_key: abc
  channels: ["1", x]
  requester_roles: ["+2"]
  approver_roles: ["3", ""]
  digest_channel: soc`), []string{
			`discord.public_key: "abc" is not an Ed25519 public key (64 hex digits)`,
			`discord.application_id: "app" is not a Discord id (a number, the snowflake)`,
			`discord.guild_id: "18446744073709551616" is not a Discord id (a number, the snowflake)`,
			`discord.channels[1]: "x" is not a Discord id (a number, the snowflake)`,
			`discord.requester_roles[0]: "+2" is not a Discord id (a number, the snowflake)`,
			`discord.approver_roles[1]: must not be empty`,
			`discord.digest_channel: "soc" is not a Discord id (a number, the snowflake)`}},
		{"discord empty role", withKey(`discord: {bot_token: t, application_id: "1", guild_id: "2", approver_roles: [""]}`),
			[]string{`discord.approver_roles[0]: must not be empty`}},
		{"discord public key", withKey(`
discord: {bot_token: t, application_id: "1", guild_id: "2", approver_roles: ["3"],
  public_key: 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08}`), nil},

		// providers
		{"tmcas", withKey(`
providers:
  tmcas: {region: mars, base_url: "ftp://x", requests_per_minute: 0, max_items_per_call: 0, sweep_days: 91}`), []string{
			`providers.tmcas.region: "mars" is not one of us, eu, uk, ca, jp, sg, au, in`,
			`providers.tmcas.base_url: "ftp://x" is not an absolute http:// or https:// URL`,
			`providers.tmcas.requests_per_minute: must be at least 1, got 0`,
			`providers.tmcas.max_items_per_call: must be at least 1, got 0`,
			`providers.tmcas.sweep_days: must be from 1 to 90, got 91`}},
		{"graph", withKey(`
providers:
  graph: {cloud: azure, identity_provider: ldap, base_url: /graph, token_url: "http://", requests_per_second: 0, mail_lookback: 0s}`), []string{
			`providers.graph.cloud: "azure" is not one of global, usgov, usgovdod, china`,
			`providers.graph.identity_provider: "ldap" is not one of entraID, activeDirectory, okta`,
			`providers.graph.base_url: "/graph" is not an absolute http:// or https:// URL`,
			`providers.graph.token_url: "http://" is not an absolute http:// or https:// URL`,
			`providers.graph.requests_per_second: must be at least 1, got 0`,
			`providers.graph.mail_lookback: must be greater than 0, got 0s`}},
		{"provider urls over plain http", withKey(`
providers:
  tmcas: {base_url: "http://tmcas.example"}
  graph: {base_url: "http://graph.example", token_url: "http://login.example/t/oauth2/v2.0/token"}`), []string{
			`providers.tmcas.base_url: "http://tmcas.example": plain http is allowed only for loopback hosts; use https`,
			`providers.graph.base_url: "http://graph.example": plain http is allowed only for loopback hosts; use https`,
			`providers.graph.token_url: "http://login.example/t/oauth2/v2.0/token": plain http is allowed only for loopback hosts; use https`}},
		{"provider urls on loopback", withKey(`
providers:
  tmcas: {base_url: "http://127.0.0.1:1"}
  graph: {base_url: "http://localhost:2", token_url: "http://127.0.0.1:3/t/oauth2/v2.0/token"}`), nil},
		{"graph partial credentials", withKey("providers: {graph: {client_secret: hunter2}}"), []string{
			`providers.graph.tenant_id: is required because providers.graph.client_secret is set: graph needs tenant_id, client_id and client_secret together`,
			`providers.graph.client_id: is required because providers.graph.client_secret is set: graph needs tenant_id, client_id and client_secret together`}},
		{"graph two of three", withKey("providers: {graph: {tenant_id: t, client_id: c}}"), []string{
			`providers.graph.client_secret: is required because providers.graph.tenant_id and providers.graph.client_id are set: graph needs tenant_id, client_id and client_secret together`}},

		// routes
		{"routes", withKey(bothProviders + `
routes:
  frobnicate: tmcas
  disable: aws
  enable: tmcas
  block-ip: graph
  purge-mail: tmcas
  reset-password: graph`), []string{
			`routes.block-ip: block-ip through graph needs providers.graph.enable_legacy_security_actions: true`,
			`routes.disable: "aws" is not a provider (want tmcas or graph)`,
			`routes.enable: tmcas cannot enable`,
			`routes.frobnicate: unknown action "frobnicate" (want one of disable, enable, reset-password, enable-mfa, revoke-sessions, require-signin, mark-compromised, purge-mail, block-ip)`}},
		{"route to unconfigured provider", withKey("routes: {disable: tmcas, enable: graph}"), []string{
			`routes.disable: provider tmcas is not configured (providers.tmcas has no credentials)`,
			`routes.enable: provider graph is not configured (providers.graph has no credentials)`}},
		{"graph in a national cloud", withKey(`
providers:
  tmcas: {token: t}
  graph: {cloud: china, tenant_id: t, client_id: c, client_secret: s, enable_legacy_security_actions: true}
routes: {disable: graph, purge-mail: graph, block-ip: graph, reset-password: tmcas}`), []string{
			`providers.graph.cloud: "china" offers none of the Graph operations Countersign calls (` +
				`identityAccounts invokeAction (v1.0) for disable, enable, reset-password, revoke-sessions, require-signin, mark-compromised; ` +
				`analyzedEmails remediate for purge-mail; securityActions (beta, deprecated) for block-ip): use cloud global, or remove providers.graph`,
			`routes.block-ip: graph cannot block-ip in cloud china: securityActions (beta, deprecated) is not offered there (its page names no national cloud)`,
			`routes.disable: graph cannot disable in cloud china: identityAccounts invokeAction (v1.0) is not offered there (its v1.0 page marks the global service only; the beta page adds US Government L4/L5, never China)`,
			`routes.purge-mail: graph cannot purge-mail in cloud china: analyzedEmails remediate is not offered there (its page marks the global service only)`}},
		{"graph only, in US Gov, no routes", withKey(`
providers:
  graph: {cloud: usgov, tenant_id: t, client_id: c, client_secret: s}`), []string{
			`providers.graph.cloud: "usgov" offers none of the Graph operations Countersign calls (` +
				`identityAccounts invokeAction (v1.0) for disable, enable, reset-password, revoke-sessions, require-signin, mark-compromised; ` +
				`analyzedEmails remediate for purge-mail; securityActions (beta, deprecated) for block-ip): use cloud global, or remove providers.graph`}},
		{"national cloud without graph credentials", withKey(`providers: {graph: {cloud: usgovdod}}`), nil},
		{"legacy block-ip", withKey(`
providers:
  graph: {tenant_id: t, client_id: c, client_secret: s, enable_legacy_security_actions: true}
routes: {block-ip: graph}`), nil},

		// digest
		{"digest", withKey(`digest: {schedule: "every day", timezone: Mars/Base}`), []string{
			`digest.schedule: "every day" is not a cron schedule (5 fields or a descriptor such as @daily): expected exactly 5 fields, found 2: [every day]`,
			`digest.timezone: "Mars/Base" is not an IANA time zone such as UTC or Europe/Berlin`}},
		{"digest descriptors and zones", withKey(`digest: {schedule: "@every 12h", timezone: Europe/Berlin}`), nil},
		{"digest six fields", withKey(`digest: {schedule: "0 0 9 * * 1-5"}`), []string{
			`digest.schedule: "0 0 9 * * 1-5" is not a cron schedule (5 fields or a descriptor such as @daily): expected exactly 5 fields, found 6: [0 0 9 * * 1-5]`}},

		// engine
		{"engine", withKey(`engine: {poll_interval: 3h, workers: 0, expiry_sweep: "@sometimes"}`), []string{
			`engine.poll_interval: must be shorter than engine.poll_deadline (2h), got 3h`,
			`engine.workers: must be at least 1, got 0`,
			`engine.expiry_sweep: "@sometimes" is not a cron schedule (5 fields or a descriptor such as @daily): unrecognized descriptor: @sometimes`}},
		{"engine zero durations", withKey(`engine: {poll_interval: 0s, poll_deadline: 0s}`), []string{
			`engine.poll_interval: must be greater than 0, got 0s`,
			`engine.poll_deadline: must be greater than 0, got 0s`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.doc), nil)
			if diff := cmp.Diff(tc.want, problems(t, err)); diff != "" {
				t.Errorf("problems (-want +got):\n%s", diff)
			}
		})
	}
}

// TestValidateReportsEverything: problems from decoding, the environment
// and validation come back together, one a line.
func TestValidateReportsEverything(t *testing.T) {
	_, err := Parse([]byte(`
http: {listen: nope, lisen: x}
policy: {max_targets: 0}
routes: {disable: aws}
`), []string{"COUNTERSIGN_LOG_LEVEL=loud", "COUNTERSIGN_NOPE=1"})
	want := []string{
		`COUNTERSIGN_NOPE: unknown environment variable`,
		`http.lisen: unknown key (did you mean http.listen?)`,
		`http.listen: "nope" is not a host:port address such as :8080`,
		`audit.key: is required: an HMAC key of at least 32 bytes (set audit.key, audit.key_file or COUNTERSIGN_AUDIT_KEY)`,
		`log.level: "loud" is not one of debug, info, warn, error`,
		`policy.max_targets: must be from 1 to 10000, got 0`,
		`routes.disable: "aws" is not a provider (want tmcas or graph)`,
	}
	if diff := cmp.Diff(want, problems(t, err)); diff != "" {
		t.Errorf("problems (-want +got):\n%s", diff)
	}
}

func TestAllowInsecureAuditKey(t *testing.T) {
	for _, doc := range []string{"", "audit: {key: short}"} {
		if _, err := Parse([]byte(doc), nil, AllowInsecureAuditKey()); err != nil {
			t.Errorf("Parse(%q, AllowInsecureAuditKey()) = %v, want nil", doc, err)
		}
	}
	// The option relaxes the audit key only.
	_, err := Parse([]byte("policy: {max_targets: 0}"), nil, AllowInsecureAuditKey())
	if diff := cmp.Diff([]string{`policy.max_targets: must be from 1 to 10000, got 0`}, problems(t, err)); diff != "" {
		t.Errorf("problems (-want +got):\n%s", diff)
	}
}

func TestValidateMethod(t *testing.T) {
	c := Default()
	c.Audit.Key = testAuditKey
	if err := c.Validate(); err != nil {
		t.Fatalf("Validate(Default()+key) = %v", err)
	}
	c.Engine.Workers = 0
	c.PolicySettings.Admins = []string{"ghost"}
	want := []string{
		`policy.admins[0]: "ghost" is not the name of anyone in people:`,
		`engine.workers: must be at least 1, got 0`,
	}
	if diff := cmp.Diff(want, problems(t, c.Validate())); diff != "" {
		t.Errorf("problems (-want +got):\n%s", diff)
	}
}

// TestErrorsNeverShowSecrets feeds secrets that fail validation and
// decoding and checks that no message carries them.
func TestErrorsNeverShowSecrets(t *testing.T) {
	const marker = "MARKERZZ"
	keyFile := writeFile(t, "k", "shortMARKERZZ\n")
	docs := []string{
		"audit: {key: shortMARKERZZ}",
		"audit: {key_file: " + keyFile + "}",
		"slack: {bot_token: xoxp-MARKERZZ, app_token: MARKERZZ, signing_secret: [MARKERZZ]}",
		"discord: {bot_token: {a: MARKERZZ}}",
		"store: {url: \"mysql://u:MARKERZZ@h/db\"}",
		"store: {url: \"MARKERZZ\"}",
		"store: {url: \"MARKERZZ:x\"}",
		"store: {url: \"postgres://u:MARKERZZ%zz@h/db\"}",
		"store: {url: \"postgres://u:MARKERZZ#x@h/db\"}",
		"providers: {tmcas: {token: 12345MARKERZZ}, graph: {client_secret: MARKERZZ}}",
		"MARKERZZ",
		"slack: MARKERZZ",
	}
	for _, doc := range docs {
		_, err := Parse([]byte(doc), []string{"COUNTERSIGN_SLACK_APP_TOKEN_FILE=/nonexistent/MARKER"})
		if err == nil {
			t.Errorf("Parse(%q) = nil, want errors", doc)
			continue
		}
		if strings.Contains(err.Error(), marker) {
			t.Errorf("Parse(%q) error shows the secret:\n%v", doc, err)
		}
	}
}

// strongSigningSecret has the shape of Slack's signing secrets: 32 hex
// digits, 128 bits.
const strongSigningSecret = "8f14e45fceea167a5a36dedd4bea2543"

// TestValidateSecrets: placeholders in any secret and weak keys are
// refused, each problem naming its key and never the value.
func TestValidateSecrets(t *testing.T) {
	slack := func(secret string) string {
		return withKey(`slack: {bot_token: xoxb-1, signing_secret: "` + secret + `", approvers: [U02BOB]}`)
	}
	for _, tc := range []struct {
		name    string
		doc     string
		environ []string
		want    []string
	}{
		{"placeholders everywhere", `
store: {url: "postgres://cs:CHANGE-ME@db.example.com/cs?sslmode=require"}
audit: {key: "CHANGE-ME-the-output-of-openssl-rand-base64-32"}
slack: {bot_token: xoxb-CHANGE-ME, signing_secret: change_me, app_token: xapp-your-token-placeholder, approvers: [U02BOB]}
discord: {bot_token: "ChangeMe", application_id: "1", guild_id: "2", approver_roles: ["3"]}
providers:
  tmcas: {token: "<example token>"}
  graph: {tenant_id: t, client_id: c, client_secret: REPLACE-ME}`, nil, []string{
			`store.url: the password is a placeholder ("change-me"); set the real value`,
			`audit.key: is a placeholder ("change-me"); set the real value`,
			`slack.bot_token: is a placeholder ("change-me"); set the real value`,
			`slack.signing_secret: is a placeholder ("change-me"); set the real value`,
			`slack.app_token: is a placeholder ("placeholder"); set the real value`,
			`discord.bot_token: is a placeholder ("change-me"); set the real value`,
			`providers.tmcas.token: is a placeholder ("example"); set the real value`,
			`providers.graph.client_secret: is a placeholder ("replace-me"); set the real value`}},
		{"placeholder from the environment", withKey(""),
			[]string{"COUNTERSIGN_PROVIDERS_TMCAS_TOKEN=CHANGEME"},
			[]string{`providers.tmcas.token: is a placeholder ("change-me"); set the real value`}},
		{"placeholder in the store url's password parameter", withKey(`store: {url: "postgres://cs@db/cs?password=Placeholder"}`), nil,
			[]string{`store.url: the password is a placeholder ("placeholder"); set the real value`}},
		// Only the password of store.url is secret: an example host is
		// someone's naming, not a placeholder left in.
		{"example host in the store url", withKey(`store: {url: "postgres://cs:Xq7v9RkM2wT4@db.example.com/cs"}`), nil, nil},
		{"placeholder with a wrong shape is reported once", withKey(`slack: {bot_token: CHANGE-ME, signing_secret: "` +
			strongSigningSecret + `", approvers: [U02BOB]}`), nil,
			[]string{`slack.bot_token: is a placeholder ("change-me"); set the real value`}},

		{"audit key of few characters", "audit: {key: " + strings.Repeat("ab", 20) + "}", nil, []string{
			`audit.key: is too weak: fewer than 8 different characters; use random bytes, such as the output of openssl rand -base64 32`}},
		{"signing secret under 128 bits", slack("0123456789abcdef0123456789abcde"), nil, []string{
			`slack.signing_secret: is too weak: under 128 bits (hex counts 4 bits a digit, base64 6 a character, other text 8 a byte); copy the Signing Secret from the Slack app's Basic Information page`}},
		{"signing secret short text", slack("s3cret"), nil, []string{
			`slack.signing_secret: is too weak: under 128 bits (hex counts 4 bits a digit, base64 6 a character, other text 8 a byte); copy the Signing Secret from the Slack app's Basic Information page`}},
		{"signing secret of one character", slack(strings.Repeat("a", 40)), nil, []string{
			`slack.signing_secret: is too weak: fewer than 8 different characters; copy the Signing Secret from the Slack app's Basic Information page`}},
		{"signing secret of 32 hex digits", slack(strongSigningSecret), nil, nil},
		{"signing secret of 22 base64 characters", slack("q83vEjRWeJq8Xy+/Tm9AbC"), nil, nil},
		{"signing secret of 16 other bytes", slack("p@ss w0rd!#%&*()"), nil, nil},
		// The tokens are issued by Slack, Discord, Trend Micro and Entra:
		// their strength is the issuer's, only placeholders are refused.
		{"issued tokens are not measured", withKey(`
slack: {bot_token: xoxb-1, app_token: xapp-1, approvers: [U02BOB]}
providers: {tmcas: {token: t}}`), nil, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.doc), tc.environ)
			if diff := cmp.Diff(tc.want, problems(t, err)); diff != "" {
				t.Errorf("problems (-want +got):\n%s", diff)
			}
		})
	}
}

// TestValidatePermanentPurge: Graph's hard-delete and TMCAS's delete both
// delete mail permanently, so they need one quorum, purge-mail:permanent;
// a provider variant that would give another is refused.
func TestValidatePermanentPurge(t *testing.T) {
	for _, tc := range []struct {
		name    string
		actions string
		want    []string
	}{
		{"permanent alone", `"purge-mail:permanent": {approvals_required: 2}`, nil},
		{"variants agreeing with permanent", `
    "purge-mail:permanent": {approvals_required: 2}
    "purge-mail:hard-delete": {approvals_required: 2}
    "purge-mail:delete": {approvals_required: 2}`, nil},
		{"variants agreeing with the action's quorum", `
    "purge-mail": {approvals_required: 2}
    "purge-mail:hard-delete": {approvals_required: 2}`, nil},
		{"other variants are free", `
    "purge-mail:permanent": {approvals_required: 3}
    "purge-mail:soft-delete": {approvals_required: 2}
    "purge-mail:quarantine": {approvals_required: 1}`, nil},
		{"hard-delete alone", `"purge-mail:hard-delete": {approvals_required: 2}`, []string{
			`policy.actions.purge-mail:hard-delete: approvals_required 2 differs from permanent mail deletion's 1 (graph hard-delete and tmcas delete need one quorum); set "purge-mail:permanent": {approvals_required: 2} instead`}},
		{"tmcas delete alone", `"purge-mail:delete": {approvals_required: 3}`, []string{
			`policy.actions.purge-mail:delete: approvals_required 3 differs from permanent mail deletion's 1 (graph hard-delete and tmcas delete need one quorum); set "purge-mail:permanent": {approvals_required: 3} instead`}},
		{"variant against permanent", `
    "purge-mail:permanent": {approvals_required: 3}
    "purge-mail:hard-delete": {approvals_required: 2}
    "purge-mail:delete": {approvals_required: 3}`, []string{
			`policy.actions.purge-mail:hard-delete: approvals_required 2 differs from purge-mail:permanent's 3 (graph hard-delete and tmcas delete need one quorum); remove this key`}},
		{"variant against the action", `
    "purge-mail": {approvals_required: 2}
    "purge-mail:delete": {approvals_required: 1}`, []string{
			`policy.actions.purge-mail:delete: approvals_required 1 differs from permanent mail deletion's 2 (graph hard-delete and tmcas delete need one quorum); set "purge-mail:permanent": {approvals_required: 1} instead`}},
		{"permanent below 1", `"purge-mail:permanent": {approvals_required: 0}`, []string{
			`policy.actions.purge-mail:permanent.approvals_required: must be at least 1, got 0`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(withKey("policy:\n  actions:\n    "+strings.TrimSpace(tc.actions)+"\n")), nil)
			if diff := cmp.Diff(tc.want, problems(t, err)); diff != "" {
				t.Errorf("problems (-want +got):\n%s", diff)
			}
		})
	}
}

// TestPermanentPurgeFromTheEnvironment: the key has a variable like every
// policy.actions key, and Policy passes it on.
func TestPermanentPurgeFromTheEnvironment(t *testing.T) {
	c, err := Parse([]byte(withKey("")), []string{"COUNTERSIGN_POLICY_ACTIONS_PURGE_MAIL_PERMANENT_APPROVALS_REQUIRED=2"})
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Policy().Overrides["purge-mail:permanent"]; got != 2 {
		t.Errorf("Overrides[purge-mail:permanent]: got %d, want 2", got)
	}
}

// TestPermanentMailActionsExist: every permanent purge-mail action the
// policy knows is an --action its provider accepts, so that the quorum of
// purge-mail:permanent cannot silently miss a provider's delete.
func TestPermanentMailActionsExist(t *testing.T) {
	perm := approvals.PermanentMailActions()
	for _, p := range []string{providers.Graph, providers.TMCAS} {
		a, ok := perm[p]
		if !ok {
			t.Errorf("provider %s has no permanent purge-mail action", p)
			continue
		}
		if !slices.Contains(approvals.MailActions(p), a) {
			t.Errorf("permanent action %q of %s is not one of its --action values %v", a, p, approvals.MailActions(p))
		}
	}
	if len(perm) != 2 {
		t.Errorf("PermanentMailActions: got %v, want one action for each of graph and tmcas", perm)
	}
}
