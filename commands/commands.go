// Package commands is the grammar of Countersign's slash commands: parsing
// and strict validation of what a person typed into a typed Command, the
// registry of commands and flags (for help text and platform command
// registration), and help text. It is pure: no I/O, no platform types.
package commands

import (
	"github.com/countersign/countersign/approvals"
)

// Name is a command's name as typed after the slash.
type Name string

// Action commands file a request (or, with --dry-run, preview one).
const (
	Disable         Name = "disable"
	Enable          Name = "enable"
	ResetPassword   Name = "reset-password"
	EnableMFA       Name = "enable-mfa"
	RevokeSessions  Name = "revoke-sessions"
	RequireSignin   Name = "require-signin"
	MarkCompromised Name = "mark-compromised"
	PurgeMail       Name = "purge-mail"
	BlockIP         Name = "block-ip"
)

// Meta commands never need approval.
const (
	Help    Name = "help"
	Status  Name = "status"
	Pending Name = "pending"
	Cancel  Name = "cancel"
	Explain Name = "explain"
)

// Root is the umbrella command: "/countersign disable a@x" is the same as
// "/disable a@x".
const Root Name = "countersign"

// Command is a parsed, validated command.
type Command struct {
	Name Name
	// Spec is the request an action command asks for, and for Explain the
	// request of the explained command line. Spec.Provider is empty unless
	// --provider was given; routing fills it in. Targets are normalised
	// (addresses lower-cased, Slack link markup removed) and de-duplicated.
	// For purge-mail, Spec.Mail is always set; its Action is empty when
	// neither --action nor --provider was given, and the router fills in
	// the default of the provider it picks (providers.Router.Route).
	Spec approvals.Spec
	// DryRun is --dry-run: resolve and preview, file nothing.
	DryRun bool
	// RequestID is the request named by status and cancel.
	RequestID int64
	// Topic is the command help was asked about; empty for the overview.
	Topic Name
}

// Error is a user-facing parse error. Msg says what is wrong and Hint, when
// set, what to type instead ("did you mean --reason?"). Both are plain text
// that may quote the user's input; the chat adapter escapes them.
type Error struct {
	Msg  string
	Hint string
}

// Error returns Msg, followed by Hint in parentheses when there is one.
func (e *Error) Error() string {
	if e.Hint == "" {
		return e.Msg
	}
	return e.Msg + " (" + e.Hint + ")"
}
