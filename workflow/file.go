package workflow

import (
	"context"
	"errors"
	"fmt"

	"github.com/countersign/countersign/approvals"
	"github.com/countersign/countersign/providers"
)

// Draft is an action ready to be previewed or filed: the spec routed to
// its provider, the policy with the approvers of the requester's platform,
// and what the policy says of it.
type Draft struct {
	Spec   approvals.Spec   // routed: Provider and the provider's defaults are set
	Policy approvals.Policy // with the eligible approvers
	Actor  approvals.Actor  // the requester
	// Refusal is why the policy refuses the request (a protected target
	// as typed, too many targets, no reason, too few approvers), nil when
	// it allows it. A preview shows it; File refuses with it.
	Refusal error

	provider providers.Provider
}

// Problem is a target that cannot be acted on, so nothing is filed.
type Problem struct {
	Target string // the target as resolved, or as typed
	Detail string // why, for people: "protected (ceo@contoso.com)"
}

// Preview is what a draft's targets resolve to.
type Preview struct {
	Items    []approvals.Item // what would be acted on, each bound to its identity
	Problems []Problem
}

// NotFiledError is File's answer when a target cannot be acted on: the
// request is filed whole or not at all.
type NotFiledError struct {
	Problems []Problem
}

func (e *NotFiledError) Error() string {
	return fmt.Sprintf("not filed: %d target(s) cannot be acted on", len(e.Problems))
}

// ErrNothingToDo is File's answer when the provider found nothing to act
// on, such as a message no mailbox holds.
var ErrNothingToDo = errors.New("not filed: nothing to act on")

// Draft routes spec to its provider and checks it against the policy, with
// the approvers eligible on the requester's platform. Its error is a
// routing refusal (*providers.Error) or a failure to list the approvers;
// the policy's refusal is in Draft.Refusal, for previews.
func (s *Service) Draft(ctx context.Context, spec approvals.Spec, requester approvals.Actor, eligible Approvers) (Draft, error) {
	spec, provider, err := s.cfg.Providers.Route(spec)
	if err != nil {
		return Draft{}, err
	}
	policy := s.cfg.Policy
	approvers, err := eligible.Approvers(ctx)
	if err != nil {
		return Draft{}, fmt.Errorf("listing approvers: %w", err)
	}
	policy.Approvers = approvers
	return Draft{Spec: spec, Policy: policy, Actor: requester, Refusal: policy.Check(spec.Canonical(), requester), provider: provider}, nil
}

// Preview resolves the draft's targets through the provider, as File
// would, and files nothing.
func (s *Service) Preview(ctx context.Context, d Draft) (Preview, error) {
	resolved, err := d.provider.Resolve(ctx, d.Spec)
	if err != nil {
		return Preview{}, fmt.Errorf("resolving targets with %s: %w", d.Spec.Provider, err)
	}
	var p Preview
	now := s.cfg.Now()
	for _, r := range resolved {
		if r.Problem != "" {
			p.Problems = append(p.Problems, Problem{Target: r.Display, Detail: r.Problem})
			continue
		}
		display := r.Display
		if r.Mailbox != "" {
			display = r.Mailbox + " (" + r.Subject + ")"
		}
		if !r.Identity.Known() {
			// Fail closed: nothing can be bound to the approval.
			p.Problems = append(p.Problems, Problem{Target: display, Detail: providers.DisplayName(d.Spec.Provider) + " did not say what this target is"})
			continue
		}
		if pat, ok := d.Policy.ProtectsIdentity(r.Identity); ok {
			p.Problems = append(p.Problems, Problem{Target: display, Detail: "protected (" + pat + ")"})
			continue
		}
		p.Items = append(p.Items, approvals.Item{Key: r.Key, Target: r.Target, Identity: r.Identity, Display: display,
			Before: r.State, Status: approvals.ItemPending, Updated: now})
	}
	return p, nil
}

// File resolves the draft's targets, binds each item to the identity it
// resolved to, checks protection against those identities, and stores the
// request as pending. It files all of the targets or none: a target that
// cannot be acted on gives a *NotFiledError, an empty resolution
// ErrNothingToDo.
func (s *Service) File(ctx context.Context, d Draft) (approvals.Request, []approvals.Item, error) {
	if d.Refusal != nil {
		return approvals.Request{}, nil, d.Refusal
	}
	p, err := s.Preview(ctx, d)
	if err != nil {
		return approvals.Request{}, nil, err
	}
	if len(p.Problems) > 0 {
		return approvals.Request{}, nil, &NotFiledError{Problems: p.Problems}
	}
	if len(p.Items) == 0 {
		return approvals.Request{}, nil, ErrNothingToDo
	}
	req, err := d.Policy.File(d.Spec, p.Items, d.Actor, s.cfg.Now())
	if err != nil {
		return approvals.Request{}, nil, err
	}
	req, err = s.cfg.Store.Create(ctx, req, p.Items)
	if err != nil {
		return approvals.Request{}, nil, err
	}
	s.log.InfoContext(ctx, "request filed", "request_id", req.ID, "action", string(d.Spec.Action), "provider", d.Spec.Provider,
		"requester", d.Actor.Person, "targets", len(d.Spec.Targets), "items", len(p.Items))
	return req, p.Items, nil
}
