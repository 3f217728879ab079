package commands

import (
	"slices"

	"github.com/countersign/countersign/approvals"
)

// Provider names as --provider takes them: the names the providers package
// uses, repeated here because commands imports nothing with I/O.
const (
	ProviderTMCAS = "tmcas"
	ProviderGraph = "graph"
)

// Limits on input, whatever the policy says.
const (
	MaxInput   = 4000                   // characters of the text after the command name
	MaxTargets = 1000                   // targets, and --recipient addresses, of one command; policy.max_targets may be lower
	MaxReason  = 500                    // characters of --reason
	MaxAddress = 254                    // characters of a user address (RFC 5321 path limit)
	MaxMsgID   = approvals.MaxMessageID // characters of an Internet Message-ID, the longest TMCAS accepts
)

// Def describes one command: enough for help text, the Slack manifest and
// Discord's typed command options. Parse checks input against the same Def.
type Def struct {
	Name    Name
	Summary string           // one line, lower-case, no full stop
	Action  approvals.Action // the action it files; empty for meta commands
	Arg     Arg              // Kind ArgNone when it takes none
	Flags   []Flag           // in the order help lists them
	// Providers are the providers that can perform Action, in the order of
	// the capability matrix; --provider accepts only these. Nil for meta
	// commands.
	Providers []string
	Example   string // a complete command line that parses, starting with "/"
}

// IsAction reports whether the command files a request that needs approval.
func (d Def) IsAction() bool { return d.Action != "" }

// Flag returns the flag named name (without "--").
func (d Def) Flag(name string) (Flag, bool) {
	i := slices.IndexFunc(d.Flags, func(f Flag) bool { return f.Name == name })
	if i < 0 {
		return Flag{}, false
	}
	return d.Flags[i], true
}

// ArgKind says what a command's positional arguments are.
type ArgKind string

// Argument kinds.
const (
	ArgNone      ArgKind = ""
	ArgUsers     ArgKind = "users"      // e-mail addresses or UPNs, lower-cased
	ArgMessageID ArgKind = "message-id" // a Graph networkMessageId (GUID) or, for tmcas, an Internet Message-ID <…@…>
	ArgIP        ArgKind = "ip"         // one IPv4 or IPv6 address
	ArgRequestID ArgKind = "request-id" // a request number, 42 or #42
	ArgTopic     ArgKind = "topic"      // a command name
	ArgCommand   ArgKind = "command"    // the rest of the line is an action command (explain)
)

// Arg describes a command's positional argument.
type Arg struct {
	Name     string // as shown in usage: "user", "message-id"
	Kind     ArgKind
	Required bool
	Repeat   bool // several may be given (users), up to MaxTargets
	Help     string
}

// FlagKind says what value a flag takes.
type FlagKind string

// Flag kinds.
const (
	FlagString FlagKind = "string" // free text (--reason)
	FlagBool   FlagKind = "bool"   // no value: present or not
	FlagEnum   FlagKind = "enum"   // one of Choices
	FlagUser   FlagKind = "user"   // one user address, validated like ArgUsers
)

// Flag describes a command's flag.
type Flag struct {
	Name  string // without the leading "--"
	Kind  FlagKind
	Value string // placeholder for the value in usage: "text", "user"; empty for bool flags
	// Choices are every value an enum accepts with some provider. When
	// ByProvider is set, the values a provider accepts and its default
	// depend on --provider.
	Choices    []string
	ByProvider []Variant
	// Default is the value the provider uses when the flag is not given;
	// empty when there is none or it depends on the provider (ByProvider).
	// Parse leaves such flags out of the spec rather than filling it in.
	Default string
	// Providers, when set, are the only providers the flag works with.
	Providers []string
	Repeat    bool // may be given more than once
	Help      string
}

// Variant is what an enum flag accepts with one provider.
type Variant struct {
	Provider string
	Choices  []string
	// Default, the first of Choices, is used when the flag is not given:
	// Parse fills it in when --provider names this provider; otherwise the
	// router does once it has picked the provider.
	Default string
}

// Variant returns the flag's choices and default with provider.
func (f Flag) Variant(provider string) (Variant, bool) {
	i := slices.IndexFunc(f.ByProvider, func(v Variant) bool { return v.Provider == provider })
	if i < 0 {
		return Variant{}, false
	}
	return f.ByProvider[i], true
}

// names of every command, in help order.
func commandNames() []Name {
	return []Name{
		Disable, Enable, ResetPassword, EnableMFA, RevokeSessions, RequireSignin,
		MarkCompromised, PurgeMail, BlockIP, Help, Status, Pending, Cancel, Explain,
	}
}

// Registry returns every command, action commands first, in help order.
// Each call returns a fresh copy the caller may change.
func Registry() []Def {
	out := make([]Def, 0, len(commandNames()))
	for _, n := range commandNames() {
		d, _ := def(n)
		out = append(out, d)
	}
	return out
}

// Lookup returns the command named name ("disable", "/Disable"). Root is
// not a command of its own.
func Lookup(name string) (Def, bool) { return def(Name(normName(name))) }

func commonFlags(providers ...string) []Flag {
	return []Flag{
		{Name: "reason", Kind: FlagString, Value: "text",
			Help: "why, for the approvers and the audit log; quote it when it has spaces (required when policy.require_reason is on)"},
		{Name: "provider", Kind: FlagEnum, Value: "provider", Choices: providers,
			Help: "the provider to use (default from routes: in the configuration)"},
		{Name: "dry-run", Kind: FlagBool,
			Help: "resolve the targets and show the preview; file nothing, no approval needed"},
	}
}

func accountDef(name Name, action approvals.Action, summary, example string, providers ...string) Def {
	return Def{
		Name: name, Action: action, Summary: summary,
		Arg: Arg{Name: "user", Kind: ArgUsers, Required: true, Repeat: true,
			Help: "e-mail addresses or UPNs, separated by spaces or commas"},
		Flags:     commonFlags(providers...),
		Providers: providers,
		Example:   example,
	}
}

// def returns one command's definition. Building it per call keeps the
// package free of mutable globals.
func def(n Name) (Def, bool) {
	switch n {
	case Disable:
		return accountDef(n, approvals.ActionDisable, "disable user accounts so that they cannot sign in",
			`/disable mallory@contoso.com --reason "phishing, INC-4711"`, ProviderTMCAS, ProviderGraph), true
	case Enable:
		return accountDef(n, approvals.ActionEnable, "enable disabled user accounts again",
			`/enable mallory@contoso.com --reason "false positive"`, ProviderGraph), true
	case ResetPassword:
		return accountDef(n, approvals.ActionResetPassword, "make users reset their password at the next sign-in",
			`/reset-password mallory@contoso.com eve@contoso.com --reason "credentials leaked"`, ProviderTMCAS, ProviderGraph), true
	case EnableMFA:
		return accountDef(n, approvals.ActionEnableMFA, "require multi-factor sign-in",
			`/enable-mfa mallory@contoso.com --reason "risky sign-ins"`, ProviderTMCAS), true
	case RevokeSessions:
		return accountDef(n, approvals.ActionRevokeSessions, "sign users out of every session",
			`/revoke-sessions mallory@contoso.com --reason "token theft"`, ProviderTMCAS, ProviderGraph), true
	case RequireSignin:
		return accountDef(n, approvals.ActionRequireSignIn, "make users sign in again",
			`/require-signin mallory@contoso.com --reason "suspicious session"`, ProviderGraph), true
	case MarkCompromised:
		return accountDef(n, approvals.ActionMarkCompromised, "mark user accounts as compromised",
			`/mark-compromised mallory@contoso.com --reason "confirmed compromise"`, ProviderGraph), true
	case PurgeMail:
		return purgeMailDef(), true
	case BlockIP:
		return Def{
			Name: n, Action: approvals.ActionBlockIP,
			Summary: "block an IP address (Graph legacy security actions, when enabled)",
			Arg: Arg{Name: "ip", Kind: ArgIP, Required: true,
				Help: "one IPv4 or IPv6 address; loopback, link-local, multicast, broadcast and unspecified addresses are refused"},
			Flags:     commonFlags(ProviderGraph),
			Providers: []string{ProviderGraph},
			Example:   `/block-ip 203.0.113.7 --reason "C2 server"`,
		}, true
	case Help:
		return Def{Name: n, Summary: "show help for all commands or one",
			Arg:     Arg{Name: "command", Kind: ArgTopic, Help: "a command name, such as purge-mail"},
			Example: "/countersign help purge-mail"}, true
	case Status:
		return Def{Name: n, Summary: "show a request's state and progress",
			Arg:     Arg{Name: "id", Kind: ArgRequestID, Required: true, Help: "the request number on its card, such as 42 or #42"},
			Example: "/countersign status 42"}, true
	case Pending:
		return Def{Name: n, Summary: "list requests waiting for approval", Example: "/countersign pending"}, true
	case Cancel:
		return Def{Name: n, Summary: "cancel your request before it runs (admins: anyone's)",
			Arg:     Arg{Name: "id", Kind: ArgRequestID, Required: true, Help: "the request number on its card, such as 42 or #42"},
			Example: "/countersign cancel #42"}, true
	case Explain:
		return Def{Name: n, Summary: "show who must approve a command and what it would touch, without filing it",
			Arg:     Arg{Name: "command line", Kind: ArgCommand, Required: true, Help: "an action command as you would type it, with or without its slash"},
			Example: "/countersign explain purge-mail 6c2a1f3e-4b5d-4e6f-8a9b-0c1d2e3f4a5b --action hard-delete"}, true
	}
	return Def{}, false
}

func purgeMailDef() Def {
	graph, tmcas := approvals.MailActions(ProviderGraph), approvals.MailActions(ProviderTMCAS)
	return Def{
		Name: PurgeMail, Action: approvals.ActionPurgeMail, Summary: "remove a message from the mailboxes it reached",
		Arg: Arg{Name: "message-id", Kind: ArgMessageID, Required: true,
			Help: "the Graph network message id, a GUID such as 6c2a1f3e-4b5d-4e6f-8a9b-0c1d2e3f4a5b; " +
				"for tmcas the Internet Message-ID from the headers, such as <abc123@mail.contoso.com>"},
		Flags: append([]Flag{
			{Name: "action", Kind: FlagEnum, Value: "action", Choices: append(slices.Clone(graph), tmcas...),
				ByProvider: []Variant{
					{Provider: ProviderGraph, Choices: graph, Default: graph[0]},
					{Provider: ProviderTMCAS, Choices: tmcas, Default: tmcas[0]},
				},
				Help: "what to do with each copy of the message; left out, the default of the provider used"},
			{Name: "recipient", Kind: FlagUser, Value: "user", Repeat: true,
				Help: "only the copy in this mailbox (repeat for several); default every recipient"},
			{Name: "severity", Kind: FlagEnum, Value: "severity", Choices: []string{"low", "medium", "high"}, Default: "medium",
				Providers: []string{ProviderGraph},
				Help:      "severity recorded with the remediation (graph only)"},
			{Name: "senders-copy", Kind: FlagBool, Providers: []string{ProviderGraph},
				Help: "also remediate the copy in the sender's mailbox (graph only)"},
		}, commonFlags(ProviderGraph, ProviderTMCAS)...),
		Providers: []string{ProviderGraph, ProviderTMCAS},
		Example:   `/purge-mail 6c2a1f3e-4b5d-4e6f-8a9b-0c1d2e3f4a5b --action hard-delete --reason "phishing wave"`,
	}
}
