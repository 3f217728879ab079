package providers

import (
	"slices"

	"github.com/countersign/countersign/approvals"
)

// Provider names.
const (
	TMCAS = "tmcas"
	Graph = "graph"
)

// DisplayName is the provider as people know it, for messages: "Microsoft
// Graph" for graph. An unknown name is returned as it is.
func DisplayName(name string) string {
	switch name {
	case TMCAS:
		return "Trend Micro Cloud App Security"
	case Graph:
		return "Microsoft Graph"
	}
	return name
}

// Capability is one row of the capability matrix of DESIGN §3: the provider
// call an action becomes.
type Capability struct {
	Action   approvals.Action
	Provider string
	Call     string // what the provider receives, for help and explain
}

// Matrix returns the capability matrix. Whether a configured provider really
// performs an action also depends on config (Graph's legacy block-ip) and,
// for Graph accounts, on each account's available actions.
func Matrix() []Capability {
	return []Capability{
		{approvals.ActionDisable, TMCAS, "POST /v1/mitigation/accounts ACCOUNT_DISABLE"},
		{approvals.ActionDisable, Graph, "identityAccounts/{id}/invokeAction disable"},
		{approvals.ActionEnable, Graph, "identityAccounts/{id}/invokeAction enable"},
		{approvals.ActionResetPassword, TMCAS, "POST /v1/mitigation/accounts ACCOUNT_RESET_PASSWORD"},
		{approvals.ActionResetPassword, Graph, "identityAccounts/{id}/invokeAction forcePasswordReset"},
		{approvals.ActionEnableMFA, TMCAS, "POST /v1/mitigation/accounts ACCOUNT_ENABLE_MFA"},
		{approvals.ActionRevokeSessions, TMCAS, "POST /v1/mitigation/accounts ACCOUNT_REVOKE_SIGNIN_SESSIONS"},
		{approvals.ActionRevokeSessions, Graph, "identityAccounts/{id}/invokeAction revokeAllSessions"},
		{approvals.ActionRequireSignIn, Graph, "identityAccounts/{id}/invokeAction requireUserToSignInAgain"},
		{approvals.ActionMarkCompromised, Graph, "identityAccounts/{id}/invokeAction markUserAsCompromised"},
		{approvals.ActionPurgeMail, Graph, "POST /security/collaboration/analyzedEmails/remediate"},
		{approvals.ActionPurgeMail, TMCAS, "GET /v1/sweeping/mails, then POST /v1/mitigation/mails"},
		{approvals.ActionBlockIP, Graph, "POST /beta/security/securityActions BlockIp (legacy, deprecated)"},
	}
}

// Capable reports whether the matrix lists action for provider.
func Capable(provider string, action approvals.Action) bool {
	return slices.ContainsFunc(Matrix(), func(c Capability) bool {
		return c.Provider == provider && c.Action == action
	})
}
