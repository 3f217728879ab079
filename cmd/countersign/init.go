package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"text/template"
)

// initOptions are the choices of countersign init.
type initOptions struct {
	Slack, Discord, TMCAS, Graph, Postgres bool
	// PublicURL is http.public_url ("": written commented out).
	PublicURL string
	// SecretsDir is the directory the *_file keys point into.
	SecretsDir string
}

// secretFile is one file the generated configuration reads a secret from,
// with how to fill it.
type secretFile struct {
	Name string // file name inside SecretsDir
	How  string
}

// secrets returns the files the configuration of o reads, in the order
// the file names them.
func (o initOptions) secrets() []secretFile {
	out := []secretFile{{"audit-key", "openssl rand -base64 32 (the audit log's HMAC key; keep a copy: without it the log cannot be verified)"}}
	if o.Postgres {
		out = append(out, secretFile{"store-url", "postgres://countersign:PASSWORD@HOST:5432/countersign?sslmode=verify-full (the whole URL; percent-encode the password)"})
	}
	if o.Slack {
		out = append(out,
			secretFile{"slack-bot-token", "the Bot User OAuth Token, xoxb-… (OAuth & Permissions, after installing the app)"},
			secretFile{"slack-signing-secret", "the Signing Secret (Basic Information → App Credentials)"})
	}
	if o.Discord {
		out = append(out, secretFile{"discord-bot-token", "the bot token (developer portal → Bot → Reset Token)"})
	}
	if o.TMCAS {
		out = append(out, secretFile{"tmcas-token", "the Cloud App Security Integration API token (Administration → Automation and Integration APIs → Generate)"})
	}
	if o.Graph {
		out = append(out, secretFile{"graph-client-secret", "the client secret's value (Entra admin center → App registrations → Certificates & secrets)"})
	}
	return out
}

// File returns the path of a secret file.
func (o initOptions) File(name string) string { return filepath.Join(o.SecretsDir, name) }

// initTemplate is the configuration countersign init writes. Every value
// it writes passes validation; the ids nobody can know yet are the
// placeholders config check names in its warnings (U0CHANGEME, "0", the
// all-zero GUID), so that the file loads and the check lists what is left.
const initTemplate = `# countersign.yaml, written by countersign init{{if .Flags}} {{.Flags}}{{end}}.
# Every key: internal/config/reference.md. Each key may also be set by an
# environment variable, COUNTERSIGN_ and the key in capitals with _ for the
# dots (slack.bot_token: COUNTERSIGN_SLACK_BOT_TOKEN). Secrets never go in
# this file: each *_file key names a file holding one, created outside git.
# Check it with: countersign config check --config THIS-FILE

http:
  # The address serve listens on for Slack and Discord requests, /healthz,
  # /readyz and /metrics (keep /metrics off the internet).
  listen: ":8080"
  # The https address Slack and Discord reach serve at, through your
  # ingress or proxy: countersign slack manifest points the request URLs at
  # it, countersign discord register names the Discord endpoint under it.
{{- if .PublicURL}}
  public_url: "{{.PublicURL}}"
{{- else}}
  # public_url: "https://countersign.your-domain.example"
{{- end}}

store:
{{- if .Postgres}}
  # PostgreSQL: the whole URL comes from a file because it holds the
  # password. Run countersign migrate once before serve (serve migrates at
  # start-up too unless --migrate=false).
  url_file: "{{.File "store-url"}}"
{{- else}}
  # SQLite: one file, for one replica. For several replicas or high
  # availability use PostgreSQL (countersign init --postgres).
  url: "sqlite:countersign.db"
{{- end}}

audit:
  # The HMAC key of the tamper-evident audit chain: at least 32 bytes of
  # randomness (openssl rand -base64 32). Losing it makes the log
  # unverifiable; changing it breaks the chain.
  key_file: "{{.File "audit-key"}}"
  # Every signed checkpoint of the chain is also appended here; keep a copy
  # off the machine and check with countersign audit verify --checkpoint.
  # checkpoint_file: /var/lib/countersign/audit-checkpoints.jsonl

log:
  level: info     # debug, info, warn or error
  format: json    # json for log collectors, text for a terminal

policy:
  # Approvals a request needs from people other than its requester (the
  # two-person rule: at least 1).
  approvals_required: 1
  # How long a request waits for approval before it expires.
  request_ttl: 1h
  # Every request must say why (--reason), for approvers and the audit log.
  require_reason: true
  # The most targets one request may name.
  max_targets: 100
  # What no request may touch: globs matched against every address of a
  # target (case-insensitive), or id:<identity or account id>. Empty: none.
  protected_targets:
  #  - "*@breakglass.your-domain.example"
  # People (names from people:) who may cancel requests others filed.
  admins: []
  # Stricter quorums per action, e.g. two approvers for permanent deletion:
  # actions:
  #   "purge-mail:permanent": { approvals_required: 2 }

# The responders: who may file and approve, each counted once across
# platforms. A person acts from the accounts listed here{{if .Slack}} (Slack accounts
# are also matched by the e-mail Slack verified for them){{end}}. Empty:
# nobody (config check warns); uncomment and copy the line below.
people:
{{- if .Slack}}
#  - { name: alice, email: alice@your-domain.example, slack: U0ALICE{{if .Discord}}, discord: "111111111111111111"{{end}} }
{{- else if .Discord}}
#  - { name: alice, email: alice@your-domain.example, discord: "111111111111111111" }
{{- else}}
#  - { name: alice, email: alice@your-domain.example }
{{- end}}
{{- if .Slack}}

slack:
  # Secrets: the bot token (xoxb-…) and, for HTTP mode, the signing secret
  # that verifies every request.
  bot_token_file: "{{.File "slack-bot-token"}}"
  signing_secret_file: "{{.File "slack-signing-secret"}}"
  # Socket Mode instead (no inbound HTTP): an app-level token (xapp-…) with
  # connections:write, and countersign slack manifest --socket-mode.
  # app_token_file: "{{.File "slack-app-token"}}"
  # User or user-group ids (U…, W…, S…) who may approve or deny: replace
  # U0CHANGEME (config check warns while it is no one in people:).
  approvers: [U0CHANGEME]
  # Who may file requests: user or user-group ids; empty means anyone in
  # people:.
  requesters: []
  # Channel ids (C… or G…) where commands are taken; empty means anywhere.
  channels: []
  # The channel id the digest is posted to; empty means no Slack digest.
  digest_channel: ""
  # Put before every action command (cs- gives /cs-disable) when another
  # app already has /disable or /enable; /countersign <action> always works.
  command_prefix: ""
{{- end}}
{{- if .Discord}}

discord:
  # The bot token; the ids are shown in the developer portal (Application
  # ID) and by Discord with Developer Mode on (right-click → Copy ID).
  bot_token_file: "{{.File "discord-bot-token"}}"
  application_id: "0"   # replace: the application id
  guild_id: "0"         # replace: the server (guild) id
  # Role ids whose members may approve or deny: replace "0".
  approver_roles: ["0"]
  # Role ids who may file requests; empty means anyone in people:.
  requester_roles: []
  # Channel ids where commands are taken; empty means anywhere in the guild.
  channels: []
  # The channel id the digest is posted to; empty means no Discord digest.
  digest_channel: ""
  # Empty: interactions arrive over the Gateway (no inbound HTTP). For HTTP
  # interactions set the application's Public Key (64 hex digits) and the
  # Interactions Endpoint URL countersign discord register prints.
  public_key: ""
{{- end}}
{{- if or .TMCAS .Graph}}

providers:
{{- if .TMCAS}}
  tmcas:
    # Trend Micro Cloud App Security: the Integration API token, and the
    # region of your console: us, eu, uk, ca, jp, sg, au or in.
    token_file: "{{.File "tmcas-token"}}"
    region: us
{{- end}}
{{- if .Graph}}
  graph:
    # Microsoft Graph Security: an Entra app registration with the
    # application permissions the README lists, admin-consented. Replace the
    # all-zero ids with the Directory (tenant) ID and Application (client) ID.
    tenant_id: "00000000-0000-0000-0000-000000000000"
    client_id: "00000000-0000-0000-0000-000000000000"
    client_secret_file: "{{.File "graph-client-secret"}}"
    cloud: global                        # only global: no Graph operation Countersign calls is documented in usgov, usgovdod or china
    identity_provider: activeDirectory   # entraID, activeDirectory or okta
{{- end}}
{{- if and .TMCAS .Graph}}

# The provider each action uses when a request does not say --provider.
routes:
  disable: tmcas
  purge-mail: graph
{{- end}}
{{- else}}

# No provider yet (countersign init --tmcas or --graph): requests can be
# filed and approved but not carried out.
{{- end}}

digest:
  # When the summary of the last period is posted (cron, five fields or
  # @daily), in this IANA time zone.
  schedule: "0 9 * * 1-5"
  timezone: UTC
`

// render returns the configuration file for o.
func (o initOptions) render() ([]byte, error) {
	t, err := template.New("countersign.yaml").Parse(initTemplate)
	if err != nil {
		return nil, err
	}
	var flags []string
	for _, f := range []struct {
		on   bool
		name string
	}{{o.Slack, "--slack"}, {o.Discord, "--discord"}, {o.TMCAS, "--tmcas"}, {o.Graph, "--graph"}, {o.Postgres, "--postgres"}} {
		if f.on {
			flags = append(flags, f.name)
		}
	}
	var b bytes.Buffer
	err = t.Execute(&b, struct {
		initOptions
		Flags string
	}{o, strings.Join(flags, " ")})
	return b.Bytes(), err
}

// nextSteps returns what to do after writing the file at path.
func (o initOptions) nextSteps(path string) string {
	var b strings.Builder
	n := 0
	step := func(format string, args ...any) {
		n++
		fmt.Fprintf(&b, "%d. "+format+"\n", append([]any{n}, args...)...)
	}
	fmt.Fprintf(&b, "Next steps:\n")
	var files []string
	for _, s := range o.secrets() {
		files = append(files, fmt.Sprintf("     %s: %s", o.File(s.Name), s.How))
	}
	step("Create the secret files (readable only by Countersign's user, one value each, outside git):\n%s",
		strings.Join(files, "\n"))
	if o.Slack {
		if o.PublicURL != "" {
			step("Create the Slack app from its manifest: countersign slack manifest --config %s", path)
		} else {
			step("Create the Slack app from its manifest: set http.public_url, then countersign slack manifest --config %s\n"+
				"   (or, without inbound HTTP, countersign slack manifest --socket-mode and slack.app_token_file)", path)
		}
		step("Install the Slack app, invite it to your channels, and set slack.approvers (and people:) to your responders' ids.")
	}
	if o.Discord {
		step("Create the Discord application and bot, invite it (bot and applications.commands scopes), set discord.application_id,\n" +
			"   guild_id and approver_roles, then register the commands: countersign discord register --config " + path)
	}
	if o.TMCAS {
		step("TMCAS: generate the token under Administration → Automation and Integration APIs, and set providers.tmcas.region.")
	}
	if o.Graph {
		step("Graph: register an Entra application, grant the application permissions the README lists (admin consent),\n" +
			"   and set providers.graph.tenant_id and client_id.")
	}
	if !o.TMCAS && !o.Graph {
		step("Add a provider (countersign init --tmcas or --graph shows its keys); without one nothing is carried out.")
	}
	step("List the responders in people:, then check: countersign config check --config %s\n"+
		"   (it exits 1 naming each missing secret or wrong key, and warns about what cannot work yet)", path)
	if o.Postgres {
		step("Create the database schema: countersign migrate --config %s", path)
	}
	step("Run the bot: countersign serve --config %s", path)
	return b.String()
}

// initFlags: countersign init writes a commented countersign.yaml for the
// chosen platforms and providers and prints the next steps.
func initFlags(fs *flag.FlagSet) command {
	var o initOptions
	fs.BoolVar(&o.Slack, "slack", false, "configure Slack")
	fs.BoolVar(&o.Discord, "discord", false, "configure Discord")
	fs.BoolVar(&o.TMCAS, "tmcas", false, "configure Trend Micro Cloud App Security")
	fs.BoolVar(&o.Graph, "graph", false, "configure Microsoft Graph Security (Defender for Endpoint, --mde, is not supported yet)")
	fs.BoolVar(&o.Postgres, "postgres", false, "store in PostgreSQL (default: SQLite, one replica)")
	fs.StringVar(&o.PublicURL, "public-url", "", "http.public_url, the https address Slack and Discord reach serve at")
	fs.StringVar(&o.SecretsDir, "secrets-dir", "/run/secrets", "the directory the *_file keys point into")
	out := fs.String("out", defaultConfigPath, `the file to write ("-": standard output, next steps on standard error)`)
	force := fs.Bool("force", false, "overwrite --out if it exists")
	return command{
		check: func(env) error {
			if o.SecretsDir == "" {
				return fmt.Errorf("%w: --secrets-dir must not be empty", errUsage)
			}
			return nil
		},
		run: func(_ context.Context, c *call) error {
			doc, err := o.render()
			if err != nil {
				return fmt.Errorf("writing the configuration: %w", err)
			}
			if *out == "-" {
				if _, err := c.stdout.Write(doc); err != nil {
					return err
				}
				_, err = fmt.Fprint(c.stderr, "\n"+o.nextSteps("countersign.yaml"))
				return err
			}
			if err := writeNew(*out, doc, *force); err != nil {
				return err
			}
			_, err = fmt.Fprintf(c.stdout, "Wrote %s.\n\n%s", *out, o.nextSteps(*out))
			return err
		},
	}
}

// writeNew writes data to path, refusing to replace an existing file
// unless force: a configuration being edited must not vanish because init
// ran again.
func writeNew(path string, data []byte, force bool) error {
	flags := os.O_WRONLY | os.O_CREATE | os.O_EXCL
	if force {
		flags = os.O_WRONLY | os.O_CREATE | os.O_TRUNC
	}
	f, err := os.OpenFile(path, flags, 0o640)
	if errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("%s exists; pass --force to overwrite it, or --out to write elsewhere", path)
	}
	if err != nil {
		return fmt.Errorf("writing the configuration: %w", err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}
