package approvals

import (
	"fmt"
	"path"
	"slices"
	"strings"
	"time"
)

// Policy decides whether a spec may be filed and what it then needs. The
// bot builds one from config plus the platform's current view of who may
// request and approve (person ids).
type Policy struct {
	ApprovalsRequired int            // default number of distinct approvals
	Overrides         map[string]int // by Spec.PolicyKey(), then by action
	RequestTTL        time.Duration
	MaxTargets        int
	RequireReason     bool
	Protected         []string // globs over lower-cased addresses, as path.Match

	Requesters []string // person ids allowed to file; empty means any known person
	Approvers  []string // person ids allowed to approve or deny
}

// Required returns how many distinct approvals spec needs: the override for
// PermanentPurgeKey when it deletes mail permanently, else for its policy
// key ("purge-mail:hard-delete"), else for its action, else the default.
func (p Policy) Required(spec Spec) int {
	if n, ok := p.Overrides[PermanentPurgeKey]; ok && spec.DeletesPermanently() {
		return n
	}
	if n, ok := p.Overrides[spec.PolicyKey()]; ok {
		return n
	}
	if n, ok := p.Overrides[string(spec.Action)]; ok {
		return n
	}
	return p.ApprovalsRequired
}

// Protects returns the first protected pattern that matches target, if any.
func (p Policy) Protects(target string) (string, bool) {
	t := strings.ToLower(strings.TrimSpace(target))
	for _, g := range p.Protected {
		if ok, err := path.Match(strings.ToLower(g), t); err == nil && ok {
			return g, true
		}
	}
	return "", false
}

// Check refuses, with a sentinel error, a spec that must not be filed by
// requester. It fails closed: any doubt is a refusal.
func (p Policy) Check(spec Spec, requester Actor) error {
	if requester.Person == "" {
		return ErrUnknownPerson
	}
	if !spec.Action.Valid() {
		return fmt.Errorf("%w: unknown action %q", ErrInvalidTransition, spec.Action)
	}
	if len(p.Requesters) > 0 && !slices.Contains(p.Requesters, requester.Person) {
		return ErrNotRequester
	}
	if len(spec.Targets) == 0 {
		return ErrNoTargets
	}
	if n := len(spec.Targets); n > p.MaxTargets {
		return &CountError{Got: n, Limit: p.MaxTargets, Err: ErrTooManyTargets}
	}
	if p.RequireReason && strings.TrimSpace(spec.Reason) == "" {
		return ErrReasonRequired
	}
	if err := p.CheckProtected(spec.Targets); err != nil {
		return err
	}
	if spec.Mail != nil {
		if err := p.CheckProtected(spec.Mail.Recipients); err != nil {
			return err
		}
	}
	need := p.Required(spec)
	if have := len(p.eligibleApprovers(requester.Person)); need < 1 || have < need {
		return &CountError{Got: have, Limit: need, Err: ErrNotEnoughApprovers}
	}
	return nil
}

// CheckProtected refuses the first protected address in targets. The bot
// also calls it on what targets resolve to, such as a message's recipients.
func (p Policy) CheckProtected(targets []string) error {
	for _, t := range targets {
		if _, ok := p.Protects(t); ok {
			return &TargetError{Target: t, Err: ErrProtectedTarget}
		}
	}
	return nil
}

// eligibleApprovers returns the distinct approvers other than the requester.
func (p Policy) eligibleApprovers(requester string) []string {
	var out []string
	for _, a := range p.Approvers {
		if a != "" && a != requester && !slices.Contains(out, a) {
			out = append(out, a)
		}
	}
	return out
}

// File checks spec and the items its targets resolved to and returns the
// pending request to store. The spec is stored in canonical form, the hash
// binds it to the items' identities, and the request records, at filing
// time, how many approvals it needs and who may give them.
func (p Policy) File(spec Spec, items []Item, requester Actor, now time.Time) (Request, error) {
	spec = spec.Canonical()
	if err := p.Check(spec, requester); err != nil {
		return Request{}, err
	}
	for _, it := range items {
		if pat, ok := p.ProtectsIdentity(it.Identity); ok {
			return Request{}, &TargetError{Target: it.Key, Err: fmt.Errorf("%w (%s)", ErrProtectedTarget, pat)}
		}
	}
	return Request{
		Spec:              spec,
		Hash:              ContentHash(spec, items),
		Requester:         requester,
		State:             StatePending,
		ApprovalsRequired: p.Required(spec),
		Approvers:         p.eligibleApprovers(requester.Person),
		CreatedAt:         now,
		UpdatedAt:         now,
		ExpiresAt:         now.Add(p.RequestTTL),
	}, nil
}
