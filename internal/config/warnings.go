package config

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
)

// The placeholders countersign init writes where an id is required but
// cannot be known: valid in shape, so that the file loads, and named here,
// so that config check says they are left to replace.
const (
	initID   = "0"
	initGUID = "00000000-0000-0000-0000-000000000000"
)

// Warning is something a valid configuration probably does not mean:
// it loads and serve starts, but part of it cannot work as written.
// config check lists them; nothing refuses them, because each has a
// legitimate moment (people: is empty while the file is being written).
type Warning struct {
	Key string // the dotted key it is about
	Msg string
}

// String returns "key: message", as KeyError does.
func (w Warning) String() string { return w.Key + ": " + w.Msg }

// Warnings returns what c, already valid, likely gets wrong, in key order
// of the file: no people, no provider, Slack approvers or requesters who
// are no one in people:, a digest channel outside the channels commands
// are taken in, Graph account actions on Entra ID accounts. Slack user
// groups and Discord roles are resolved by the platform at run time and
// cannot be checked offline; a note says so rather than passing them in
// silence.
func (c *Config) Warnings() []Warning {
	var out []Warning
	add := func(key, format string, args ...any) {
		out = append(out, Warning{Key: key, Msg: fmt.Sprintf(format, args...)})
	}
	if len(c.People) == 0 {
		add("people", "is empty: nobody can file or approve a request; list each responder with their name and Slack or Discord id")
	}
	if c.SlackEnabled() {
		c.slackWarnings(add)
	}
	if c.DiscordEnabled() {
		d := c.Discord
		for _, id := range []struct{ key, value string }{
			{"discord.application_id", d.ApplicationID}, {"discord.guild_id", d.GuildID},
		} {
			if id.value == initID {
				add(id.key, "is 0, the placeholder countersign init writes: set the real id")
			}
		}
		for i, r := range d.ApproverRoles {
			if r == initID {
				add(fmt.Sprintf("discord.approver_roles[%d]", i), "is 0, the placeholder countersign init writes: set a role id")
			}
		}
		add("discord.approver_roles", "roles are resolved by Discord at run time and are not checked here; make sure every approver in people: holds one")
		if d.DigestChannel != "" && len(d.Channels) > 0 && !slices.Contains(d.Channels, d.DigestChannel) {
			add("discord.digest_channel", "%s is not in discord.channels; the digest is posted there, but commands are not taken there", d.DigestChannel)
		}
	}
	for _, id := range []struct{ key, value string }{
		{"providers.graph.tenant_id", c.Providers.Graph.TenantID}, {"providers.graph.client_id", c.Providers.Graph.ClientID},
	} {
		if id.value == initGUID {
			add(id.key, "is the all-zero GUID countersign init writes: set the real id")
		}
	}
	if c.GraphEnabled() && strings.EqualFold(c.Providers.Graph.IdentityProvider, "entraID") {
		// Not refused: the account resource page offers entraID actions,
		// and Microsoft may widen invokeAction's scope.
		add("providers.graph.identity_provider", "is entraID, but Microsoft's invokeAction page supports no action for it (\"Actions related to Entra ID are not covered in the current scope\"): expect Graph to refuse every account action")
	}
	if !c.TMCASEnabled() && !c.GraphEnabled() {
		add("providers", "no provider is configured (providers.tmcas.token, or providers.graph tenant_id, client_id and client_secret): requests can be filed and approved but not carried out")
	}
	return out
}

func (c *Config) slackWarnings(add func(key, format string, args ...any)) {
	s := c.Slack
	inPeople := map[string]bool{}
	for _, p := range c.People {
		if p.Slack != "" {
			inPeople[p.Slack] = true
		}
	}
	groups := ""
	for _, list := range []struct {
		key string
		ids []string
	}{{"slack.requesters", s.Requesters}, {"slack.approvers", s.Approvers}} {
		for i, id := range list.ids {
			switch {
			case strings.HasPrefix(id, "S"):
				groups = cmp.Or(groups, list.key)
			case !inPeople[id]:
				add(fmt.Sprintf("%s[%d]", list.key, i), "%s is no one's slack id in people:; unless the e-mail Slack verified for that account is a person's email, Countersign refuses them", id)
			}
		}
	}
	if groups != "" {
		add(groups, "user groups (S…) are resolved by Slack at run time and are not checked here; make sure their members are in people:")
	}
	if s.DigestChannel != "" && len(s.Channels) > 0 && !slices.Contains(s.Channels, s.DigestChannel) {
		add("slack.digest_channel", "%s is not in slack.channels; the digest is posted there, but commands are not taken there", s.DigestChannel)
	}
}
