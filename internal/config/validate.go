package config

import (
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/url"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
	// Embedded so that digest.timezone validates, and the digest runs, the
	// same on a host or container without a zoneinfo database.
	_ "time/tzdata"

	"github.com/robfig/cron/v3"

	"github.com/countersign/countersign/approvals"
	"github.com/countersign/countersign/internal/httpx"
	"github.com/countersign/countersign/providers"
	"github.com/countersign/countersign/providers/msgraph"
	"github.com/countersign/countersign/providers/tmcas"
)

// Limits enforced by validation.
const (
	// MinAuditKeyBytes is the shortest audit.key accepted: the HMAC-SHA256
	// key should be as long as its output.
	MinAuditKeyBytes = 32
	// MaxTargetsLimit caps policy.max_targets.
	MaxTargetsLimit = 10000
	// MaxSweepDays caps providers.tmcas.sweep_days: TMCAS keeps mail
	// metadata for 90 days (reference/providers.md §1.7).
	MaxSweepDays = 90
)

// Validate checks c against every rule Load applies and returns every
// problem, each a *KeyError, joined. Load and Parse call it; call it after
// building or changing a Config in code.
func (c *Config) Validate(opts ...Option) error {
	return errors.Join(c.validate(newOptions(opts), nil)...)
}

// checker collects validation errors. Keys that already failed to decode
// are skipped, so that a value that could not be read is not also reported
// as missing.
type checker struct {
	errs   []error
	failed []string
}

func (v *checker) add(key, format string, args ...any) {
	for _, f := range v.failed {
		if key == f || nested(key, f) || nested(f, key) {
			return
		}
	}
	v.errs = append(v.errs, &KeyError{Key: key, Msg: fmt.Sprintf(format, args...)})
}

// nested reports whether key lies inside parent.
func nested(key, parent string) bool {
	return strings.HasPrefix(key, parent+".") || strings.HasPrefix(key, parent+"[")
}

func (v *checker) positive(key string, d time.Duration) {
	if d <= 0 {
		v.add(key, "must be greater than 0, got %s", formatDuration(d))
	}
}

func (v *checker) atLeast(key string, n, minimum int) {
	if n < minimum {
		v.add(key, "must be at least %d, got %d", minimum, n)
	}
}

func (v *checker) between(key string, n, lo, hi int) {
	if n < lo || n > hi {
		v.add(key, "must be from %d to %d, got %d", lo, hi, n)
	}
}

func (v *checker) oneOf(key, got string, want []string) {
	if !slices.Contains(want, got) {
		v.add(key, "%q is not one of %s", got, strings.Join(want, ", "))
	}
}

// absURL checks an optional http(s) URL and returns it parsed, or nil when
// it is empty or refused.
func (v *checker) absURL(key, raw string) *url.URL {
	if raw == "" {
		return nil
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		v.add(key, "%q is not an absolute http:// or https:// URL", raw)
		return nil
	}
	return u
}

// endpoint checks an optional URL that is sent a credential (a provider
// or chat API): absolute, and https or http to a loopback host, by the rule
// the provider clients apply (httpx.CheckScheme).
func (v *checker) endpoint(key, raw string) {
	if u := v.absURL(key, raw); u != nil {
		if err := httpx.CheckScheme(u); err != nil {
			v.add(key, "%q: %v; use https", raw, err)
		}
	}
}

func (v *checker) schedule(key, spec string) {
	if _, err := cron.ParseStandard(spec); err != nil {
		v.add(key, "%q is not a cron schedule (5 fields or a descriptor such as @daily): %v", spec, err)
	}
}

func (v *checker) required(key, value, why string) {
	if value == "" {
		v.add(key, "is required %s", why)
	}
}

// ids checks a list of platform ids with one shape.
func (v *checker) ids(key string, ids []string, ok func(string) bool, what string) {
	for i, id := range ids {
		k := fmt.Sprintf("%s[%d]", key, i)
		if id == "" {
			v.add(k, "must not be empty")
			continue
		}
		v.id(k, id, ok, what)
	}
}

func (v *checker) id(key, id string, ok func(string) bool, what string) {
	if id != "" && !ok(id) {
		v.add(key, "%q is not %s", id, what)
	}
}

func (c *Config) validate(o options, failed []string) []error {
	v := &checker{failed: failed}
	c.validateHTTP(v)
	c.validateStore(v)
	if !o.insecureAuditKey && c.Audit.Key == "" {
		v.add("audit.key", "is required: an HMAC key of at least %d bytes (set audit.key, audit.key_file or %s)",
			MinAuditKeyBytes, EnvName("audit.key"))
	}
	c.validateSecrets(v, o)
	if f := c.Audit.CheckpointFile; f != "" && (strings.HasSuffix(f, "/") || filepath.Base(f) == "." || filepath.Base(f) == "..") {
		v.add("audit.checkpoint_file", "%q is a directory; name a file such as /var/lib/countersign/audit-checkpoints.jsonl", f)
	}
	v.oneOf("log.level", c.Log.Level, []string{"debug", "info", "warn", "error"})
	v.oneOf("log.format", c.Log.Format, []string{"json", "text"})
	c.validatePolicy(v)
	c.validatePeople(v)
	c.validateSlack(v)
	c.validateDiscord(v)
	c.validateProviders(v)
	c.validateRoutes(v)
	v.schedule("digest.schedule", c.Digest.Schedule)
	if _, err := time.LoadLocation(c.Digest.Timezone); err != nil {
		v.add("digest.timezone", "%q is not an IANA time zone such as UTC or Europe/Berlin", c.Digest.Timezone)
	}
	e := c.Engine
	v.positive("engine.poll_interval", e.PollInterval)
	v.positive("engine.poll_deadline", e.PollDeadline)
	if e.PollInterval > 0 && e.PollDeadline > 0 && e.PollInterval >= e.PollDeadline {
		v.add("engine.poll_interval", "must be shorter than engine.poll_deadline (%s), got %s",
			formatDuration(e.PollDeadline), formatDuration(e.PollInterval))
	}
	v.atLeast("engine.workers", e.Workers, 1)
	v.schedule("engine.expiry_sweep", e.ExpirySweep)
	return v.errs
}

func (c *Config) validateHTTP(v *checker) {
	h := c.HTTP
	if _, port, err := net.SplitHostPort(h.Listen); err != nil {
		v.add("http.listen", "%q is not a host:port address such as :8080", h.Listen)
	} else if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		v.add("http.listen", "port %q is not a number from 0 to 65535", port)
	}
	v.absURL("http.public_url", h.PublicURL)
	v.positive("http.read_timeout", h.ReadTimeout)
	v.positive("http.shutdown_timeout", h.ShutdownTimeout)
}

// validateStore checks store.url without ever echoing it: it may hold a
// password.
func (c *Config) validateStore(v *checker) {
	raw := c.Store.URL
	switch {
	case raw == "":
		v.add("store.url", "is required: sqlite:PATH or postgres://user@host/db")
	case strings.HasPrefix(raw, "sqlite:"):
		if strings.TrimPrefix(raw, "sqlite:") == "" {
			v.add("store.url", "sqlite: needs a file path, e.g. sqlite:countersign.db")
		}
	case strings.HasPrefix(raw, "postgres://"), strings.HasPrefix(raw, "postgresql://"):
		if strings.Contains(raw, "#") {
			v.add("store.url", `must not contain "#"; percent-encode it as %%23 (value not shown: it may hold a password)`)
		} else if _, err := url.Parse(raw); err != nil {
			v.add("store.url", "is not a valid URL; percent-encode special characters in the password (value not shown: it may hold a password)")
		}
	default:
		got := ""
		// Only a scheme followed by // is shown: in "user:password@host"
		// the part before the colon is not a scheme and may be secret.
		if scheme, rest, ok := strings.Cut(raw, ":"); ok && isScheme(scheme) && strings.HasPrefix(rest, "//") {
			got = fmt.Sprintf(", got %q", scheme+":")
		}
		v.add("store.url", "must start with sqlite:, postgres:// or postgresql://%s", got)
	}
}

// isScheme reports whether s looks like a URL scheme, so that printing it
// cannot print a password.
func isScheme(s string) bool {
	if s == "" || len(s) > 16 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '+' || r == '-' || r == '.') {
			return false
		}
	}
	return true
}

func (c *Config) validatePolicy(v *checker) {
	p := c.PolicySettings
	if p.ApprovalsRequired < 1 {
		v.add("policy.approvals_required",
			"must be at least 1, got %d: the two-person rule needs an approver other than the requester", p.ApprovalsRequired)
	}
	v.positive("policy.request_ttl", p.RequestTTL)
	v.between("policy.max_targets", p.MaxTargets, 1, MaxTargetsLimit)
	for i, g := range p.ProtectedTargets {
		key := fmt.Sprintf("policy.protected_targets[%d]", i)
		if strings.TrimSpace(g) == "" {
			v.add(key, "must not be empty")
		} else if id, ok := strings.CutPrefix(strings.ToLower(strings.TrimSpace(g)), "id:"); ok && strings.TrimSpace(id) == "" {
			v.add(key, "%q names no id: write id:<identity or account id>, e.g. id:7f3a9c1e-…", g)
		} else if _, err := path.Match(strings.ToLower(g), ""); err != nil {
			v.add(key, "%q is not a valid glob (path.Match syntax: *, ?, [a-z])", g)
		}
	}
	names := map[string]bool{}
	for _, person := range c.People {
		names[person.Name] = true
	}
	for i, a := range p.Admins {
		if !names[a] {
			v.add(fmt.Sprintf("policy.admins[%d]", i), "%q is not the name of anyone in people:", a)
		}
	}
	for _, k := range slices.Sorted(maps.Keys(p.Actions)) {
		key := "policy.actions." + k
		if msg := checkPolicyKey(k); msg != "" {
			v.add(key, "%s", msg)
			continue
		}
		v.atLeast(key+".approvals_required", p.Actions[k].ApprovalsRequired, 1)
	}
	c.validatePermanentPurge(v)
}

// validatePermanentPurge refuses a provider's permanent purge-mail variant
// (purge-mail:hard-delete, purge-mail:delete) whose quorum differs from
// that of permanent deletion as a whole: purge-mail:permanent, else what
// purge-mail or the default gives. Otherwise the same effect would need
// fewer approvals through one provider than through the other.
func (c *Config) validatePermanentPurge(v *checker) {
	p := c.PolicySettings
	want, from := p.ApprovalsRequired, ""
	if a, ok := p.Actions[string(approvals.ActionPurgeMail)]; ok {
		want = a.ApprovalsRequired
	}
	if a, ok := p.Actions[approvals.PermanentPurgeKey]; ok {
		want, from = a.ApprovalsRequired, approvals.PermanentPurgeKey
	}
	perm := approvals.PermanentMailActions()
	names := slices.Sorted(maps.Keys(perm))
	var variants []string
	for _, provider := range names {
		variants = append(variants, provider+" "+perm[provider])
	}
	why := strings.Join(variants, " and ") + " need one quorum"
	for _, provider := range names {
		k := string(approvals.ActionPurgeMail) + ":" + perm[provider]
		a, ok := p.Actions[k]
		// A quorum under 1 is reported as such, not as a conflict too.
		if !ok || a.ApprovalsRequired == want || a.ApprovalsRequired < 1 || want < 1 {
			continue
		}
		if from != "" {
			v.add("policy.actions."+k, "approvals_required %d differs from %s's %d (%s); remove this key",
				a.ApprovalsRequired, from, want, why)
		} else {
			v.add("policy.actions."+k, "approvals_required %d differs from permanent mail deletion's %d (%s); set %q: {approvals_required: %d} instead",
				a.ApprovalsRequired, want, why, approvals.PermanentPurgeKey, a.ApprovalsRequired)
		}
	}
}

// checkPolicyKey returns what is wrong with a policy.actions key, or "".
func checkPolicyKey(k string) string {
	action, variant, hasVariant := strings.Cut(k, ":")
	if !approvals.Action(action).Valid() {
		return fmt.Sprintf("unknown action %q (want one of %s)", action, actionList())
	}
	if !hasVariant {
		return ""
	}
	if approvals.Action(action) != approvals.ActionPurgeMail {
		return fmt.Sprintf("only purge-mail takes a variant, not %s", action)
	}
	if !slices.Contains(policyVariants(), variant) {
		return fmt.Sprintf("unknown purge-mail action %q (want one of %s)", variant, strings.Join(policyVariants(), ", "))
	}
	return ""
}

func actionList() string {
	var names []string
	for _, a := range approvals.Actions() {
		names = append(names, string(a))
	}
	return strings.Join(names, ", ")
}

func (c *Config) validatePeople(v *checker) {
	if _, err := c.Directory(); err != nil {
		// NewDirectory names the entry: "people[1] (bob): email … is
		// already used by alice".
		v.add("people", "%v", err)
	}
	for i, p := range c.People {
		key := fmt.Sprintf("people[%d]", i)
		if p.Email != "" && !isEmail(p.Email) {
			v.add(key+".email", "%q is not an e-mail address", p.Email)
		}
		v.id(key+".slack", p.Slack, slackID("UW"), "a Slack user id (U… or W…)")
		v.id(key+".discord", p.Discord, isSnowflake, "a Discord user id (a number, the snowflake)")
	}
}

func isEmail(s string) bool {
	local, domain, ok := strings.Cut(s, "@")
	return ok && local != "" && domain != "" && !strings.Contains(domain, "@") &&
		!strings.ContainsAny(s, " \t\r\n<>,;")
}

// slackID returns a check for Slack ids starting with one of prefixes:
// an upper-case letter followed by upper-case letters and digits.
func slackID(prefixes string) func(string) bool {
	return func(s string) bool {
		if len(s) < 3 || len(s) > 24 || !strings.ContainsRune(prefixes, rune(s[0])) {
			return false
		}
		for _, r := range s[1:] {
			if !(r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
				return false
			}
		}
		return true
	}
}

// isSnowflake reports whether s is a Discord id: a 64-bit unsigned integer
// in decimal.
func isSnowflake(s string) bool {
	if s == "" || s[0] == '+' {
		return false
	}
	_, err := strconv.ParseUint(s, 10, 64)
	return err == nil
}

func (c *Config) validateSlack(v *checker) {
	s := c.Slack
	v.endpoint("slack.api_url", s.APIURL)
	if s.APIURL != "" && !strings.HasSuffix(s.APIURL, "/") {
		v.add("slack.api_url", "must end with /, as slack-go appends method names to it")
	}
	c.validateCommandPrefix(v)
	if !c.SlackEnabled() {
		return
	}
	const why = "when slack is configured"
	v.required("slack.bot_token", s.BotToken, why)
	if s.BotToken != "" && !strings.HasPrefix(s.BotToken, "xoxb-") {
		v.add("slack.bot_token", "must be a bot token (xoxb-…)")
	}
	if s.AppToken != "" && !strings.HasPrefix(s.AppToken, "xapp-") {
		v.add("slack.app_token", "must be an app-level token (xapp-…)")
	}
	if s.SigningSecret == "" && s.AppToken == "" {
		v.add("slack.signing_secret", "is required when slack is configured without slack.app_token (HTTP mode needs it to verify requests)")
	}
	if len(s.Approvers) == 0 {
		v.add("slack.approvers", "is required when slack is configured: user or user-group ids (U…, W…, S…) who may approve")
	}
	channel, people := slackID("CG"), slackID("UWS")
	v.ids("slack.channels", s.Channels, channel, "a Slack channel id (C… or G…)")
	v.ids("slack.requesters", s.Requesters, people, "a Slack user or user-group id (U…, W… or S…)")
	v.ids("slack.approvers", s.Approvers, people, "a Slack user or user-group id (U…, W… or S…)")
	v.id("slack.digest_channel", s.DigestChannel, channel, "a Slack channel id (C… or G…)")
}

// MaxSlackCommand is the longest slash command Slack accepts, "/" included.
const MaxSlackCommand = 32

// validateCommandPrefix checks slack.command_prefix: characters Slack takes
// in a command name (no capitals), and short enough that every action's
// command, "/" + prefix + action, fits MaxSlackCommand.
func (c *Config) validateCommandPrefix(v *checker) {
	p := c.Slack.CommandPrefix
	if strings.ContainsFunc(p, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '_')
	}) {
		v.add("slack.command_prefix", "%q may hold only lower-case letters, digits, - and _", p)
		return
	}
	longest := ""
	for _, a := range approvals.Actions() {
		if len(a) > len(longest) {
			longest = string(a)
		}
	}
	if n := 1 + len(p) + len(longest); n > MaxSlackCommand {
		v.add("slack.command_prefix", "%q is too long: /%s%s would have %d characters, Slack allows %d", p, p, longest, n, MaxSlackCommand)
	}
}

func (c *Config) validateDiscord(v *checker) {
	d := c.Discord
	v.endpoint("discord.api_url", d.APIURL)
	if !c.DiscordEnabled() {
		return
	}
	const why = "when discord is configured"
	v.required("discord.bot_token", d.BotToken, why)
	v.required("discord.application_id", d.ApplicationID, why)
	v.required("discord.guild_id", d.GuildID, why)
	if len(d.ApproverRoles) == 0 {
		v.add("discord.approver_roles", "is required when discord is configured: role ids whose members may approve")
	}
	if d.PublicKey != "" {
		if b, err := hex.DecodeString(d.PublicKey); err != nil || len(b) != 32 {
			v.add("discord.public_key", "%q is not an Ed25519 public key (64 hex digits)", d.PublicKey)
		}
	}
	const sf = "a Discord id (a number, the snowflake)"
	v.id("discord.application_id", d.ApplicationID, isSnowflake, sf)
	v.id("discord.guild_id", d.GuildID, isSnowflake, sf)
	v.ids("discord.channels", d.Channels, isSnowflake, sf)
	v.ids("discord.requester_roles", d.RequesterRoles, isSnowflake, sf)
	v.ids("discord.approver_roles", d.ApproverRoles, isSnowflake, sf)
	v.id("discord.digest_channel", d.DigestChannel, isSnowflake, sf)
}

func (c *Config) validateProviders(v *checker) {
	t := c.Providers.TMCAS
	v.oneOf("providers.tmcas.region", t.Region, tmcas.Regions())
	v.endpoint("providers.tmcas.base_url", t.BaseURL)
	v.atLeast("providers.tmcas.requests_per_minute", t.RequestsPerMinute, 1)
	v.atLeast("providers.tmcas.max_items_per_call", t.MaxItemsPerCall, 1)
	v.between("providers.tmcas.sweep_days", t.SweepDays, 1, MaxSweepDays)

	g := c.Providers.Graph
	v.oneOf("providers.graph.cloud", g.Cloud, GraphClouds())
	v.oneOf("providers.graph.identity_provider", g.IdentityProvider, []string{"entraID", "activeDirectory", "okta"})
	v.endpoint("providers.graph.base_url", g.BaseURL)
	v.endpoint("providers.graph.token_url", g.TokenURL)
	v.atLeast("providers.graph.requests_per_second", g.RequestsPerSecond, 1)
	v.positive("providers.graph.mail_lookback", g.MailLookback)
	creds := []struct{ key, value string }{
		{"providers.graph.tenant_id", g.TenantID},
		{"providers.graph.client_id", g.ClientID},
		{"providers.graph.client_secret", g.ClientSecret},
	}
	var set []string
	for _, cr := range creds {
		if cr.value != "" {
			set = append(set, cr.key)
		}
	}
	if len(set) > 0 && len(set) < len(creds) {
		for _, cr := range creds {
			if cr.value == "" {
				v.add(cr.key, "is required because %s: graph needs tenant_id, client_id and client_secret together", isSet(set))
			}
		}
	}
	c.validateGraphCloud(v)
}

// validateGraphCloud refuses a national cloud that offers none of the Graph
// operations Countersign calls, naming each operation: configured there,
// Graph could serve nothing, and every request would be refused only after
// it was typed. Routes to graph for an operation the cloud lacks are
// refused in validateRoutes; the rest Graph does not claim to support, so
// the router never picks it for them.
func (c *Config) validateGraphCloud(v *checker) {
	g := c.Providers.Graph
	if !c.GraphEnabled() || !slices.Contains(GraphClouds(), g.Cloud) {
		return
	}
	var ops []string // in first-seen order
	actions := map[string][]string{}
	for _, a := range approvals.Actions() {
		if !providers.Capable(providers.Graph, a) {
			continue
		}
		var ce *msgraph.CloudError
		if !errors.As(msgraph.CloudOffers(g.Cloud, a), &ce) {
			return // the cloud offers at least this one
		}
		if _, seen := actions[ce.Operation]; !seen {
			ops = append(ops, ce.Operation)
		}
		actions[ce.Operation] = append(actions[ce.Operation], string(a))
	}
	var parts []string
	for _, op := range ops {
		parts = append(parts, op+" for "+strings.Join(actions[op], ", "))
	}
	v.add("providers.graph.cloud", "%q offers none of the Graph operations Countersign calls (%s): use cloud global, or remove providers.graph",
		g.Cloud, strings.Join(parts, "; "))
}

// isSet says which keys are set, in a sentence.
func isSet(keys []string) string {
	if len(keys) == 1 {
		return keys[0] + " is set"
	}
	return strings.Join(keys, " and ") + " are set"
}

// GraphClouds lists the providers.graph.cloud values
// (reference/providers.md §2.2).
func GraphClouds() []string { return []string{"global", "usgov", "usgovdod", "china"} }

func (c *Config) validateRoutes(v *checker) {
	for _, action := range slices.Sorted(maps.Keys(c.Routes)) {
		key, name := "routes."+action, c.Routes[action]
		a := approvals.Action(action)
		switch {
		case !a.Valid():
			v.add(key, "unknown action %q (want one of %s)", action, actionList())
		case name != providers.TMCAS && name != providers.Graph:
			v.add(key, "%q is not a provider (want %s or %s)", name, providers.TMCAS, providers.Graph)
		case !providers.Capable(name, a):
			v.add(key, "%s cannot %s", name, action)
		case !c.providerEnabled(name):
			v.add(key, "provider %s is not configured (providers.%s has no credentials)", name, name)
		case name == providers.Graph && msgraph.CloudOffers(c.Providers.Graph.Cloud, a) != nil:
			v.add(key, "%v", msgraph.CloudOffers(c.Providers.Graph.Cloud, a))
		case a == approvals.ActionBlockIP && name == providers.Graph && !c.Providers.Graph.EnableLegacySecurityActions:
			v.add(key, "block-ip through graph needs providers.graph.enable_legacy_security_actions: true")
		}
	}
}

// formatDuration writes d the way people write it in YAML: 1h, not 1h0m0s.
func formatDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}
