// Package providers defines what Countersign needs from a security provider
// (Trend Micro Cloud App Security, Microsoft Graph), the capability matrix,
// and routing of actions to providers.
package providers

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/countersign/countersign/approvals"
)

// Provider is one security provider.
type Provider interface {
	// Name is the routing name: "tmcas" or "graph".
	Name() string
	// Supports reports whether the provider can perform the action at all.
	Supports(action approvals.Action) bool
	// Resolve previews spec: for each target, what will be touched and its
	// current state. It never changes anything. A target that cannot be
	// acted on is returned with Problem set rather than as an error; the
	// error is for failures of the lookup itself.
	Resolve(ctx context.Context, spec approvals.Spec) ([]Resolved, error)
	// Submit makes the provider calls for one batch, at most MaxItems(action)
	// items. On error, errors.Is(err, ErrUncertain) says the call may have
	// taken effect; otherwise nothing was done.
	Submit(ctx context.Context, batch Batch) (Submission, error)
	// Poll reports the current status of every item of a submission.
	Poll(ctx context.Context, sub Submission) (Progress, error)
}

// Chunker is implemented by providers that limit how many items one Submit
// may carry. Each Submit is one fenced step of execution, so a provider that
// makes one call per item returns 1.
type Chunker interface {
	MaxItems(action approvals.Action) int
}

// MaxItems returns how many items one Submit to p may carry for action;
// 0 means no limit.
func MaxItems(p Provider, action approvals.Action) int {
	if c, ok := p.(Chunker); ok {
		return c.MaxItems(action)
	}
	return 0
}

// RowCounter is implemented by providers whose call carries more than one
// row for some items (TMCAS: one row per copy of a message in a mailbox).
// MaxItems then counts rows, not items.
type RowCounter interface {
	Rows(item Resolved) int
}

// Fit returns how many leading items of items one Submit to p may carry for
// action: as many as fit in MaxItems rows, and at least one so that an item
// too large for any call reaches Submit and is refused there with its
// reason rather than stalling the request.
func Fit(p Provider, action approvals.Action, items []Resolved) int {
	limit := MaxItems(p, action)
	if limit <= 0 {
		return len(items)
	}
	rc, ok := p.(RowCounter)
	if !ok {
		return min(limit, len(items))
	}
	rows := 0
	for i, it := range items {
		rows += rc.Rows(it)
		if rows > limit {
			return max(i, 1)
		}
	}
	return len(items)
}

// Reconciler is implemented by providers that can tell, after a Submit
// whose outcome is uncertain, what became of the batch. Reconcile only
// reads: it never sends the batch or any item of it again.
type Reconciler interface {
	// Reconcile looks for batch at the provider. sentAt is when Submit was
	// called, by the caller's clock; providers widen their windows for
	// clock skew.
	Reconcile(ctx context.Context, batch Batch, sentAt time.Time) (Reconciliation, error)
}

// Reconciliation is what a provider shows of an uncertain batch. Every item
// of the batch is in exactly one of Submission.Items and Unknown.
type Reconciliation struct {
	// Submission, when not nil, carries the items the provider shows it
	// received, to be polled like any submission: those it did not perform
	// end failed or skipped in its words, and none is sent again.
	Submission *Submission
	// Unknown maps the keys of items whose fate the provider cannot tell to
	// a note saying what a person should check: where, which ids, which
	// time window.
	Unknown map[string]string
}

// Resolved is one item of a preview.
type Resolved struct {
	Key     string `json:"key"`               // unique in the request: lower-cased address, or "networkMessageId/recipient"
	Target  string `json:"target"`            // the spec target it came from
	Display string `json:"display"`           // display name and address, or the mail subject
	State   string `json:"state"`             // current state in the provider's words: "enabled", "inbox_folder"
	Account string `json:"account,omitempty"` // provider account acted on
	Mailbox string `json:"mailbox,omitempty"` // mail: the recipient mailbox
	Subject string `json:"subject,omitempty"` // mail: the subject
	// Identity is what the target resolves to: the provider's id for it,
	// its account ids and every address the provider returned. The
	// request is bound to it; execution acts only on the same identity.
	Identity approvals.Identity `json:"identity"`
	// Problem, when set, says why this target cannot be acted on ("no such
	// user", "disable is not available for this account"). It blocks filing.
	Problem string `json:"problem,omitempty"`
	// Data holds provider-private facts Submit needs (ids, delivery times).
	Data json.RawMessage `json:"data,omitempty"`
}

// Batch is one Submit: the request's spec and the resolved items to act on.
type Batch struct {
	RequestID int64
	Spec      approvals.Spec
	Items     []Resolved
	// Label is shown in the provider's consoles ("Countersign request 42").
	Label string
	// Note is a human description ("Phishing — approved by bob").
	Note string
}

// Submission is what Submit returns and Poll takes. The engine stores it as
// JSON right after the call, so every field must survive a round trip.
type Submission struct {
	Provider    string          `json:"provider"`
	ID          string          `json:"id,omitempty"`   // batch_id, bulkId or securityAction id
	Link        string          `json:"link,omitempty"` // a page for humans, such as the Action Center
	Items       []SubmittedItem `json:"items"`
	Data        json.RawMessage `json:"data,omitempty"` // provider-private polling state
	SubmittedAt time.Time       `json:"submittedAt"`
}

// SubmittedItem ties a resolved item to the provider's reference for it.
type SubmittedItem struct {
	Key string `json:"key"`
	Ref string `json:"ref,omitempty"` // correlationId, action_id, …
}

// Progress is the result of one Poll.
type Progress struct {
	Items []ItemStatus
	Done  bool // every item is terminal
}

// ItemStatus is the status of one submitted item.
type ItemStatus struct {
	Key    string
	Status approvals.ItemStatus
	Detail string // provider text for humans, e.g. an error_message; never secrets
	Ref    string
}

// Errors callers branch on.
var (
	// ErrUncertain: the call may have reached the provider and taken
	// effect (a 5xx, a timeout after sending). Never resubmit
	// automatically; a Reconciler can tell what became of it.
	ErrUncertain = errors.New("provider call outcome is unknown")
	// ErrTemporary: the provider refused for now (throttled, unavailable)
	// and nothing was done; trying again later is safe.
	ErrTemporary = errors.New("provider temporarily unavailable")
	// ErrUnsupported: the provider cannot perform this action.
	ErrUnsupported = errors.New("action not supported by provider")
	// ErrNoProvider: no provider is configured for the action.
	ErrNoProvider = errors.New("no provider configured")
)

// Error is a refusal of the router or a provider client that people may be
// shown as it is: Msg names only actions, flags and provider names from
// config, never data from a provider's answer or a secret. Err is the
// sentinel callers branch on, ErrNoProvider or ErrUnsupported.
type Error struct {
	Err error
	Msg string // a lowercase sentence without a final full stop
}

func (e *Error) Error() string { return e.Err.Error() + ": " + e.Msg }

// Unwrap returns the sentinel, for errors.Is.
func (e *Error) Unwrap() error { return e.Err }
