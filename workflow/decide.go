package workflow

import (
	"context"
	"errors"
	"fmt"

	"github.com/countersign/countersign/approvals"
	"github.com/countersign/countersign/commands"
)

// Approve records actor's approval of request id, bound to hash, the
// content hash on the card they clicked. The approval that reaches quorum
// makes the request approved and enqueues its execution.
func (s *Service) Approve(ctx context.Context, actor approvals.Actor, id int64, hash string) (approvals.Request, error) {
	r, err := s.cfg.Store.Apply(ctx, id, approvals.Event{Kind: approvals.EventApprove, Actor: actor, Hash: hash}, s.cfg.Now())
	if err != nil {
		return r, err
	}
	s.log.InfoContext(ctx, "request approved", "request_id", id, "by", actor.Person, "state", string(r.State))
	if r.State == approvals.StateApproved && s.cfg.Metrics != nil {
		s.cfg.Metrics.ObserveApproval(string(r.Spec.Action), r.ApprovedAt.Sub(r.CreatedAt))
	}
	return r, nil
}

// MayDeny reports why actor may not deny request id with hash now, by the
// rule Deny applies; nil means they may. The chat front asks it before
// opening the reason dialog, so nobody types a reason for a denial that
// cannot be.
func (s *Service) MayDeny(ctx context.Context, actor approvals.Actor, id int64, hash string) error {
	r, err := s.cfg.Store.Get(ctx, id)
	if err != nil {
		return err
	}
	return approvals.CheckDecision(r, actor.Person, hash, s.cfg.Now())
}

// Deny records actor's denial of request id, bound to hash, which ends it.
// The reason is held to exactly what --reason accepts.
func (s *Service) Deny(ctx context.Context, actor approvals.Actor, id int64, hash, reason string) (approvals.Request, error) {
	reason, err := commands.Reason("the reason", reason)
	if err != nil {
		return approvals.Request{}, err
	}
	r, err := s.cfg.Store.Apply(ctx, id, approvals.Event{Kind: approvals.EventDeny, Actor: actor, Hash: hash, Reason: reason}, s.cfg.Now())
	if err != nil {
		return r, err
	}
	s.log.InfoContext(ctx, "request denied", "request_id", id, "by", actor.Person)
	return r, nil
}

// Cancel withdraws request id for actor, the requester or an
// administrator, until its execution has started. reason may be empty.
func (s *Service) Cancel(ctx context.Context, actor approvals.Actor, id int64, reason string) (approvals.Request, error) {
	ev := approvals.Event{Kind: approvals.EventCancel, Actor: actor, Admin: s.cfg.Admin(actor.Person), Reason: reason}
	r, err := s.cfg.Store.Apply(ctx, id, ev, s.cfg.Now())
	if err != nil {
		return r, err
	}
	s.log.InfoContext(ctx, "request cancelled", "request_id", id, "by", actor.Person)
	return r, nil
}

// expiryBatch is how many requests ExpireDue expires per query.
const expiryBatch = 100

// ExpireDue expires every pending request whose TTL has passed and
// returns their ids, so the caller can have them rendered again; on an
// error it returns those expired so far. A request decided meanwhile is
// left as it is. The engine runs it on the leader, on its expiry schedule.
func (s *Service) ExpireDue(ctx context.Context) ([]int64, error) {
	now := s.cfg.Now()
	var done []int64
	for {
		ids, err := s.cfg.Store.DueForExpiry(ctx, now, expiryBatch)
		if err != nil {
			return done, err
		}
		expired := 0
		for _, id := range ids {
			_, err := s.cfg.Store.Apply(ctx, id, approvals.Event{Kind: approvals.EventExpire}, now)
			switch {
			case err == nil:
				expired++
				done = append(done, id)
				s.log.InfoContext(ctx, "request expired", "request_id", id)
			case errors.Is(err, approvals.ErrAlreadyDecided), errors.Is(err, approvals.ErrNotExpired):
				// Decided since the query.
			default:
				return done, fmt.Errorf("expiring request %d: %w", id, err)
			}
		}
		if len(ids) < expiryBatch || expired == 0 {
			return done, nil
		}
	}
}
