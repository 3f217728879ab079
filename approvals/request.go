package approvals

import (
	"slices"
	"time"
)

// State is where a request is in its life (DESIGN §4).
type State string

// The states of a request.
const (
	StatePending         State = "pending"
	StateApproved        State = "approved"
	StateRunning         State = "running"
	StateSucceeded       State = "succeeded"
	StatePartiallyFailed State = "partially_failed"
	StateFailed          State = "failed"
	StateDenied          State = "denied"
	StateExpired         State = "expired"
	StateCancelled       State = "cancelled"
	StateNeedsAttention  State = "needs_attention"
)

// States lists every state.
func States() []State {
	return []State{
		StatePending, StateApproved, StateRunning, StateSucceeded, StatePartiallyFailed,
		StateFailed, StateDenied, StateExpired, StateCancelled, StateNeedsAttention,
	}
}

// Terminal reports whether no event can move a request out of s.
func (s State) Terminal() bool {
	switch s {
	case StateSucceeded, StatePartiallyFailed, StateFailed, StateDenied,
		StateExpired, StateCancelled, StateNeedsAttention:
		return true
	}
	return false
}

// Phase is the execution step of a running request. It fences submission:
// a request found in PhaseSubmitting after a crash may or may not have
// reached the provider, so it is never submitted again automatically.
type Phase string

// Execution phases, in order.
const (
	PhaseNone       Phase = ""           // not started, or resolving targets
	PhaseSubmitting Phase = "submitting" // a provider call may be in flight
	PhaseSubmitted  Phase = "submitted"  // every submission is recorded; polling
)

// Actor is a person acting through one platform account. Authorization uses
// Person, which comes from the people directory, never from message text.
type Actor struct {
	Person   string `json:"person"`   // people[].name from config
	Platform string `json:"platform"` // slack, discord, console, cli
	Account  string `json:"account"`  // the platform's user id
	Name     string `json:"name"`     // display name, for humans only
}

// Decision is one approval or denial.
type Decision struct {
	Actor  Actor     `json:"actor"`
	At     time.Time `json:"at"`
	Reason string    `json:"reason,omitempty"`
}

// Request is a filed spec and everything that has happened to it.
type Request struct {
	ID        int64
	Spec      Spec
	Hash      string // ContentHash of the spec and the items at filing time
	Requester Actor
	State     State
	Phase     Phase

	// ApprovalsRequired and Approvers are fixed when the request is filed:
	// how many distinct approvals it needs and the people who may give them.
	ApprovalsRequired int
	Approvers         []string

	Approvals []Decision // distinct people, in order of arrival
	Denial    *Decision  // set when denied
	Cancel    *Decision  // set when cancelled

	CreatedAt  time.Time
	ExpiresAt  time.Time
	UpdatedAt  time.Time
	ApprovedAt time.Time // zero until approved
	FinishedAt time.Time // zero until a terminal state after running

	// Note explains the current state where it needs explaining: the cause
	// of failed or needs_attention.
	Note    string
	Version int64 // incremented by every stored change
}

// ApprovedBy reports whether person has approved r.
func (r Request) ApprovedBy(person string) bool {
	return slices.ContainsFunc(r.Approvals, func(d Decision) bool { return d.Actor.Person == person })
}

// MayApprove reports whether person is eligible to approve or deny r: listed
// as an approver when it was filed and not its requester.
func (r Request) MayApprove(person string) bool {
	return person != "" && person != r.Requester.Person && slices.Contains(r.Approvers, person)
}

// Waiting lists the people who may still approve r, in filing order.
func (r Request) Waiting() []string {
	var out []string
	for _, p := range r.Approvers {
		if p != r.Requester.Person && !r.ApprovedBy(p) {
			out = append(out, p)
		}
	}
	return out
}

// Filter selects stored requests: the query of a store's List. The zero
// Filter selects every request, oldest first.
type Filter struct {
	States        []State   // empty: any
	CreatedSince  time.Time // zero: no lower bound
	CreatedBefore time.Time // zero: no upper bound
	UpdatedSince  time.Time // zero: no lower bound
	Requester     string    // person; empty: anyone
	Limit         int       // 0: no limit
	Newest        bool      // newest first instead of oldest first
}
