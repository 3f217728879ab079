package graphtest

import (
	"encoding/json"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"time"
)

// SecurityAction is one legacy securityAction (beta).
type SecurityAction struct {
	ID           string
	Name         string // BlockIp
	ActionReason string
	IP           string // the IP parameter
	Status       string // NotStarted, Running, Completed, Failed
	Cancelled    bool
	Created      time.Time
	Completed    time.Time // zero until terminal
	ErrorMessage string    // errorInfo.message when Failed
}

type securityActionState struct {
	SecurityAction
	vendor    map[string]string
	params    []map[string]string
	reads     int
	stepReads int
	fail      bool
}

// SecurityActions returns every created securityAction in creation order.
func (s *Server) SecurityActions() []SecurityAction {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]SecurityAction, 0, len(s.actions))
	for _, a := range s.actions {
		out = append(out, a.SecurityAction)
	}
	return out
}

// advance moves the action along with the reads: stepReads reads in
// NotStarted, stepReads in Running, then Completed or Failed. A read counts
// when read is set. Callers hold mu.
func (a *securityActionState) advance(now time.Time, read bool) {
	if a.Status == "Completed" || a.Status == "Failed" {
		return
	}
	if read {
		a.reads++
	}
	switch step := a.reads / a.stepReads; {
	case a.Cancelled:
		a.Status, a.ErrorMessage, a.Completed = "Failed", "Cancelled", now
	case step == 0:
		a.Status = "NotStarted"
	case step == 1:
		a.Status = "Running"
	case a.fail:
		a.Status, a.ErrorMessage, a.Completed = "Failed", "Blocking the IP address failed on Windows Defender ATP", now
	default:
		a.Status, a.Completed = "Completed", now
	}
}

func (s *Server) renderSecurityAction(a *securityActionState) map[string]any {
	doc := s.behavior.DocSecurityActions
	ts := func(t time.Time) any {
		if t.IsZero() {
			return nil
		}
		if doc {
			return t.UTC().Format("2006-01-02 15:04:05.00000")
		}
		return t.UTC().Format("2006-01-02T15:04:05.0000000Z")
	}
	status, name := a.Status, a.Name
	if doc {
		status, name = strings.ToLower(status[:1])+status[1:], "blockIp"
	}
	var errInfo any
	if a.Status == "Failed" {
		errInfo = map[string]any{"code": 400, "message": a.ErrorMessage, "subcode": 0}
	}
	last := a.Created
	if !a.Completed.IsZero() {
		last = a.Completed
	}
	return map[string]any{
		"id": a.ID, "name": name, "status": status, "actionReason": a.ActionReason,
		"appId": s.clientID, "azureTenantId": s.tenant, "clientContext": nil, "user": "",
		"createdDateTime": ts(a.Created), "lastActionDateTime": ts(last), "completedDateTime": ts(a.Completed),
		"errorInfo": errInfo, "parameters": a.params, "vendorInformation": a.vendor,
		"states": []map[string]any{{"appId": s.clientID, "status": status, "updatedDateTime": ts(last), "user": ""}},
	}
}

// createSecurityAction serves POST /beta/security/securityActions (§5).
func (s *Server) createSecurityAction(_ *http.Request, body []byte, now time.Time) reply {
	o, rep, ok := strictObject(body, "securityActions",
		[]string{"name", "actionReason", "parameters", "vendorInformation", "clientContext"},
		[]string{"name", "parameters", "vendorInformation"})
	if !ok {
		return rep
	}
	name, rep, ok := o.str("name")
	if !ok {
		return rep
	}
	if !strings.EqualFold(name, "BlockIp") {
		return graphError(http.StatusBadRequest, "notSupported", "The action '"+name+"' is not supported; only BlockIp is.")
	}
	reason, rep, ok := o.str("actionReason")
	if !ok {
		return rep
	}
	var rawParams []json.RawMessage
	if err := json.Unmarshal(o["parameters"], &rawParams); err != nil || len(rawParams) == 0 {
		return badRequest("parameters must be a non-empty collection of microsoft.graph.keyValuePair.")
	}
	var params []map[string]string
	ip := ""
	for _, raw := range rawParams {
		p, rep, ok := strictObject(raw, "securityActions", []string{"name", "value"}, []string{"name"})
		if !ok {
			return rep
		}
		n, rep, ok := p.str("name")
		if !ok {
			return rep
		}
		v, rep, ok := p.str("value")
		if !ok {
			return rep
		}
		if strings.EqualFold(n, "IP") {
			addr, err := netip.ParseAddr(v)
			if err != nil {
				return badRequest("The IP parameter '" + v + "' is not an IP address.")
			}
			ip = addr.String()
		}
		params = append(params, map[string]string{"name": n, "value": v})
	}
	if ip == "" {
		return badRequest("BlockIp needs an IP parameter.")
	}
	vo, rep, ok := strictObject(o["vendorInformation"], "securityActions",
		[]string{"provider", "providerVersion", "subProvider", "vendor"}, []string{"provider", "vendor"})
	if !ok {
		return rep
	}
	vendor := map[string]string{}
	for _, k := range []string{"provider", "providerVersion", "subProvider", "vendor"} {
		v, rep, ok := vo.str(k)
		if !ok {
			return rep
		}
		if _, has := vo[k]; has {
			vendor[k] = v
		}
	}
	if !strings.EqualFold(vendor["provider"], "Windows Defender ATP") || !strings.EqualFold(vendor["vendor"], "Microsoft") {
		return graphError(http.StatusBadRequest, "notSupported", "Only provider 'Windows Defender ATP' of vendor 'Microsoft' is supported.")
	}
	steps := s.behavior.SecurityActionStepReads
	if steps <= 0 {
		steps = 1
	}
	a := &securityActionState{
		SecurityAction: SecurityAction{ID: s.newGUID(), Name: "BlockIp", ActionReason: reason, IP: ip, Status: "NotStarted", Created: now},
		vendor:         vendor, params: params, stepReads: steps,
		fail: slices.ContainsFunc(s.faults.FailIPs, func(x string) bool {
			a, err := netip.ParseAddr(strings.TrimSpace(x))
			return err == nil && a.String() == ip
		}),
	}
	s.actions = append(s.actions, a)
	return s.acted(jsonReply(http.StatusCreated, s.renderSecurityAction(a)))
}

// listSecurityActions serves GET /beta/security/securityActions.
func (s *Server) listSecurityActions(r *http.Request, now time.Time) reply {
	if rep, ok := allowQuery(r.URL.Query(), "$top", "$skiptoken"); !ok {
		return rep
	}
	return listPage(s, r, setSecurityActions, s.actions, now)
}

// cancelSecurityAction serves POST …/securityActions/{id}/cancelSecurityAction:
// 200 with no body; the action ends Failed ("Cancelled").
func (s *Server) cancelSecurityAction(id string, body []byte, now time.Time) reply {
	if len(strings.TrimSpace(string(body))) > 0 {
		if _, rep, ok := strictObject(body, "cancelSecurityAction", nil, nil); !ok {
			return rep
		}
	}
	a, ok := byID(s.actions, id)
	switch {
	case !ok:
		return notFound("security action")
	case a.Status == "Completed" || a.Status == "Failed":
		return badRequest("The security action has already ended.")
	}
	a.Cancelled = true
	a.advance(now, false)
	return reply{status: http.StatusOK}
}
