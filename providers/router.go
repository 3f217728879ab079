package providers

import (
	"fmt"
	"slices"
	"strings"

	"github.com/countersign/countersign/approvals"
)

// Router picks the provider for a spec: --provider when given, else the
// routes: entry for the action, else the only configured provider that
// supports it.
type Router struct {
	routes    map[approvals.Action]string
	providers map[string]Provider
}

// NewRouter checks routes against the configured providers.
func NewRouter(routes map[string]string, ps ...Provider) (*Router, error) {
	r := &Router{routes: map[approvals.Action]string{}, providers: map[string]Provider{}}
	for _, p := range ps {
		r.providers[p.Name()] = p
	}
	for a, name := range routes {
		action := approvals.Action(a)
		if !action.Valid() {
			return nil, fmt.Errorf("routes: unknown action %q", a)
		}
		p, ok := r.providers[name]
		if !ok {
			return nil, fmt.Errorf("routes: %s: provider %q is not configured", a, name)
		}
		if !p.Supports(action) {
			return nil, fmt.Errorf("routes: %s: provider %q does not support it", a, name)
		}
		r.routes[action] = name
	}
	return r, nil
}

// Provider returns the configured provider with the given name.
func (r *Router) Provider(name string) (Provider, bool) {
	p, ok := r.providers[name]
	return p, ok
}

// Route chooses the provider for spec and returns the spec with Provider set
// and provider defaults applied (the purge-mail action), ready to be hashed.
func (r *Router) Route(spec approvals.Spec) (approvals.Spec, Provider, error) {
	name := spec.Provider
	if name == "" {
		name = r.routes[spec.Action]
	}
	if name == "" {
		var able []string
		for n, p := range r.providers {
			if p.Supports(spec.Action) {
				able = append(able, n)
			}
		}
		slices.Sort(able)
		switch len(able) {
		case 0:
			return spec, nil, &Error{Err: ErrNoProvider, Msg: fmt.Sprintf("no configured provider supports %s", spec.Action)}
		case 1:
			name = able[0]
		default:
			return spec, nil, &Error{Err: ErrNoProvider, Msg: fmt.Sprintf("%s is supported by %s; add a routes: entry or pass --provider",
				spec.Action, strings.Join(able, " and "))}
		}
	}
	p, ok := r.providers[name]
	if !ok {
		return spec, nil, &Error{Err: ErrNoProvider, Msg: fmt.Sprintf("provider %q is not configured", name)}
	}
	if !p.Supports(spec.Action) {
		return spec, nil, &Error{Err: ErrUnsupported, Msg: fmt.Sprintf("%s cannot %s", name, spec.Action)}
	}
	spec.Provider = name
	if spec.Action == approvals.ActionPurgeMail {
		m := approvals.MailOptions{}
		if spec.Mail != nil {
			m = *spec.Mail
		}
		allowed := approvals.MailActions(name)
		if m.Action == "" {
			m.Action = allowed[0]
		}
		if !slices.Contains(allowed, m.Action) {
			return spec, nil, &Error{Err: ErrUnsupported, Msg: fmt.Sprintf("%s cannot purge mail with --action %s (use %s)",
				name, m.Action, strings.Join(allowed, ", "))}
		}
		spec.Mail = &m
	}
	return spec, p, nil
}
