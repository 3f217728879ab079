package approvals

import (
	"slices"
	"strings"
)

// Spec is what a request asks for. It is immutable once filed: approvals are
// bound to its ContentHash, so a change to any field is a different request.
type Spec struct {
	Action   Action       `json:"action"`
	Provider string       `json:"provider"` // "tmcas" or "graph", chosen by routes or --provider
	Targets  []string     `json:"targets"`  // normalised by the command parser
	Reason   string       `json:"reason,omitempty"`
	Mail     *MailOptions `json:"mail,omitempty"` // purge-mail only
}

// MailOptions are the purge-mail flags.
type MailOptions struct {
	// Action is the remediation: soft-delete, hard-delete, junk,
	// deleted-items, inbox (graph) or delete, quarantine (tmcas).
	Action      string   `json:"action"`
	Recipients  []string `json:"recipients,omitempty"` // limit to these mailboxes; empty = every recipient
	Severity    string   `json:"severity,omitempty"`   // low, medium, high (graph)
	SendersCopy bool     `json:"sendersCopy,omitempty"`
}

// PolicyKey names the spec for per-action policy overrides: the action, or
// "action:variant" when the action has a variant (purge-mail:hard-delete).
func (s Spec) PolicyKey() string {
	if s.Mail != nil && s.Mail.Action != "" {
		return string(s.Action) + ":" + s.Mail.Action
	}
	return string(s.Action)
}

// PermanentPurgeKey is the policy key of every purge-mail that deletes mail
// permanently, whichever provider does it, so that the same effect never
// needs fewer approvals through the other provider.
const PermanentPurgeKey = "purge-mail:permanent"

// MailActions returns the purge-mail --action values provider accepts, the
// first its default; nil for an unknown provider. The core keeps the list
// so that commands (parsing --action) and providers (calling the API)
// read one copy.
func MailActions(provider string) []string {
	return map[string][]string{
		"graph": {"soft-delete", "hard-delete", "junk", "deleted-items", "inbox"},
		"tmcas": {"quarantine", "delete"},
	}[provider]
}

// PermanentMailActions maps each provider to its purge-mail --action that
// deletes mail beyond recovery: Graph's hardDelete and TMCAS's MAIL_DELETE.
// (Graph's soft-delete and deleted-items and TMCAS's quarantine can be
// undone.)
func PermanentMailActions() map[string]string {
	return map[string]string{"graph": "hard-delete", "tmcas": "delete"}
}

// DeletesPermanently reports whether the spec purges mail beyond recovery.
// A spec not yet routed to a provider counts when its --action is any
// provider's permanent one: doubt needs the larger quorum.
func (s Spec) DeletesPermanently() bool {
	if s.Action != ActionPurgeMail || s.Mail == nil {
		return false
	}
	for provider, action := range PermanentMailActions() {
		if s.Mail.Action == action && (s.Provider == "" || s.Provider == provider) {
			return true
		}
	}
	return false
}

// Canonical returns the spec in canonical form: targets and recipients
// lower-cased where they are addresses, de-duplicated and sorted. Two specs
// that mean the same thing have the same canonical form and hash.
func (s Spec) Canonical() Spec {
	c := s
	c.Targets = canonicalList(s.Targets, s.Action.Kind() == TargetAccount)
	if s.Mail != nil {
		m := *s.Mail
		m.Recipients = canonicalList(s.Mail.Recipients, true)
		c.Mail = &m
	}
	return c
}

func canonicalList(in []string, lower bool) []string {
	if len(in) == 0 {
		return nil
	}
	out := make([]string, 0, len(in))
	for _, v := range in {
		v = strings.TrimSpace(v)
		if lower {
			v = strings.ToLower(v)
		}
		out = append(out, v)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// ShortHashLen is the number of hex digits of the hash shown on cards and
// bound into buttons.
const ShortHashLen = 12

// ShortHash returns the prefix of a hash shown to people.
func ShortHash(hash string) string {
	if len(hash) <= ShortHashLen {
		return hash
	}
	return hash[:ShortHashLen]
}

// MatchesHash reports whether shown (a full or short hash from a card or a
// button) identifies the full hash. An empty shown value never matches.
func MatchesHash(full, shown string) bool {
	return len(shown) >= ShortHashLen && strings.HasPrefix(full, strings.ToLower(shown))
}
