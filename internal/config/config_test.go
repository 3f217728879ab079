package config

import (
	"bytes"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/countersign/countersign/approvals"
)

func TestDefaults(t *testing.T) {
	c, err := Parse(nil, nil, AllowInsecureAuditKey())
	if err != nil {
		t.Fatalf("Parse(empty): %v", err)
	}
	if diff := cmp.Diff(Default(), c); diff != "" {
		t.Errorf("empty config differs from Default() (-want +got):\n%s", diff)
	}
	// The documented defaults, spelled out so that a change to Default()
	// cannot pass unnoticed.
	for _, tc := range []struct {
		key  string
		want any
	}{
		{"http.listen", ":8080"},
		{"http.public_url", ""},
		{"http.read_timeout", 10 * time.Second},
		{"http.shutdown_timeout", 10 * time.Second},
		{"store.url", "sqlite:countersign.db"},
		{"audit.key", ""},
		{"log.level", "info"},
		{"log.format", "json"},
		{"policy.approvals_required", 1},
		{"policy.request_ttl", time.Hour},
		{"policy.max_targets", 100},
		{"policy.require_reason", true},
		{"policy.protected_targets", []string(nil)},
		{"policy.admins", []string(nil)},
		{"slack.api_url", "https://slack.com/api/"},
		{"discord.api_url", "https://discord.com/api/v10"},
		{"providers.tmcas.region", "us"},
		{"providers.tmcas.requests_per_minute", 20},
		{"providers.tmcas.max_items_per_call", 100},
		{"providers.tmcas.sweep_days", 30},
		{"providers.graph.cloud", "global"},
		{"providers.graph.identity_provider", "activeDirectory"},
		{"providers.graph.enable_legacy_security_actions", false},
		{"providers.graph.requests_per_second", 20},
		{"providers.graph.mail_lookback", 720 * time.Hour},
		{"digest.schedule", "0 9 * * 1-5"},
		{"digest.timezone", "UTC"},
		{"engine.poll_interval", 15 * time.Second},
		{"engine.poll_deadline", 2 * time.Hour},
		{"engine.workers", 10},
		{"engine.expiry_sweep", "@every 1m"},
	} {
		t.Run(tc.key, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, valueAt(t, c, tc.key)); diff != "" {
				t.Errorf("default of %s (-want +got):\n%s", tc.key, diff)
			}
		})
	}
	for name, got := range map[string]bool{
		"SlackEnabled": c.SlackEnabled(), "DiscordEnabled": c.DiscordEnabled(),
		"TMCASEnabled": c.TMCASEnabled(), "GraphEnabled": c.GraphEnabled(),
	} {
		if got {
			t.Errorf("%s() = true on the default config, want false", name)
		}
	}
}

func TestDefaultIsIndependent(t *testing.T) {
	a := Default()
	a.PolicySettings.ProtectedTargets = append(a.PolicySettings.ProtectedTargets, "x")
	a.HTTP.Listen = ":1"
	if b := Default(); b.HTTP.Listen != ":8080" || len(b.PolicySettings.ProtectedTargets) != 0 {
		t.Errorf("changing one Default() changed the next: %+v", b)
	}
}

func TestPolicy(t *testing.T) {
	c, err := Parse([]byte(withKey(`
policy:
  approvals_required: 2
  request_ttl: 30m
  max_targets: 7
  require_reason: false
  protected_targets: ["ceo@contoso.com", "*@breakglass.contoso.com"]
  actions:
    purge-mail:permanent: {approvals_required: 3}
    disable: {approvals_required: 1}
`)), nil)
	if err != nil {
		t.Fatal(err)
	}
	got := c.Policy()
	want := approvals.Policy{
		ApprovalsRequired: 2,
		Overrides:         map[string]int{"purge-mail:permanent": 3, "disable": 1},
		RequestTTL:        30 * time.Minute,
		MaxTargets:        7,
		RequireReason:     false,
		Protected:         []string{"ceo@contoso.com", "*@breakglass.contoso.com"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Policy() (-want +got):\n%s", diff)
	}
	// The policy must behave as configured, not only look like it.
	for _, tc := range []struct {
		spec approvals.Spec
		want int
	}{
		{approvals.Spec{Action: approvals.ActionPurgeMail, Provider: "graph", Mail: &approvals.MailOptions{Action: "hard-delete"}}, 3},
		{approvals.Spec{Action: approvals.ActionPurgeMail, Provider: "tmcas", Mail: &approvals.MailOptions{Action: "delete"}}, 3},
		{approvals.Spec{Action: approvals.ActionPurgeMail, Provider: "graph", Mail: &approvals.MailOptions{Action: "soft-delete"}}, 2},
		{approvals.Spec{Action: approvals.ActionPurgeMail, Provider: "tmcas", Mail: &approvals.MailOptions{Action: "quarantine"}}, 2},
		{approvals.Spec{Action: approvals.ActionDisable}, 1},
		{approvals.Spec{Action: approvals.ActionEnable}, 2},
	} {
		if n := got.Required(tc.spec); n != tc.want {
			t.Errorf("Required(%s) = %d, want %d", tc.spec.PolicyKey(), n, tc.want)
		}
	}
	if g, ok := got.Protects("Admin@BreakGlass.contoso.com"); !ok || g != "*@breakglass.contoso.com" {
		t.Errorf("Protects(admin@breakglass) = %q, %v; want the breakglass glob", g, ok)
	}
	// The returned policy must not share the config's slices.
	got.Protected[0] = "changed"
	if c.PolicySettings.ProtectedTargets[0] != "ceo@contoso.com" {
		t.Errorf("changing Policy().Protected changed the config")
	}
}

func TestDirectoryAndAdmins(t *testing.T) {
	c, err := Parse([]byte(withKey(`
people:
  - {name: alice, email: Alice@contoso.com, slack: U01ALICE, discord: "1001"}
  - {name: bob, email: bob@contoso.com, slack: U02BOB, discord: 4242}
policy: {admins: [alice]}
`)), nil)
	if err != nil {
		t.Fatal(err)
	}
	d, err := c.Directory()
	if err != nil {
		t.Fatalf("Directory: %v", err)
	}
	for _, tc := range []struct {
		platform, account, email, want string
	}{
		{approvals.PlatformSlack, "U02BOB", "", "bob"},
		{approvals.PlatformSlack, "U09NEW", "alice@contoso.com", "alice"},
		{approvals.PlatformDiscord, "4242", "", "bob"},
		{approvals.PlatformConsole, "alice", "", "alice"},
		{approvals.PlatformSlack, "U09NEW", "", ""},
	} {
		p, _ := d.Lookup(tc.platform, tc.account, tc.email)
		if p.Name != tc.want {
			t.Errorf("Lookup(%s, %s, %q) = %q, want %q", tc.platform, tc.account, tc.email, p.Name, tc.want)
		}
	}
	if !c.IsAdmin("alice") || c.IsAdmin("bob") || c.IsAdmin("") {
		t.Errorf("IsAdmin: alice=%v bob=%v empty=%v, want true false false", c.IsAdmin("alice"), c.IsAdmin("bob"), c.IsAdmin(""))
	}
}

func TestEnabled(t *testing.T) {
	for _, tc := range []struct {
		name                         string
		doc                          string
		slack, discord, tmcas, graph bool
	}{
		{name: "nothing", doc: ""},
		{name: "api urls alone enable nothing", doc: `
slack: {api_url: "http://127.0.0.1:1/api/"}
discord: {api_url: "http://127.0.0.1:1/api"}
providers: {tmcas: {base_url: "http://127.0.0.1:2"}, graph: {base_url: "http://127.0.0.1:3"}}`},
		{name: "slack http mode", slack: true, doc: `
slack: {bot_token: xoxb-1, signing_secret: "` + strongSigningSecret + `", approvers: [S0LEADS]}`},
		{name: "slack socket mode", slack: true, doc: `
slack: {bot_token: xoxb-1, app_token: xapp-1, approvers: [U02BOB]}`},
		{name: "discord", discord: true, doc: `
discord: {bot_token: t, application_id: "1", guild_id: "2", approver_roles: ["3"]}`},
		{name: "providers", tmcas: true, graph: true, doc: `
providers:
  tmcas: {token: t}
  graph: {tenant_id: contoso.onmicrosoft.com, client_id: c, client_secret: s}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Parse([]byte(withKey(tc.doc)), nil)
			if err != nil {
				t.Fatal(err)
			}
			got := []bool{c.SlackEnabled(), c.DiscordEnabled(), c.TMCASEnabled(), c.GraphEnabled()}
			want := []bool{tc.slack, tc.discord, tc.tmcas, tc.graph}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("[slack discord tmcas graph] enabled (-want +got):\n%s", diff)
			}
		})
	}
}

func TestLogHandler(t *testing.T) {
	for _, tc := range []struct {
		log         Log
		level       slog.Level
		wantPrefix  string
		wantDropped bool // a debug line is dropped
	}{
		{Log{Level: "debug", Format: "text"}, slog.LevelDebug, "time=", false},
		{Log{Level: "info", Format: "json"}, slog.LevelInfo, "{", true},
		{Log{Level: "warn", Format: "json"}, slog.LevelWarn, "", true},
		{Log{Level: "error", Format: "text"}, slog.LevelError, "", true},
	} {
		if got := tc.log.SlogLevel(); got != tc.level {
			t.Errorf("%+v.SlogLevel() = %v, want %v", tc.log, got, tc.level)
		}
		var buf bytes.Buffer
		l := slog.New(tc.log.Handler(&buf))
		l.Debug("d")
		if dropped := buf.Len() == 0; dropped != tc.wantDropped {
			t.Errorf("%+v: debug line dropped = %v, want %v", tc.log, dropped, tc.wantDropped)
		}
		buf.Reset()
		l.Error("e")
		if !strings.HasPrefix(buf.String(), tc.wantPrefix) {
			t.Errorf("%+v: line %q does not start with %q", tc.log, buf.String(), tc.wantPrefix)
		}
	}
}

func TestTMCASURL(t *testing.T) {
	regions := TMCASRegions()
	if diff := cmp.Diff([]string{"au", "ca", "eu", "in", "jp", "sg", "uk", "us"}, slices.Sorted(maps.Keys(regions))); diff != "" {
		t.Errorf("TMCASRegions keys (-want +got):\n%s", diff)
	}
	for _, tc := range []struct {
		tmcas TMCAS
		want  string
	}{
		{TMCAS{Region: "us"}, "https://api.tmcas.trendmicro.com"},
		{TMCAS{Region: "uk"}, "https://api.tmcas.trendmicro.co.uk"},
		{TMCAS{Region: "au"}, "https://api-au.tmcas.trendmicro.com"},
		{TMCAS{Region: "in"}, "https://api-in.tmcas.trendmicro.com"},
		{TMCAS{Region: "eu", BaseURL: "http://127.0.0.1:9"}, "http://127.0.0.1:9"},
		{TMCAS{Region: "mars"}, ""},
	} {
		if got := tc.tmcas.URL(); got != tc.want {
			t.Errorf("%+v.URL() = %q, want %q", tc.tmcas, got, tc.want)
		}
	}
}
