package graphtest

import (
	"net/http"
	"strings"
	"time"
)

// The entity sets the fake serves, as their @odata.context names them.
const (
	setAccounts        = "security/identities/identityAccounts"
	setEmails          = "security/collaboration/analyzedEmails"
	setSecurityActions = "security/securityActions"
)

// entity is one item of an entity set, as its list and get handlers serve
// it.
type entity interface {
	entityID() string
	// read counts a read of the item, which may move its delayed state
	// along, and renders it as Graph does; callers hold mu.
	read(s *Server, now time.Time) map[string]any
}

func (u *userState) entityID() string { return u.ID }

func (u *userState) read(s *Server, now time.Time) map[string]any {
	s.settle(u, now, true)
	return s.renderUser(u)
}

func (e *emailState) entityID() string { return e.ID }

func (e *emailState) read(s *Server, now time.Time) map[string]any {
	s.settleEmail(e, now, true)
	return s.renderEmail(e)
}

func (a *securityActionState) entityID() string { return a.ID }

func (a *securityActionState) read(s *Server, now time.Time) map[string]any {
	a.advance(now, true)
	return s.renderSecurityAction(a)
}

// byID returns the item of all with id.
func byID[E entity](all []E, id string) (E, bool) {
	for _, e := range all {
		if e.entityID() == id {
			return e, true
		}
	}
	var none E
	return none, false
}

// notFound is Graph's 404 for an item of a set; what names the item.
func notFound(what string) reply {
	return graphError(http.StatusNotFound, "itemNotFound", "The "+what+" was not found.")
}

// getEntity serves GET {set}/{id}: the item, read, or 404; callers hold
// mu.
func getEntity[E entity](s *Server, r *http.Request, set string, all []E, id string, now time.Time, what string) reply {
	if rep, ok := allowQuery(r.URL.Query(), "$select"); !ok {
		return rep
	}
	e, ok := byID(all, id)
	if !ok {
		return notFound(what)
	}
	out := e.read(s, now)
	out["@odata.context"] = s.URL() + "/" + version(r) + "/$metadata#" + set + "/$entity"
	return jsonReply(http.StatusOK, out)
}

// listPage serves the page of hits the request asks for ($top,
// $skiptoken), each item read, in the envelope of a list page: value, the
// nextLink when more pages follow, and @odata.count when $count=true asked
// for it. Callers hold mu.
func listPage[E entity](s *Server, r *http.Request, set string, hits []E, now time.Time) reply {
	from, to, next, rep, ok := s.pageOf(r, len(hits))
	if !ok {
		return rep
	}
	value := make([]map[string]any, 0, to-from)
	for _, e := range hits[from:to] {
		value = append(value, e.read(s, now))
	}
	out := map[string]any{"@odata.context": s.URL() + "/" + version(r) + "/$metadata#" + set, "value": value}
	if next != "" {
		out["@odata.nextLink"] = next
	}
	if r.URL.Query().Get("$count") == "true" {
		out["@odata.count"] = len(hits)
	}
	return jsonReply(http.StatusOK, out)
}

// version is the Graph version of the request's path: "v1.0" or "beta".
func version(r *http.Request) string {
	return strings.SplitN(strings.TrimPrefix(r.URL.Path, "/"), "/", 2)[0]
}
