package approvals

import (
	"fmt"
	"time"
)

// EventKind names what happened to a request.
type EventKind string

// Event kinds. Approve, Deny and Cancel come from people; the rest from the
// engine and the expiry sweep.
const (
	EventApprove    EventKind = "approve"
	EventDeny       EventKind = "deny"
	EventCancel     EventKind = "cancel"
	EventExpire     EventKind = "expire"
	EventStart      EventKind = "start"      // approved → running
	EventSubmitting EventKind = "submitting" // a provider call is about to be made
	EventSubmitted  EventKind = "submitted"  // every provider call is recorded
	EventFinish     EventKind = "finish"     // running → Outcome
	EventAttention  EventKind = "attention"  // running → needs_attention
)

// Event is one thing that happened to a request.
type Event struct {
	Kind  EventKind
	Actor Actor // approve, deny, cancel

	// Hash is the spec hash the person saw (full or short). Approve and
	// deny require it so a click is bound to the content of the card.
	Hash string

	// Admin is set by the caller, from config, when Actor may cancel
	// requests filed by others.
	Admin bool

	Reason  string // deny and cancel reason; cause of attention or failure
	Outcome State  // finish: succeeded, partially_failed or failed
}

// Transition applies ev to r at time now and returns the new request. It is a
// pure function: it never changes r, and storage applies its result with
// compare-and-swap on Version. The returned request's Version is not
// incremented; the store does that.
func Transition(r Request, ev Event, now time.Time) (Request, error) {
	if r.State.Terminal() {
		return r, fmt.Errorf("%w: request is %s", ErrAlreadyDecided, r.State)
	}
	next := r
	next.UpdatedAt = now
	switch ev.Kind {
	case EventApprove, EventDeny:
		if err := CheckDecision(r, ev.Actor.Person, ev.Hash, now); err != nil {
			return r, err
		}
		d := Decision{Actor: ev.Actor, At: now, Reason: ev.Reason}
		if ev.Kind == EventDeny {
			next.State = StateDenied
			next.Denial = &d
			return next, nil
		}
		if r.ApprovedBy(ev.Actor.Person) {
			return r, ErrAlreadyApproved
		}
		next.Approvals = append(append([]Decision(nil), r.Approvals...), d)
		if len(next.Approvals) >= r.ApprovalsRequired {
			next.State = StateApproved
			next.ApprovedAt = now
		}
		return next, nil

	case EventCancel:
		if ev.Actor.Person == "" {
			return r, ErrUnknownPerson
		}
		if ev.Actor.Person != r.Requester.Person && !ev.Admin {
			return r, fmt.Errorf("%w: only the requester or an admin may cancel", ErrNotAllowed)
		}
		switch {
		case r.State == StatePending, r.State == StateApproved:
		case r.State == StateRunning && r.Phase == PhaseNone:
		case r.State == StateRunning:
			return r, ErrAlreadyStarted
		default:
			return r, invalid(r, ev)
		}
		next.State = StateCancelled
		next.Cancel = &Decision{Actor: ev.Actor, At: now, Reason: ev.Reason}
		next.FinishedAt = now
		return next, nil

	case EventExpire:
		if r.State != StatePending {
			return r, fmt.Errorf("%w: request is %s", ErrAlreadyDecided, r.State)
		}
		if now.Before(r.ExpiresAt) {
			return r, ErrNotExpired
		}
		next.State = StateExpired
		return next, nil

	case EventStart:
		if r.State != StateApproved {
			return r, invalid(r, ev)
		}
		next.State = StateRunning
		next.Phase = PhaseNone
		return next, nil

	case EventSubmitting:
		if r.State != StateRunning || r.Phase == PhaseSubmitted {
			return r, invalid(r, ev)
		}
		next.Phase = PhaseSubmitting
		return next, nil

	case EventSubmitted:
		if r.State != StateRunning || r.Phase != PhaseSubmitting {
			return r, invalid(r, ev)
		}
		next.Phase = PhaseSubmitted
		return next, nil

	case EventFinish, EventAttention:
		// Both end a run, with the reason as the note: finish in the
		// outcome the engine found, attention when it could not tell.
		if r.State != StateRunning {
			return r, invalid(r, ev)
		}
		next.State = StateNeedsAttention
		if ev.Kind == EventFinish {
			switch ev.Outcome {
			case StateSucceeded, StatePartiallyFailed, StateFailed:
			default:
				return r, fmt.Errorf("%w: outcome %q", ErrInvalidTransition, ev.Outcome)
			}
			next.State = ev.Outcome
		}
		next.Note = ev.Reason
		next.FinishedAt = now
		return next, nil
	}
	return r, fmt.Errorf("%w: unknown event %q", ErrInvalidTransition, ev.Kind)
}

// CheckDecision reports why person may not approve or deny r at now with
// hash, the content hash on the card they clicked (full or short); nil
// means they may. Transition applies it to every approval and denial; the
// chat front asks it before opening the reason dialog of a denial, so
// nobody types a reason for a denial that cannot be.
func CheckDecision(r Request, person, hash string, now time.Time) error {
	switch {
	case person == "":
		return ErrUnknownPerson
	case r.State != StatePending:
		return fmt.Errorf("%w: request is %s", ErrAlreadyDecided, r.State)
	case !now.Before(r.ExpiresAt):
		return ErrExpired
	case person == r.Requester.Person:
		return ErrSelfApproval
	case !r.MayApprove(person):
		return ErrNotApprover
	case !MatchesHash(r.Hash, hash):
		return ErrHashMismatch
	}
	return nil
}

func invalid(r Request, ev Event) error {
	return fmt.Errorf("%w: %s while %s", ErrInvalidTransition, ev.Kind, describe(r))
}

func describe(r Request) string {
	if r.Phase != PhaseNone {
		return string(r.State) + "/" + string(r.Phase)
	}
	return string(r.State)
}
