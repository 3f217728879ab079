package msgraph

import (
	"fmt"
	"slices"
	"strings"

	"github.com/countersign/countersign/approvals"
)

// operation is one Graph API Countersign calls, with the national clouds
// its document offers it in (reference/providers.md §2.2).
type operation struct {
	name   string   // as the operator finds it in Microsoft's documentation
	clouds []string // Config.Cloud values that offer it
	source string   // where the clouds come from
}

// The operations and their clouds. Where a document is silent the
// operation is taken to be global only: a request refused at config check
// is cheaper than one refused after two people approved it.
var (
	// The client calls v1.0, whose page marks it global only. The beta page
	// (seed 002) also marks US Government L4 and L5, never China.
	opInvokeAction = operation{name: "identityAccounts invokeAction (v1.0)", clouds: []string{"global"},
		source: "its v1.0 page marks the global service only; the beta page adds US Government L4/L5, never China"}
	// Seed 003 lists the four deployments without marking any; the v1.0
	// page marks the global service only.
	opRemediate = operation{name: "analyzedEmails remediate", clouds: []string{"global"},
		source: "its page marks the global service only"}
	// Seed 004 names no national cloud for the deprecated beta API.
	opSecurityActions = operation{name: "securityActions (beta, deprecated)", clouds: []string{"global"},
		source: "its page names no national cloud"}
)

// operationOf returns the Graph operation that performs action.
func operationOf(action approvals.Action) (operation, bool) {
	switch action {
	case approvals.ActionPurgeMail:
		return opRemediate, true
	case approvals.ActionBlockIP:
		return opSecurityActions, true
	}
	if _, ok := invokeActions[action]; ok {
		return opInvokeAction, true
	}
	return operation{}, false
}

// CloudError says that a national cloud does not offer the Graph
// operation an action needs.
type CloudError struct {
	Action    approvals.Action
	Operation string // the Graph operation, as Microsoft's documentation names it
	Cloud     string // the Config.Cloud value, lower case
	Source    string // what the documentation says
}

// Error names the action, the operation and the cloud.
func (e *CloudError) Error() string {
	return fmt.Sprintf("graph cannot %s in cloud %s: %s is not offered there (%s)", e.Action, e.Cloud, e.Operation, e.Source)
}

// CloudOffers returns nil when cloud ("" means global) offers the Graph
// operation that performs action, or when Graph has no operation for it;
// otherwise a *CloudError.
func CloudOffers(cloud string, action approvals.Action) error {
	op, ok := operationOf(action)
	if !ok {
		return nil
	}
	c := strings.ToLower(strings.TrimSpace(cloud))
	if c == "" {
		c = DefaultCloud
	}
	if slices.Contains(op.clouds, c) {
		return nil
	}
	return &CloudError{Action: action, Operation: op.name, Cloud: c, Source: op.source}
}
