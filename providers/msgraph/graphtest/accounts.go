package graphtest

import (
	"net/http"
	"slices"
	"strings"
	"time"
)

// User is one identityAccounts item (a microsoft.graph.security.user).
type User struct {
	ID          string // identityAccounts id; generated when empty
	DisplayName string
	Domain      string // derived from UPN when empty
	UPN         string // userPrincipalName
	Email       string // emailAddress
	Enabled     bool   // isEnabled
	CloudSID    string // cloudSecurityIdentifier
	OnPremSID   string // onPremisesSecurityIdentifier
	// Accounts are the provider accounts; when nil, AddUser gives the user
	// one activeDirectory account offering disable (or enable, when not
	// Enabled) and forcePasswordReset, as the invokeAction page documents.
	Accounts []Account
}

// Account is one accounts[] entry.
type Account struct {
	Identifier string   // the accountId invokeAction takes; generated when empty
	Provider   string   // identityProvider in schema spelling: activeDirectory, entraID, okta
	Actions    []string // available actions in schema spelling: disable, enable, …
}

// Invocation is one accepted invokeAction call.
type Invocation struct {
	Time              time.Time
	IdentityAccountID string
	AccountID         string
	Action            string
	IdentityProvider  string
	CorrelationID     string
}

type userState struct {
	User
	pending []*pendingAction
}

// pendingAction is an accepted invokeAction not yet in effect.
type pendingAction struct {
	action    string
	readsLeft int
	at        time.Time // in effect from then
}

// AddUser seeds a user and returns it with generated ids filled in.
func (s *Server) AddUser(u User) User {
	s.mu.Lock()
	defer s.mu.Unlock()
	if u.ID == "" {
		u.ID = s.newGUID()
	}
	if u.Domain == "" {
		if _, d, ok := strings.Cut(u.UPN, "@"); ok {
			u.Domain = d
		}
	}
	if u.Accounts == nil {
		first := "disable"
		if !u.Enabled {
			first = "enable"
		}
		u.Accounts = []Account{{Provider: "activeDirectory", Actions: []string{first, "forcePasswordReset"}}}
	}
	accts := make([]Account, len(u.Accounts))
	for i, a := range u.Accounts {
		if a.Identifier == "" {
			a.Identifier = s.newGUID()
		}
		a.Actions = slices.Clone(a.Actions)
		accts[i] = a
	}
	u.Accounts = accts
	s.users = append(s.users, &userState{User: u})
	return cloneUser(u)
}

func cloneUser(u User) User {
	u.Accounts = slices.Clone(u.Accounts)
	for i := range u.Accounts {
		u.Accounts[i].Actions = slices.Clone(u.Accounts[i].Actions)
	}
	return u
}

// User returns the current state of the user with this id, UPN or e-mail
// address. A delayed invokeAction shows once it is in effect for Graph
// readers; looking here does not count as a read.
func (s *Server) User(key string) (User, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.findUser(key)
	if u == nil {
		return User{}, false
	}
	s.settle(u, s.now(), false)
	return cloneUser(u.User), true
}

// Users returns every user in seeding order.
func (s *Server) Users() []User {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]User, 0, len(s.users))
	for _, u := range s.users {
		s.settle(u, s.now(), false)
		out = append(out, cloneUser(u.User))
	}
	return out
}

// SetAddresses changes the userPrincipalName and emailAddress of the user
// with this id, as an administrator renaming an account or moving an alias
// would. It reports whether the user exists.
func (s *Server) SetAddresses(id, upn, email string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, u := range s.users {
		if u.ID == id {
			u.UPN, u.Email = upn, email
			if _, d, ok := strings.Cut(upn, "@"); ok {
				u.Domain = d
			}
			return true
		}
	}
	return false
}

// RemoveUser deletes the user with this id from the directory. It reports
// whether the user existed.
func (s *Server) RemoveUser(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := len(s.users)
	s.users = slices.DeleteFunc(s.users, func(u *userState) bool { return u.ID == id })
	return len(s.users) < n
}

// Invocations returns every accepted invokeAction call.
func (s *Server) Invocations() []Invocation {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.invokes)
}

func (s *Server) findUser(key string) *userState {
	for _, u := range s.users {
		if u.ID == key || strings.EqualFold(u.UPN, key) || (u.Email != "" && strings.EqualFold(u.Email, key)) {
			return u
		}
	}
	return nil
}

// settle puts pending actions into effect whose time has come. A read
// counts towards Behavior.ApplyAfterReads. Callers hold mu.
func (s *Server) settle(u *userState, now time.Time, read bool) {
	for len(u.pending) > 0 {
		p := u.pending[0]
		if p.readsLeft > 0 || now.Before(p.at) {
			break
		}
		apply(u, p.action)
		u.pending = u.pending[1:]
	}
	if read {
		for _, p := range u.pending {
			if p.readsLeft > 0 {
				p.readsLeft--
			}
		}
	}
}

// apply changes the user as the action does: disable and enable flip
// isEnabled and swap the two among every account's actions; the other
// actions leave nothing observable.
func apply(u *userState, action string) {
	from, to := "", ""
	switch action {
	case "disable":
		u.Enabled, from, to = false, "disable", "enable"
	case "enable":
		u.Enabled, from, to = true, "enable", "disable"
	default:
		return
	}
	for i := range u.Accounts {
		acts := u.Accounts[i].Actions
		if j := slices.Index(acts, from); j >= 0 {
			acts[j] = to
		}
	}
}

// render returns the JSON of one item in the configured spelling.
func (s *Server) renderUser(u *userState) map[string]any {
	b := s.behavior
	key := "identityProvider"
	if b.ProviderKey {
		key = "provider"
	}
	accts := make([]map[string]any, 0, len(u.Accounts))
	for _, a := range u.Accounts {
		prov, acts := a.Provider, slices.Clone(a.Actions)
		if b.PascalCaseEnums {
			prov = pascal(prov)
			for i := range acts {
				acts[i] = pascal(acts[i])
			}
		}
		accts = append(accts, map[string]any{"identifier": a.Identifier, key: prov, "actions": acts})
	}
	return map[string]any{
		"@odata.type":                  "#microsoft.graph.security.user",
		"id":                           u.ID,
		"displayName":                  u.DisplayName,
		"domain":                       u.Domain,
		"isEnabled":                    u.Enabled,
		"cloudSecurityIdentifier":      u.CloudSID,
		"onPremisesSecurityIdentifier": u.OnPremSID,
		"userPrincipalName":            u.UPN,
		"emailAddress":                 u.Email,
		"accounts":                     accts,
	}
}

// listAccounts serves GET /security/identities/identityAccounts with the
// SID and displayName filters and, behind Behavior.DerivedFilter, the
// derived-type UPN / e-mail filter.
func (s *Server) listAccounts(r *http.Request, now time.Time) reply {
	q := r.URL.Query()
	// $select is documented; the fake answers with every property anyway,
	// which a client that selects must tolerate.
	if rep, ok := allowQuery(q, "$filter", "$select", "$top", "$skiptoken", "$count"); !ok {
		return rep
	}
	match := func(*userState) bool { return true }
	if f, has := q["$filter"]; has {
		if m := reAccountFilter.FindStringSubmatch(f[0]); m != nil {
			prop, v := m[1], unquote(m[2])
			match = func(u *userState) bool {
				switch prop {
				case "onPremisesSecurityIdentifier":
					return strings.EqualFold(u.OnPremSID, v)
				case "cloudSecurityIdentifier":
					return strings.EqualFold(u.CloudSID, v)
				}
				return strings.EqualFold(u.DisplayName, v)
			}
		} else if m := reDerivedFilter.FindStringSubmatch(f[0]); m != nil && s.behavior.DerivedFilter {
			prop, v := m[1], unquote(m[2])
			match = func(u *userState) bool {
				if prop == "userPrincipalName" {
					return strings.EqualFold(u.UPN, v)
				}
				return strings.EqualFold(u.Email, v)
			}
		} else {
			return badRequest("Invalid filter clause: the filter is not supported for identityAccounts.")
		}
	}
	var hits []*userState
	for _, u := range s.users {
		if match(u) {
			hits = append(hits, u)
		}
	}
	return listPage(s, r, setAccounts, hits, now)
}

// invokeProviders is seed 002's table (the invokeAction page): the identity
// providers each action supports. "Actions related to Entra ID are not
// covered in the current scope", and requireUserToSignInAgain and
// markUserAsCompromised, which only the account resource page lists, are
// in no row, so invokeAction refuses them for every provider.
var invokeProviders = map[string][]string{
	"disable": {"activeDirectory", "okta"}, "enable": {"activeDirectory", "okta"},
	"forcePasswordReset": {"activeDirectory"}, "revokeAllSessions": {"okta"},
}

// invokeAction serves POST …/identityAccounts/{id}/invokeAction (§3.4).
func (s *Server) invokeAction(r *http.Request, id string, body []byte, now time.Time) reply {
	u, ok := byID(s.users, id)
	if !ok {
		return notFound("identity account")
	}
	params := []string{"accountId", "action", "identityProvider"}
	o, rep, ok := strictObject(body, "microsoft.graph.security.invokeAction", params, params)
	if !ok {
		return rep
	}
	accountID, rep, ok := o.str("accountId")
	if !ok {
		return rep
	}
	action, rep, ok := o.enum("action", "microsoft.graph.security.action", actionMembers)
	if !ok {
		return rep
	}
	prov, rep, ok := o.enum("identityProvider", "microsoft.graph.security.identityProvider", providerMembers)
	if !ok {
		return rep
	}
	s.settle(u, now, false)
	var acct *Account
	for i := range u.Accounts {
		if u.Accounts[i].Identifier == accountID && strings.EqualFold(u.Accounts[i].Provider, prov) {
			acct = &u.Accounts[i]
		}
	}
	f := s.faults
	switch {
	case acct == nil:
		return badRequest("No account '" + accountID + "' with identity provider '" + prov + "' belongs to this identity.")
	case !containsFold(invokeProviders[action], prov):
		// Refused even when the account's actions[] lists it: the account
		// resource page offers entraID actions the invokeAction page
		// does not (reference/providers.md §3.5), and the invokeAction
		// page documents no error for it, so the answer is the generic one.
		return badRequest("The action '" + action + "' is not available for this account.")
	case !slices.ContainsFunc(acct.Actions, func(a string) bool { return strings.EqualFold(a, action) }):
		return badRequest("The action '" + action + "' is not available for this account.")
	case containsFold(f.FailAccounts, u.ID) || containsFold(f.FailAccounts, u.UPN) || (u.Email != "" && containsFold(f.FailAccounts, u.Email)):
		return badRequest("The action '" + action + "' could not be performed on the account.")
	}
	corr := s.newGUID()
	s.invokes = append(s.invokes, Invocation{Time: now, IdentityAccountID: u.ID, AccountID: accountID,
		Action: action, IdentityProvider: prov, CorrelationID: corr})
	stuck := containsFold(f.StuckAccounts, u.ID) || containsFold(f.StuckAccounts, u.UPN) || (u.Email != "" && containsFold(f.StuckAccounts, u.Email))
	if !stuck {
		b := s.behavior
		if b.ApplyAfterReads == 0 && b.ApplyAfter == 0 && len(u.pending) == 0 {
			apply(u, action)
		} else {
			u.pending = append(u.pending, &pendingAction{action: action, readsLeft: b.ApplyAfterReads, at: now.Add(b.ApplyAfter)})
		}
	}
	b := s.behavior
	provKey, outAction, outProv := "identityProvider", action, prov
	if b.ProviderKey {
		provKey = "provider"
	}
	if b.PascalCaseEnums {
		outAction, outProv = pascal(action), pascal(prov)
	}
	res := map[string]any{"accountId": accountID, "action": outAction, provKey: outProv, "correlationId": corr}
	if b.InvokeResultValue {
		return s.acted(jsonReply(http.StatusOK, map[string]any{"value": res}))
	}
	res["@odata.context"] = s.URL() + "/v1.0/$metadata#microsoft.graph.security.invokeActionResult"
	return s.acted(jsonReply(http.StatusOK, res))
}
