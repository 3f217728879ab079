package config

import (
	"testing"
)

// seedConfig is a valid document with literal secrets (fuzz seeds cannot
// depend on temporary files).
const seedConfig = `
http: {listen: ":8080", public_url: "https://countersign.example.com", read_timeout: 5s}
store: {url: "postgres://cs:pw@db/cs?sslmode=disable"}
audit: {key: "0123456789abcdef0123456789abcdef"}
log: {level: debug, format: text}
policy:
  approvals_required: 1
  request_ttl: 1h
  max_targets: 100
  require_reason: true
  protected_targets: ["ceo@contoso.com", "*@breakglass.contoso.com"]
  admins: [bob]
  actions: { "purge-mail:permanent": { approvals_required: 2 } }
people: [ { name: bob, email: bob@contoso.com, slack: U02BOB, discord: "4242" }, {name: alice} ]
slack:
  bot_token: xoxb-1
  signing_secret: 8f14e45fceea167a5a36dedd4bea2543
  channels: [C0SOC]
  requesters: [S0RESPONDERS]
  approvers: [S0LEADS, U02BOB]
  digest_channel: C0SOC
discord: {bot_token: t, application_id: "1", guild_id: "2", approver_roles: ["3"]}
providers:
  tmcas: { region: us, base_url: "", token: "tok", requests_per_minute: 20 }
  graph: {cloud: global, tenant_id: t, client_id: c, client_secret: s, identity_provider: activeDirectory}
routes: { disable: tmcas, reset-password: graph, purge-mail: graph }
digest: { schedule: "0 9 * * 1-5", timezone: "UTC" }
engine: {poll_interval: 1m30s, expiry_sweep: "@hourly"}
`

// TestSeedConfigIsValid keeps the fuzz seed a document Parse accepts, so
// that the fuzzer starts from the accepting paths.
func TestSeedConfigIsValid(t *testing.T) {
	if _, err := Parse([]byte(seedConfig), nil); err != nil {
		t.Errorf("seedConfig: %v", err)
	}
}

// FuzzParse: Parse never panics, and whatever it accepts prints (Redacted)
// and re-loads to the same configuration apart from the secrets.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"",
		"~",
		withKey(""),
		seedConfig,
		"policy: {actions: {disable: {approvals_required: 2}}}\n",
		"people: [{name: \"a: b\", email: \"'x'@y\"}, {name: \"#\"}]\n",
		"http: {listen: \"[::1]:0\", public_url: \"http://x/\\u00e9\"}\n",
		"policy: {request_ttl: 1.5h, protected_targets: [\"*\", \"\\t*@x\"]}\n",
		"routes: {disable: ~}\n",
		"slack: {bot_token_file: /nonexistent}\n",
		"a: &a [*a]\n",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, doc string) {
		for _, opts := range [][]Option{nil, {AllowInsecureAuditKey()}} {
			c, err := Parse([]byte(doc), nil, opts...)
			if err != nil {
				continue
			}
			out, err := c.Redacted()
			if err != nil {
				t.Fatalf("Redacted of an accepted config: %v", err)
			}
			back, _, errs, err := decodeSources(rawBytes(out), "redacted", nil, false)
			if err != nil || len(errs) > 0 {
				t.Fatalf("re-loading Redacted output: %v %v\n%s", err, errs, out)
			}
			assertSameApartFromSecrets(t, c, back)
		}
	})
}
