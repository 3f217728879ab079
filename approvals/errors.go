package approvals

import (
	"errors"
	"fmt"
)

// Sentinel errors callers branch on with errors.Is. The bot turns each into
// user-facing text in one place.
var (
	ErrNotFound           = errors.New("request not found")
	ErrSelfApproval       = errors.New("the requester cannot approve or deny their own request")
	ErrNotApprover        = errors.New("not an eligible approver")
	ErrNotRequester       = errors.New("not an eligible requester")
	ErrUnknownPerson      = errors.New("platform account is not mapped to a person")
	ErrAlreadyApproved    = errors.New("already approved by this person")
	ErrAlreadyDecided     = errors.New("request is no longer pending")
	ErrExpired            = errors.New("request has expired")
	ErrNotExpired         = errors.New("request has not expired yet")
	ErrHashMismatch       = errors.New("request content does not match the card")
	ErrAlreadyStarted     = errors.New("execution has already started")
	ErrNotAllowed         = errors.New("not allowed to do this")
	ErrInvalidTransition  = errors.New("invalid transition")
	ErrProtectedTarget    = errors.New("target is protected")
	ErrTooManyTargets     = errors.New("too many targets")
	ErrNoTargets          = errors.New("no targets")
	ErrReasonRequired     = errors.New("a reason is required")
	ErrNotEnoughApprovers = errors.New("fewer eligible approvers than required")
	ErrStaleAttempt       = errors.New("a newer execution attempt owns this request")
)

// TargetError names the target a policy check refused.
type TargetError struct {
	Target string
	Err    error
}

func (e *TargetError) Error() string { return fmt.Sprintf("%s: %v", e.Target, e.Err) }

// Unwrap returns the sentinel.
func (e *TargetError) Unwrap() error { return e.Err }

// CountError carries the numbers behind ErrTooManyTargets and
// ErrNotEnoughApprovers.
type CountError struct {
	Got, Limit int
	Err        error
}

func (e *CountError) Error() string { return fmt.Sprintf("%v (%d, limit %d)", e.Err, e.Got, e.Limit) }

// Unwrap returns the sentinel.
func (e *CountError) Unwrap() error { return e.Err }
