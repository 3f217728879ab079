package config

import (
	"io"
	"log/slog"
	"slices"
	"time"

	"github.com/countersign/countersign/approvals"
	"github.com/countersign/countersign/providers"
	"github.com/countersign/countersign/providers/tmcas"
)

// Config is the whole configuration. Load and Parse return it
// validated; the rest of the program reads it and never changes it.
//
// Struct tags drive everything that is generated from the struct: `koanf`
// names the YAML key, `secret` marks a value that may come from a *_file key
// and is never printed ("true"; "url" for store.url, where only the password
// is secret), `keys` names the enumerable keys of a map so that environment
// variables can address them. The doc comment of each field is its entry in
// reference.md (checked by TestReferenceUpToDate).
type Config struct {
	// HTTP is the http: section.
	HTTP HTTP `koanf:"http"`
	// Store is the store: section.
	Store Store `koanf:"store"`
	// Audit is the audit: section.
	Audit Audit `koanf:"audit"`
	// Log is the log: section.
	Log Log `koanf:"log"`
	// PolicySettings is the policy: section; Policy() turns it into an
	// approvals.Policy. (The field cannot be called Policy: that is the
	// method's name.)
	PolicySettings PolicySettings `koanf:"policy"`
	// People are the humans who may request and approve, each with the
	// platform accounts they act from, so that one person is counted once.
	People []Person `koanf:"people"`
	// Slack is the slack: section.
	Slack Slack `koanf:"slack"`
	// Discord is the discord: section.
	Discord Discord `koanf:"discord"`
	// Providers is the providers: section.
	Providers Providers `koanf:"providers"`
	// Routes maps an action (disable, reset-password, purge-mail, …) to the
	// provider, tmcas or graph, that performs it when --provider is not
	// given.
	Routes map[string]string `koanf:"routes" keys:"actions"`
	// Digest is the digest: section.
	Digest Digest `koanf:"digest"`
	// Engine is the engine: section.
	Engine Engine `koanf:"engine"`
}

// HTTP configures the HTTP server that receives Slack and Discord requests
// and serves /healthz, /readyz and /metrics.
type HTTP struct {
	// Listen is the address the server binds, host:port.
	Listen string `koanf:"listen"`
	// PublicURL is the address Slack and Discord reach the server at,
	// such as https://countersign.example.com: countersign slack manifest
	// points the request URLs at PUBLIC_URL/slack/commands and
	// PUBLIC_URL/slack/interactions, and countersign discord register
	// prints PUBLIC_URL/discord/interactions, the Interactions Endpoint URL
	// to enter in the Discord developer portal. Empty when only Socket Mode
	// or the Gateway is used.
	PublicURL string `koanf:"public_url"`
	// ReadTimeout bounds reading one request, headers and body, so that a
	// slow client cannot hold a connection open.
	ReadTimeout time.Duration `koanf:"read_timeout"`
	// ShutdownTimeout is how long a stopping server waits for requests in
	// flight before closing their connections.
	ShutdownTimeout time.Duration `koanf:"shutdown_timeout"`
}

// Store configures the database that holds requests, jobs and the audit log.
type Store struct {
	// URL names the database: sqlite:PATH, or postgres://user:password@host/db
	// (also postgresql://). Only the password is secret; the whole URL may
	// come from url_file.
	URL string `koanf:"url" secret:"url"`
}

// Audit configures the tamper-evident audit log.
type Audit struct {
	// Key is the HMAC key of the audit hash chain: at least 32 bytes and
	// 128 bits (openssl rand -base64 32 gives both).
	Key string `koanf:"key" secret:"true"`
	// CheckpointFile is a file serve appends every signed checkpoint of the
	// audit chain to, one JSON object a line, besides logging it (empty:
	// log only). Keep a copy off the machine; countersign audit verify
	// --checkpoint checks the chain against it.
	CheckpointFile string `koanf:"checkpoint_file"`
}

// Log configures the process log.
type Log struct {
	// Level is the least severe level logged: debug, info, warn or error.
	Level string `koanf:"level"`
	// Format is the line format: json (one object a line, for collectors)
	// or text (for people at a terminal).
	Format string `koanf:"format"`
}

// PolicySettings configures the two-person rule (ARCHITECTURE.md, "Where
// each rule lives").
type PolicySettings struct {
	// ApprovalsRequired is how many distinct approvers other than the
	// requester a request needs, at least 1.
	ApprovalsRequired int `koanf:"approvals_required"`
	// RequestTTL is how long a request waits for approval before it expires.
	RequestTTL time.Duration `koanf:"request_ttl"`
	// MaxTargets is the most targets one request may name, 1 to 10000.
	MaxTargets int `koanf:"max_targets"`
	// RequireReason makes --reason mandatory.
	RequireReason bool `koanf:"require_reason"`
	// ProtectedTargets are what no request may touch: globs (path.Match,
	// case-insensitive) matched against every address of a target's
	// resolved identity, such as "*@breakglass.contoso.com", or
	// "id:<value>" matched against its identity and account ids. Checked at
	// filing and again right before each provider call.
	ProtectedTargets []string `koanf:"protected_targets"`
	// Admins are people (names from people:) who may cancel requests filed
	// by others.
	Admins []string `koanf:"admins"`
	// Actions overrides policy per action ("disable") or per action and
	// purge-mail variant ("purge-mail:soft-delete"); the more specific key
	// wins. "purge-mail:permanent" is the quorum of permanent mail deletion
	// with any provider (graph hard-delete, tmcas delete); a provider's own
	// key for it (purge-mail:hard-delete, purge-mail:delete) is refused
	// unless it asks the same.
	Actions map[string]ActionPolicy `koanf:"actions" keys:"policy-actions"`
}

// ActionPolicy is the policy override for one action or action variant.
type ActionPolicy struct {
	// ApprovalsRequired replaces policy.approvals_required for this action,
	// at least 1.
	ApprovalsRequired int `koanf:"approvals_required"`
}

// Person is one entry of people:.
type Person struct {
	// Name identifies the person in authorization, counting and the audit
	// log; it is what policy.admins and the console's /as use.
	Name string `koanf:"name"`
	// Email is the person's address; Slack accounts are also matched by the
	// e-mail Slack verified for them.
	Email string `koanf:"email"`
	// Slack is the person's Slack user id (U… or W…).
	Slack string `koanf:"slack"`
	// Discord is the person's Discord user id (a snowflake).
	Discord string `koanf:"discord"`
}

// Slack configures the Slack adapter. Slack is enabled when any of its keys
// other than api_url and command_prefix is set.
type Slack struct {
	// BotToken is the bot user OAuth token, xoxb-….
	BotToken string `koanf:"bot_token" secret:"true"`
	// SigningSecret verifies requests to the HTTP endpoints; required
	// unless app_token selects Socket Mode. At least 128 bits: Slack's are
	// 32 hex digits.
	SigningSecret string `koanf:"signing_secret" secret:"true"`
	// AppToken is the app-level token, xapp-…; set, Slack is used in Socket
	// Mode instead of HTTP endpoints.
	AppToken string `koanf:"app_token" secret:"true"`
	// APIURL is the Web API base URL, ending in "/"; tests point it at a
	// fake. It receives the bot token: https, or http only to a loopback
	// host.
	APIURL string `koanf:"api_url"`
	// Channels are the channel ids (C… or G…) where commands are accepted;
	// empty means anywhere.
	Channels []string `koanf:"channels"`
	// Requesters are user or user-group ids (U…, W…, S…) allowed to file
	// requests; empty means anyone in people:.
	Requesters []string `koanf:"requesters"`
	// Approvers are user or user-group ids (U…, W…, S…) allowed to approve
	// or deny.
	Approvers []string `koanf:"approvers"`
	// DigestChannel is the channel id (C… or G…) the digest is posted to;
	// empty means no Slack digest.
	DigestChannel string `koanf:"digest_channel"`
	// CommandPrefix is put before the name of every action command, so
	// that they clash with no other app in the workspace: "cs-" registers
	// /cs-disable, /cs-reset-password, …. Empty keeps the bare names
	// (/disable). /countersign <action> … works either way. Lower-case
	// letters, digits, - and _; countersign slack manifest writes the
	// names, and the manifest must be updated in Slack when this changes.
	CommandPrefix string `koanf:"command_prefix"`
}

// Discord configures the Discord adapter. Discord is enabled when any of its
// keys other than api_url is set.
type Discord struct {
	// BotToken is the bot token.
	BotToken string `koanf:"bot_token" secret:"true"`
	// ApplicationID is the application's id (a snowflake), used to register
	// commands.
	ApplicationID string `koanf:"application_id"`
	// PublicKey is the application's Ed25519 public key, 64 hex digits; set,
	// interactions arrive at /discord/interactions, unset, over the Gateway.
	PublicKey string `koanf:"public_key"`
	// GuildID is the server (guild) the bot serves and registers commands in.
	GuildID string `koanf:"guild_id"`
	// APIURL is the REST API base URL; tests point it at a fake. It
	// receives the bot token: https, or http only to a loopback host.
	APIURL string `koanf:"api_url"`
	// Channels are the channel ids where commands are accepted; empty means
	// anywhere in the guild.
	Channels []string `koanf:"channels"`
	// RequesterRoles are role ids allowed to file requests; empty means
	// anyone in people:.
	RequesterRoles []string `koanf:"requester_roles"`
	// ApproverRoles are role ids allowed to approve or deny.
	ApproverRoles []string `koanf:"approver_roles"`
	// DigestChannel is the channel id the digest is posted to; empty means no
	// Discord digest.
	DigestChannel string `koanf:"digest_channel"`
}

// Providers configures the security providers.
type Providers struct {
	// TMCAS is the providers.tmcas: section.
	TMCAS TMCAS `koanf:"tmcas"`
	// Graph is the providers.graph: section.
	Graph Graph `koanf:"graph"`
}

// TMCAS configures Trend Micro Cloud App Security. It is enabled when token
// is set.
type TMCAS struct {
	// Region selects the service URL: us, eu, uk, ca, jp, sg, au (Australia
	// and New Zealand) or in (India).
	Region string `koanf:"region"`
	// BaseURL overrides the region's service URL (fakes, new regions):
	// https, or http only to a loopback host.
	BaseURL string `koanf:"base_url"`
	// Token is the Integration API token (Bearer).
	Token string `koanf:"token" secret:"true"`
	// RequestsPerMinute is the client-side limit per token; the API
	// throttles above 20.
	RequestsPerMinute int `koanf:"requests_per_minute"`
	// MaxItemsPerCall is how many rows one mitigation call carries (one per
	// account, one per copy of a message in a mailbox); larger requests
	// are split.
	MaxItemsPerCall int `koanf:"max_items_per_call"`
	// SweepDays is how many days back a mail sweep searches, 1 to 90 (TMCAS
	// keeps 90 days of metadata).
	SweepDays int `koanf:"sweep_days"`
}

// Graph configures Microsoft Graph Security. It is enabled when tenant_id,
// client_id and client_secret are all set.
type Graph struct {
	// Cloud selects the national cloud: global, usgov, usgovdod or china.
	// The Graph operations Countersign calls are documented for global
	// only, so validation refuses the others while graph is configured.
	Cloud string `koanf:"cloud"`
	// TenantID is the Entra tenant id or domain.
	TenantID string `koanf:"tenant_id"`
	// ClientID is the app registration's application (client) id.
	ClientID string `koanf:"client_id"`
	// ClientSecret is the app registration's client secret.
	ClientSecret string `koanf:"client_secret" secret:"true"`
	// BaseURL overrides the cloud's Graph root, e.g. a test server: https,
	// or http only to a loopback host.
	BaseURL string `koanf:"base_url"`
	// TokenURL overrides the cloud's OAuth token endpoint: https, or http
	// only to a loopback host.
	TokenURL string `koanf:"token_url"`
	// IdentityProvider is the default identityProvider of account actions:
	// entraID, activeDirectory or okta.
	IdentityProvider string `koanf:"identity_provider"`
	// EnableLegacySecurityActions allows /block-ip through the deprecated
	// securityActions API.
	EnableLegacySecurityActions bool `koanf:"enable_legacy_security_actions"`
	// RequestsPerSecond is the client-side request limit.
	RequestsPerSecond int `koanf:"requests_per_second"`
	// MailLookback is how far back purge-mail looks for a message when
	// finding its recipients.
	MailLookback time.Duration `koanf:"mail_lookback"`
}

// Digest configures the scheduled digest.
type Digest struct {
	// Schedule is a cron schedule: five fields (minute hour day-of-month
	// month day-of-week) or a descriptor such as @daily or "@every 12h".
	Schedule string `koanf:"schedule"`
	// Timezone is the IANA time zone the schedule is read in, such as
	// Europe/Berlin.
	Timezone string `koanf:"timezone"`
}

// Engine configures how approved requests run (ARCHITECTURE.md, "The
// walk of one request").
type Engine struct {
	// PollInterval is how long a running request waits between polls of the
	// provider.
	PollInterval time.Duration `koanf:"poll_interval"`
	// PollDeadline is how long a request may run before polling stops and it
	// needs attention.
	PollDeadline time.Duration `koanf:"poll_deadline"`
	// Workers is how many jobs run at once in this process.
	Workers int `koanf:"workers"`
	// ExpirySweep is the cron schedule of the job that expires unanswered
	// requests.
	ExpirySweep string `koanf:"expiry_sweep"`
}

// Default returns the configuration used for every key the file and the
// environment leave unset.
func Default() *Config {
	return &Config{
		HTTP: HTTP{
			Listen:          ":8080",
			ReadTimeout:     10 * time.Second,
			ShutdownTimeout: 10 * time.Second,
		},
		Store: Store{URL: "sqlite:countersign.db"},
		Log:   Log{Level: "info", Format: "json"},
		PolicySettings: PolicySettings{
			ApprovalsRequired: 1,
			RequestTTL:        time.Hour,
			MaxTargets:        100,
			RequireReason:     true,
		},
		Slack:   Slack{APIURL: "https://slack.com/api/"},
		Discord: Discord{APIURL: "https://discord.com/api/v10"},
		Providers: Providers{
			TMCAS: TMCAS{
				Region:            "us",
				RequestsPerMinute: 20,
				MaxItemsPerCall:   100,
				SweepDays:         30,
			},
			Graph: Graph{
				Cloud:             "global",
				IdentityProvider:  "activeDirectory",
				RequestsPerSecond: 20,
				MailLookback:      720 * time.Hour,
			},
		},
		Digest: Digest{Schedule: "0 9 * * 1-5", Timezone: "UTC"},
		Engine: Engine{
			PollInterval: 15 * time.Second,
			PollDeadline: 2 * time.Hour,
			Workers:      10,
			ExpirySweep:  "@every 1m",
		},
	}
}

// Policy returns the approval policy of the policy: section. Requesters and
// Approvers are left empty: the bot fills them from the platform's view of
// who holds the configured groups and roles.
func (c *Config) Policy() approvals.Policy {
	p := c.PolicySettings
	var overrides map[string]int
	if len(p.Actions) > 0 {
		overrides = make(map[string]int, len(p.Actions))
		for k, a := range p.Actions {
			overrides[k] = a.ApprovalsRequired
		}
	}
	return approvals.Policy{
		ApprovalsRequired: p.ApprovalsRequired,
		Overrides:         overrides,
		RequestTTL:        p.RequestTTL,
		MaxTargets:        p.MaxTargets,
		RequireReason:     p.RequireReason,
		Protected:         slices.Clone(p.ProtectedTargets),
	}
}

// Directory indexes people:. It fails only on a config that did not pass
// validation, which checks the same rules.
func (c *Config) Directory() (*approvals.Directory, error) {
	return approvals.NewDirectory(c.PeopleList())
}

// PeopleList returns people: as the approvals domain knows them.
func (c *Config) PeopleList() []approvals.Person {
	out := make([]approvals.Person, len(c.People))
	for i, p := range c.People {
		out[i] = approvals.Person{Name: p.Name, Email: p.Email, Slack: p.Slack, Discord: p.Discord}
	}
	return out
}

// IsAdmin reports whether the named person is in policy.admins.
func (c *Config) IsAdmin(person string) bool {
	return person != "" && slices.Contains(c.PolicySettings.Admins, person)
}

// SlackEnabled reports whether the Slack adapter should run: any slack key
// other than api_url and command_prefix is set.
func (c *Config) SlackEnabled() bool {
	s := c.Slack
	return s.BotToken != "" || s.SigningSecret != "" || s.AppToken != "" ||
		len(s.Channels) > 0 || len(s.Requesters) > 0 || len(s.Approvers) > 0 || s.DigestChannel != ""
}

// DiscordEnabled reports whether the Discord adapter should run: any discord
// key other than api_url is set.
func (c *Config) DiscordEnabled() bool {
	d := c.Discord
	return d.BotToken != "" || d.ApplicationID != "" || d.PublicKey != "" || d.GuildID != "" ||
		len(d.Channels) > 0 || len(d.RequesterRoles) > 0 || len(d.ApproverRoles) > 0 || d.DigestChannel != ""
}

// TMCASEnabled reports whether Trend Micro Cloud App Security is configured:
// its token is set.
func (c *Config) TMCASEnabled() bool { return c.Providers.TMCAS.Token != "" }

// GraphEnabled reports whether Microsoft Graph is configured: tenant_id,
// client_id and client_secret are all set (validation refuses a partial set).
func (c *Config) GraphEnabled() bool {
	g := c.Providers.Graph
	return g.TenantID != "" && g.ClientID != "" && g.ClientSecret != ""
}

// providerEnabled reports whether the named provider is configured.
func (c *Config) providerEnabled(name string) bool {
	switch name {
	case providers.TMCAS:
		return c.TMCASEnabled()
	case providers.Graph:
		return c.GraphEnabled()
	}
	return false
}

// SlogLevel returns the slog level named by Level; info for a value that did
// not pass validation.
func (l Log) SlogLevel() slog.Level {
	switch l.Level {
	case "debug":
		return slog.LevelDebug
	case "warn":
		return slog.LevelWarn
	case "error":
		return slog.LevelError
	}
	return slog.LevelInfo
}

// Handler returns the slog handler Level and Format describe, writing to w.
func (l Log) Handler(w io.Writer) slog.Handler {
	opts := &slog.HandlerOptions{Level: l.SlogLevel()}
	if l.Format == "text" {
		return slog.NewTextHandler(w, opts)
	}
	return slog.NewJSONHandler(w, opts)
}

// TMCASRegions returns every providers.tmcas.region value with its service
// host (reference/providers.md §1.1).
func TMCASRegions() map[string]string {
	out := map[string]string{}
	for _, r := range tmcas.Regions() {
		out[r], _ = tmcas.RegionHost(r)
	}
	return out
}

// URL returns the TMCAS base URL, without the /v1 path: base_url if set, else
// the region's service URL.
func (t TMCAS) URL() string {
	if t.BaseURL != "" {
		return t.BaseURL
	}
	if h, ok := tmcas.RegionHost(t.Region); ok {
		return "https://" + h
	}
	return ""
}
