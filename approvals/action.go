package approvals

// Action names one thing Countersign can do. The values are the command
// names of DESIGN §3 and are stored in the database, so they never change.
type Action string

// The actions of DESIGN §3.
const (
	ActionDisable         Action = "disable"
	ActionEnable          Action = "enable"
	ActionResetPassword   Action = "reset-password"
	ActionEnableMFA       Action = "enable-mfa"
	ActionRevokeSessions  Action = "revoke-sessions"
	ActionRequireSignIn   Action = "require-signin"
	ActionMarkCompromised Action = "mark-compromised"
	ActionPurgeMail       Action = "purge-mail"
	ActionBlockIP         Action = "block-ip"
)

// Actions lists every action in the order help text shows them.
func Actions() []Action {
	return []Action{
		ActionDisable, ActionEnable, ActionResetPassword, ActionEnableMFA,
		ActionRevokeSessions, ActionRequireSignIn, ActionMarkCompromised,
		ActionPurgeMail, ActionBlockIP,
	}
}

// TargetKind says what the targets of an action are.
type TargetKind int

// Target kinds.
const (
	TargetAccount TargetKind = iota + 1 // an e-mail address or UPN
	TargetMessage                       // a network message id or Internet Message-ID
	TargetIP                            // an IPv4 or IPv6 address
)

// Kind returns what the action's targets are, or 0 for an unknown action.
func (a Action) Kind() TargetKind {
	switch a {
	case ActionDisable, ActionEnable, ActionResetPassword, ActionEnableMFA,
		ActionRevokeSessions, ActionRequireSignIn, ActionMarkCompromised:
		return TargetAccount
	case ActionPurgeMail:
		return TargetMessage
	case ActionBlockIP:
		return TargetIP
	}
	return 0
}

// Valid reports whether a is one of the known actions.
func (a Action) Valid() bool { return a.Kind() != 0 }
