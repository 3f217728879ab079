package commands

import (
	"slices"

	"github.com/countersign/countersign/approvals"
)

// ArgKind says what a command's positional arguments are.
type ArgKind string

// Argument kinds.
const (
	ArgNone      ArgKind = ""
	ArgUsers     ArgKind = "users"      // e-mail addresses or UPNs
	ArgMessageID ArgKind = "message-id" // a Graph networkMessageId (GUID) or an Internet Message-ID <…@…>
	ArgIP        ArgKind = "ip"         // an IPv4 or IPv6 address
	ArgRequestID ArgKind = "request-id" // a request number
	ArgTopic     ArgKind = "topic"      // a command name
	ArgCommand   ArgKind = "command"    // a whole command line (explain)
)

// Arg describes a command's positional argument.
type Arg struct {
	Name     string // as shown in usage: "user", "message-id"
	Kind     ArgKind
	Required bool
	Repeat   bool // several may be given (users)
	Help     string
}

// FlagKind says what value a flag takes.
type FlagKind string

// Flag kinds.
const (
	FlagString FlagKind = "string"
	FlagBool   FlagKind = "bool" // no value: present or not
	FlagEnum   FlagKind = "enum" // one of Choices
	FlagUser   FlagKind = "user" // an e-mail address
)

// Flag describes a command's flag.
type Flag struct {
	Name    string // without the leading "--"
	Kind    FlagKind
	Choices []string // FlagEnum only
	Repeat  bool     // may be given more than once
	Default string   // shown in help; empty when none
	Help    string
}

// Def describes one command: enough for help text, Slack's manifest and
// Discord's typed command options.
type Def struct {
	Name    Name
	Summary string           // one line
	Action  approvals.Action // the action it files; empty for meta commands
	Arg     Arg              // Kind ArgNone when it takes none
	Flags   []Flag
	Example string // a complete example line, starting with "/"
}

// IsAction reports whether the command files a request that needs approval.
func (d Def) IsAction() bool { return d.Action != "" }

// Flag returns the flag named name.
func (d Def) Flag(name string) (Flag, bool) {
	i := slices.IndexFunc(d.Flags, func(f Flag) bool { return f.Name == name })
	if i < 0 {
		return Flag{}, false
	}
	return d.Flags[i], true
}

// Limits on input, whatever the policy says.
const (
	MaxInput   = 4000 // characters of one command line
	MaxTargets = 1000 // targets of one command; policy.max_targets may be lower
	MaxReason  = 500  // characters of --reason
	MaxAddress = 254  // characters of an e-mail address (RFC 5321 path limit)
	MaxMsgID   = 998  // characters of an Internet Message-ID (RFC 5322 line limit)
)

// Mail actions by provider (DESIGN §3); the first is the default, which the
// router fills in when --action is not given.
var (
	graphMailActions = []string{"soft-delete", "hard-delete", "junk", "deleted-items", "inbox"}
	tmcasMailActions = []string{"quarantine", "delete"}
)

func commonFlags() []Flag {
	return []Flag{
		{Name: "reason", Kind: FlagString, Help: "why, for the approvers and the audit log (required when policy.require_reason is on)"},
		{Name: "provider", Kind: FlagEnum, Choices: []string{"tmcas", "graph"}, Help: "the provider to use (default from routes: in the configuration)"},
		{Name: "dry-run", Kind: FlagBool, Help: "resolve the targets and show the preview; file nothing"},
	}
}

func accountDef(name Name, action approvals.Action, summary, example string) Def {
	return Def{
		Name: name, Action: action, Summary: summary,
		Arg:     Arg{Name: "user", Kind: ArgUsers, Required: true, Repeat: true, Help: "e-mail addresses or UPNs, separated by spaces or commas"},
		Flags:   commonFlags(),
		Example: example,
	}
}

// Registry returns every command, action commands first, in help order.
// Each call returns a fresh copy.
func Registry() []Def {
	mail := append(commonFlags(),
		Flag{Name: "action", Kind: FlagEnum, Choices: append(slices.Clone(graphMailActions), tmcasMailActions...),
			Default: "soft-delete (graph), quarantine (tmcas)",
			Help:    "what to do with the message: soft-delete, hard-delete, junk, deleted-items or inbox on graph; quarantine or delete on tmcas"},
		Flag{Name: "recipient", Kind: FlagUser, Repeat: true, Help: "only this mailbox (repeat for several); default every recipient"},
		Flag{Name: "severity", Kind: FlagEnum, Choices: []string{"low", "medium", "high"}, Help: "severity recorded with the remediation (graph only)"},
		Flag{Name: "senders-copy", Kind: FlagBool, Help: "also remediate the sender's copy (graph only)"},
	)
	return []Def{
		accountDef(Disable, approvals.ActionDisable, "disable user accounts", "/disable mallory@contoso.com --reason \"phishing, INC-4711\""),
		accountDef(Enable, approvals.ActionEnable, "enable user accounts again (graph)", "/enable mallory@contoso.com --reason \"false positive\""),
		accountDef(ResetPassword, approvals.ActionResetPassword, "force a password reset", "/reset-password mallory@contoso.com --reason \"credentials leaked\""),
		accountDef(EnableMFA, approvals.ActionEnableMFA, "require multi-factor sign-in (tmcas)", "/enable-mfa mallory@contoso.com --reason \"risky sign-ins\""),
		accountDef(RevokeSessions, approvals.ActionRevokeSessions, "sign the users out of every session", "/revoke-sessions mallory@contoso.com --reason \"token theft\""),
		accountDef(RequireSignin, approvals.ActionRequireSignIn, "make the users sign in again (graph)", "/require-signin mallory@contoso.com --reason \"suspicious session\""),
		accountDef(MarkCompromised, approvals.ActionMarkCompromised, "mark the users as compromised (graph)", "/mark-compromised mallory@contoso.com --reason \"confirmed compromise\""),
		{
			Name: PurgeMail, Action: approvals.ActionPurgeMail, Summary: "remove a message from every mailbox it reached",
			Arg:     Arg{Name: "message-id", Kind: ArgMessageID, Required: true, Help: "the Graph networkMessageId (a GUID), or with --provider tmcas the Internet Message-ID <…@…>"},
			Flags:   mail,
			Example: "/purge-mail 6c2a1f3e-4b5d-4e6f-8a9b-0c1d2e3f4a5b --reason \"phishing wave\"",
		},
		{
			Name: BlockIP, Action: approvals.ActionBlockIP, Summary: "block an IP address (graph legacy securityActions, when enabled)",
			Arg:     Arg{Name: "ip", Kind: ArgIP, Required: true, Help: "an IPv4 or IPv6 address"},
			Flags:   commonFlags(),
			Example: "/block-ip 203.0.113.7 --reason \"C2 server\"",
		},
		{Name: Help, Summary: "show help for all commands or one", Arg: Arg{Name: "command", Kind: ArgTopic, Help: "a command name"}, Example: "/countersign help purge-mail"},
		{Name: Status, Summary: "show a request's card", Arg: Arg{Name: "id", Kind: ArgRequestID, Required: true, Help: "the request number, as on its card"}, Example: "/countersign status 42"},
		{Name: Pending, Summary: "list requests waiting for approval", Example: "/countersign pending"},
		{Name: Cancel, Summary: "cancel your request before it runs (admins: anyone's)", Arg: Arg{Name: "id", Kind: ArgRequestID, Required: true, Help: "the request number, as on its card"}, Example: "/countersign cancel 42"},
		{Name: Explain, Summary: "show who must approve a command and what it would touch, without filing it", Arg: Arg{Name: "command", Kind: ArgCommand, Required: true, Help: "a whole action command line"}, Example: "/countersign explain disable mallory@contoso.com"},
	}
}

// Lookup returns the command named name ("disable", "/disable").
func Lookup(name string) (Def, bool) {
	for _, d := range Registry() {
		if string(d.Name) == name || "/"+string(d.Name) == name {
			return d, true
		}
	}
	return Def{}, false
}

// names lists every command name, for hints.
func names() []string {
	var out []string
	for _, d := range Registry() {
		out = append(out, string(d.Name))
	}
	return out
}
