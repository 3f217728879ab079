package config

import (
	"errors"
	"io/fs"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestLoadFile(t *testing.T) {
	p := writeFile(t, "countersign.yaml", withKey(`
http: {listen: "127.0.0.1:9090"}
policy: {max_targets: 5}
`))
	c, err := Load(p, []string{"COUNTERSIGN_POLICY_MAX_TARGETS=7", "PATH=/usr/bin"})
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if c.HTTP.Listen != "127.0.0.1:9090" || c.PolicySettings.MaxTargets != 7 {
		t.Errorf("got listen %q max_targets %d, want 127.0.0.1:9090 and 7 (env over file)", c.HTTP.Listen, c.PolicySettings.MaxTargets)
	}

	c, err = Load("", []string{"COUNTERSIGN_AUDIT_KEY=" + testAuditKey})
	if err != nil {
		t.Fatalf(`Load(""): %v`, err)
	}
	if c.Audit.Key != testAuditKey {
		t.Errorf(`Load("") did not apply the environment`)
	}
}

func TestLoadFileErrors(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "nope.yaml")
	_, err := Load(missing, nil)
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Load(missing) = %v, want an error wrapping fs.ErrNotExist", err)
	}

	for _, tc := range []struct {
		name, doc, want string
	}{
		{"syntax", "http:\n  listen: [\n", "loading config: yaml: line 2: did not find expected node content"},
		{"duplicate key", "http: {}\nhttp: {}\n", `loading config: yaml: unmarshal errors:
  line 2: mapping key "http" already defined at line 1`},
		// A secret file passed as the config must not come back in the error.
		{"scalar document", "xoxb-SECRET-TOKEN-VALUE\n", "loading config: the document must be a mapping of keys such as http:, store:, policy:"},
		{"list document", "- a\n- b\n", "loading config: the document must be a mapping of keys such as http:, store:, policy:"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.doc), nil)
			if err == nil || err.Error() != tc.want {
				t.Errorf("Parse(%q) error:\n got %v\nwant %s", tc.doc, err, tc.want)
			}
		})
	}
}

// TestDecodeErrors covers what the decoder refuses before validation:
// unknown keys and values of the wrong type.
func TestDecodeErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		doc  string
		want []string
	}{
		{"unknown top-level key", "polcy: {}\n", []string{`polcy: unknown key (did you mean policy?)`}},
		{"unknown nested key", "policy: {approval_required: 2}\n",
			[]string{`policy.approval_required: unknown key (did you mean policy.approvals_required?)`}},
		{"unknown key without a near miss", "slack: {webhook: x}\n", []string{`slack.webhook: unknown key`}},
		{"unknown key in a list of records", "people: [{name: a, mail: a@x}]\n",
			[]string{`people[0].mail: unknown key (did you mean people[0].email?)`}},
		{"unknown key in a map value", "policy: {actions: {disable: {approvals: 2}}}\n",
			[]string{`policy.actions.disable.approvals: unknown key`, `policy.actions.disable.approvals_required: must be at least 1, got 0`}},
		{"file form of a non-secret", "slack: {api_url_file: /x}\n", []string{`slack.api_url_file: unknown key`}},
		{"several unknown keys, sorted", "zzz: 1\naaa: 2\nhttp: {lisen: x}\n", []string{
			`http.lisen: unknown key (did you mean http.listen?)`, `aaa: unknown key`, `zzz: unknown key`}},
		{"section not a mapping", "http: 5\n", []string{`http: must be a mapping of keys, got an integer`}},
		{"int as string", "policy: {max_targets: \"10\"}\n", []string{`policy.max_targets: must be an integer, got a string`}},
		{"int as float", "policy: {max_targets: 10.5}\n", []string{`policy.max_targets: must be an integer, got a number`}},
		{"duration without unit", "policy: {request_ttl: 60}\n",
			[]string{`policy.request_ttl: must be a duration such as 15s, 1h30m or 720h, got an integer`}},
		{"duration in words", "policy: {request_ttl: 1 hour}\n",
			[]string{`policy.request_ttl: "1 hour" is not a duration such as 15s, 1h30m or 720h`}},
		{"bool as string", "policy: {require_reason: \"yes\"}\n", []string{`policy.require_reason: must be true or false, got a string`}},
		{"list as scalar", "policy: {admins: alice}\n", []string{`policy.admins: must be a list, got a string`}},
		{"list item not a string", "policy: {protected_targets: [a, [b]]}\n",
			[]string{`policy.protected_targets[1]: must be a string, got a list`}},
		{"null list item", "policy: {protected_targets: [a, ~]}\n", []string{`policy.protected_targets[1]: must not be null`}},
		{"secret of the wrong type names no value", "slack: {bot_token: [xoxb-secret]}\n",
			[]string{`slack.bot_token: must be a string, got a list`}},
		{"float id", "discord: {application_id: 1.5e+18}\n",
			[]string{`discord.application_id: must be a string, got a number (put the value in quotes)`}},
		{"null route", "routes: {disable: ~}\n", []string{`routes.disable: must not be null`}},
		{"record list not a list", "people: {name: bob}\n", []string{`people: must be a list, got a mapping`}},
		{"record not a mapping", "people: [bob]\n", []string{`people[0]: must be a mapping of keys, got a string`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(withKey(tc.doc)), nil)
			if diff := cmp.Diff(tc.want, problems(t, err)); diff != "" {
				t.Errorf("problems (-want +got):\n%s", diff)
			}
		})
	}
}

// TestDecodeFailureSilencesValidation: a value that cannot be read is
// reported once, not again as missing.
func TestDecodeFailureSilencesValidation(t *testing.T) {
	_, err := Parse([]byte(withKey("slack: {bot_token: xoxb-1, app_token: xapp-1, approvers: U02BOB}\n")), nil)
	want := []string{`slack.approvers: must be a list, got a string`}
	if diff := cmp.Diff(want, problems(t, err)); diff != "" {
		t.Errorf("problems (-want +got):\n%s", diff)
	}
}

func TestUnquotedIntegersAsStrings(t *testing.T) {
	c, err := Parse([]byte(withKey(`
people: [{name: bob, discord: 4242}]
discord: {bot_token: t, application_id: 1000000000000000001, guild_id: 18446744073709551615, approver_roles: [12, "13"]}
`)), nil)
	if err != nil {
		t.Fatal(err)
	}
	got := []string{c.People[0].Discord, c.Discord.ApplicationID, c.Discord.GuildID, c.Discord.ApproverRoles[0], c.Discord.ApproverRoles[1]}
	want := []string{"4242", "1000000000000000001", "18446744073709551615", "12", "13"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("ids (-want +got):\n%s", diff)
	}
}

// TestEnvTableCoversEveryKey sets every variable of the table and checks it
// lands on its key: the mapping is derived, so this is what proves it.
func TestEnvTableCoversEveryKey(t *testing.T) {
	table := envTable()
	keys := 0
	leaves(true, func(l leaf) {
		if !l.EnvOK {
			return
		}
		keys++
		if l.Secret != notSecret {
			keys++
		}
	})
	if len(table) != keys {
		t.Fatalf("envTable has %d variables for %d keys: two keys share a variable name", len(table), keys)
	}
	for name, e := range table {
		if e.File {
			continue
		}
		t.Run(name, func(t *testing.T) {
			var raw string
			var want any
			switch {
			case isDuration(e.Type):
				raw, want = "3m", 3*time.Minute
			case e.Type.Kind() == reflect.Int:
				raw, want = "42", 42
			case e.Type.Kind() == reflect.Bool:
				// Both values are checked, so neither default can pass.
				raw, want = "true", true
			case e.Type.Kind() == reflect.Slice:
				raw, want = " a, b ,,c", []string{"a", "b", "c"}
			default:
				raw, want = "v-"+strings.ToLower(name), "v-"+strings.ToLower(name)
			}
			c, probs := decodeOnly(t, "", []string{name + "=" + raw})
			if len(probs) > 0 {
				t.Fatalf("problems: %q", probs)
			}
			got := valueAt(t, c, e.Key)
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("%s=%q set %s to (-want +got):\n%s", name, raw, e.Key, diff)
			}
			if e.Type.Kind() == reflect.Bool {
				c, _ := decodeOnly(t, "", []string{name + "=false"})
				if got := valueAt(t, c, e.Key); got != false {
					t.Errorf("%s=false set %s to %v", name, e.Key, got)
				}
			}
		})
	}
}

func TestEnvNames(t *testing.T) {
	// The documented examples, and keys whose names are ambiguous when
	// every separator becomes "_".
	for _, tc := range []struct {
		env, value, key string
		want            any
	}{
		{"COUNTERSIGN_SLACK_BOT_TOKEN", "xoxb-1", "slack.bot_token", "xoxb-1"},
		{"COUNTERSIGN_PROVIDERS_GRAPH_CLIENT_SECRET", "s", "providers.graph.client_secret", "s"},
		{"COUNTERSIGN_STORE_URL", "postgres://u@h/db", "store.url", "postgres://u@h/db"},
		{"COUNTERSIGN_PROVIDERS_GRAPH_ENABLE_LEGACY_SECURITY_ACTIONS", "1", "providers.graph.enable_legacy_security_actions", true},
		{"COUNTERSIGN_HTTP_PUBLIC_URL", "https://x", "http.public_url", "https://x"},
		{"COUNTERSIGN_ROUTES_RESET_PASSWORD", "graph", "routes.reset-password", "graph"},
		{"COUNTERSIGN_ROUTES_PURGE_MAIL", "tmcas", "routes.purge-mail", "tmcas"},
		{"COUNTERSIGN_POLICY_ACTIONS_PURGE_MAIL_HARD_DELETE_APPROVALS_REQUIRED", "2",
			"policy.actions.purge-mail:hard-delete", ActionPolicy{ApprovalsRequired: 2}},
		{"COUNTERSIGN_POLICY_ACTIONS_PURGE_MAIL_APPROVALS_REQUIRED", "3",
			"policy.actions.purge-mail", ActionPolicy{ApprovalsRequired: 3}},
		{"COUNTERSIGN_SLACK_APPROVERS", "S0LEADS, U02BOB", "slack.approvers", []string{"S0LEADS", "U02BOB"}},
		{"COUNTERSIGN_POLICY_PROTECTED_TARGETS", "ceo@contoso.com,*@breakglass.contoso.com",
			"policy.protected_targets", []string{"ceo@contoso.com", "*@breakglass.contoso.com"}},
		{"COUNTERSIGN_PROVIDERS_GRAPH_MAIL_LOOKBACK", "48h", "providers.graph.mail_lookback", 48 * time.Hour},
	} {
		t.Run(tc.env, func(t *testing.T) {
			if got := EnvName(tc.key); !strings.HasPrefix(tc.env, got) {
				t.Errorf("EnvName(%q) = %q, want a prefix of %q", tc.key, got, tc.env)
			}
			c, probs := decodeOnly(t, "", []string{tc.env + "=" + tc.value})
			if len(probs) > 0 {
				t.Fatalf("problems: %q", probs)
			}
			if diff := cmp.Diff(tc.want, valueAt(t, c, tc.key)); diff != "" {
				t.Errorf("%s (-want +got):\n%s", tc.key, diff)
			}
		})
	}
}

func TestEnvRules(t *testing.T) {
	for _, tc := range []struct {
		name    string
		doc     string
		environ []string
		check   func(t *testing.T, c *Config)
		want    []string
	}{
		{
			name:    "env beats file, lists replace",
			doc:     "policy: {max_targets: 5, admins: [a, b]}\nslack: {channels: [C1]}\n",
			environ: []string{"COUNTERSIGN_POLICY_MAX_TARGETS=7", "COUNTERSIGN_SLACK_CHANNELS=C2,C3"},
			check: func(t *testing.T, c *Config) {
				if c.PolicySettings.MaxTargets != 7 || !cmp.Equal(c.Slack.Channels, []string{"C2", "C3"}) ||
					!cmp.Equal(c.PolicySettings.Admins, []string{"a", "b"}) {
					t.Errorf("got max_targets %d channels %q admins %q", c.PolicySettings.MaxTargets, c.Slack.Channels, c.PolicySettings.Admins)
				}
			},
		},
		{
			name:    "empty value is ignored",
			doc:     "policy: {max_targets: 5}\n",
			environ: []string{"COUNTERSIGN_POLICY_MAX_TARGETS=", "COUNTERSIGN_LOG_LEVEL="},
			check: func(t *testing.T, c *Config) {
				if c.PolicySettings.MaxTargets != 5 || c.Log.Level != "info" {
					t.Errorf("got max_targets %d level %q, want 5 and info", c.PolicySettings.MaxTargets, c.Log.Level)
				}
			},
		},
		{
			name:    "other variables are not ours",
			environ: []string{"PATH=/bin", "COUNTERSIGNX=1", "countersign_log_level=debug", "NOEQUALS"},
			check: func(t *testing.T, c *Config) {
				if c.Log.Level != "info" {
					t.Errorf("log.level = %q, want info", c.Log.Level)
				}
			},
		},
		{
			name: "unknown variables",
			environ: []string{
				"COUNTERSIGN_SLACK_BOTTOKEN=secret-value", "COUNTERSIGN_PEOPLE_0_NAME=bob",
				"COUNTERSIGN_ROUTES_FROBNICATE=graph", "COUNTERSIGN_SLACK_API_URL_FILE=/x", "COUNTERSIGN_=1",
			},
			want: []string{
				`COUNTERSIGN_: unknown environment variable`,
				`COUNTERSIGN_PEOPLE_0_NAME: unknown environment variable`,
				`COUNTERSIGN_ROUTES_FROBNICATE: unknown environment variable`,
				`COUNTERSIGN_SLACK_API_URL_FILE: unknown environment variable (did you mean COUNTERSIGN_SLACK_API_URL?)`,
				`COUNTERSIGN_SLACK_BOTTOKEN: unknown environment variable (did you mean COUNTERSIGN_SLACK_BOT_TOKEN?)`,
			},
		},
		{
			name: "bad values",
			environ: []string{
				"COUNTERSIGN_POLICY_MAX_TARGETS=lots", "COUNTERSIGN_POLICY_REQUIRE_REASON=maybe",
				"COUNTERSIGN_ENGINE_POLL_INTERVAL=15",
			},
			want: []string{
				`COUNTERSIGN_ENGINE_POLL_INTERVAL: "15" is not a duration such as 15s, 1h30m or 720h`,
				`COUNTERSIGN_POLICY_MAX_TARGETS: "lots" is not an integer`,
				`COUNTERSIGN_POLICY_REQUIRE_REASON: "maybe" is not true or false`,
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, probs := decodeOnly(t, tc.doc, tc.environ)
			if diff := cmp.Diff(tc.want, probs); diff != "" {
				t.Errorf("problems (-want +got):\n%s", diff)
			}
			if tc.check != nil {
				tc.check(t, c)
			}
		})
	}
}

func TestSecretFiles(t *testing.T) {
	tokenFile := writeFile(t, "token", "xoxb-from-file\n")
	crlfFile := writeFile(t, "crlf", "s3cret\r\n")
	twoNewlines := writeFile(t, "two", "tok\n\n")
	emptyFile := writeFile(t, "empty", "\n")
	urlFile := writeFile(t, "url", "postgres://app:pw@db/countersign\n")
	missing := filepath.Join(t.TempDir(), "missing")

	for _, tc := range []struct {
		name    string
		doc     string
		environ []string
		key     string
		want    string
		probs   []string
	}{
		{name: "yaml _file", doc: "slack: {bot_token_file: " + tokenFile + "}\n", key: "slack.bot_token", want: "xoxb-from-file"},
		{name: "crlf trimmed", doc: "slack: {signing_secret_file: " + crlfFile + "}\n", key: "slack.signing_secret", want: "s3cret"},
		{name: "one newline trimmed", doc: "audit: {key_file: " + twoNewlines + "}\n", key: "audit.key", want: "tok\n"},
		{name: "store url from file", doc: "store: {url_file: " + urlFile + "}\n", key: "store.url", want: "postgres://app:pw@db/countersign"},
		{name: "env _FILE", environ: []string{"COUNTERSIGN_PROVIDERS_GRAPH_CLIENT_SECRET_FILE=" + crlfFile},
			key: "providers.graph.client_secret", want: "s3cret"},
		{name: "env file beats yaml value", doc: "slack: {bot_token: xoxb-yaml}\n",
			environ: []string{"COUNTERSIGN_SLACK_BOT_TOKEN_FILE=" + tokenFile}, key: "slack.bot_token", want: "xoxb-from-file"},
		{name: "env value beats yaml file", doc: "slack: {bot_token_file: " + missing + "}\n",
			environ: []string{"COUNTERSIGN_SLACK_BOT_TOKEN=xoxb-env"}, key: "slack.bot_token", want: "xoxb-env"},
		{name: "both in yaml", doc: "slack: {bot_token: xoxb-1, bot_token_file: " + tokenFile + "}\n",
			probs: []string{`slack.bot_token: set either bot_token or bot_token_file, not both`}},
		{name: "both in env", environ: []string{"COUNTERSIGN_AUDIT_KEY_FILE=" + tokenFile, "COUNTERSIGN_AUDIT_KEY=k"},
			probs: []string{`COUNTERSIGN_AUDIT_KEY: set either COUNTERSIGN_AUDIT_KEY or COUNTERSIGN_AUDIT_KEY_FILE, not both`}},
		{name: "unreadable", doc: "providers: {tmcas: {token_file: " + missing + "}}\n",
			probs: []string{`providers.tmcas.token_file: reading secret: open ` + missing + `: no such file or directory`}},
		{name: "empty", doc: "discord: {bot_token_file: " + emptyFile + "}\n",
			probs: []string{`discord.bot_token_file: ` + emptyFile + ` is empty`}},
		{name: "path not a string", doc: "audit: {key_file: [a]}\n",
			probs: []string{`audit.key_file: must be a file path, got a list`}},
		{name: "path empty", doc: "audit: {key_file: \"\"}\n",
			probs: []string{`audit.key_file: must be a file path, got an empty string`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, probs := decodeOnly(t, tc.doc, tc.environ)
			if diff := cmp.Diff(tc.probs, probs); diff != "" {
				t.Fatalf("problems (-want +got):\n%s", diff)
			}
			if tc.key != "" {
				if got := valueAt(t, c, tc.key); got != tc.want {
					t.Errorf("%s = %q, want %q", tc.key, got, tc.want)
				}
			}
		})
	}
}

// TestEverySecretReadsFiles checks that each secret key has a working
// _file form in YAML and in the environment.
func TestEverySecretReadsFiles(t *testing.T) {
	leaves(true, func(l leaf) {
		if l.Secret == notSecret {
			return
		}
		t.Run(l.Key, func(t *testing.T) {
			want := "value-of-" + l.Key
			p := writeFile(t, "secret", want+"\n")
			// YAML: nest key_file under its sections.
			parts := strings.Split(l.Key, ".")
			doc := parts[len(parts)-1] + "_file: " + p
			for i := len(parts) - 2; i >= 0; i-- {
				doc = parts[i] + ": {" + doc + "}"
			}
			c, probs := decodeOnly(t, doc+"\n", nil)
			if len(probs) > 0 || valueAt(t, c, l.Key) != want {
				t.Errorf("yaml %s: got %q, problems %q", doc, valueAt(t, c, l.Key), probs)
			}
			c, probs = decodeOnly(t, "", []string{EnvName(l.Key+fileSuffix) + "=" + p})
			if len(probs) > 0 || valueAt(t, c, l.Key) != want {
				t.Errorf("env %s: got %q, problems %q", EnvName(l.Key+fileSuffix), valueAt(t, c, l.Key), probs)
			}
		})
	})
}
