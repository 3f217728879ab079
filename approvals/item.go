package approvals

import "time"

// ItemStatus is the progress of one item of work.
type ItemStatus string

// Item statuses. Succeeded, Failed, Skipped and Unknown are terminal.
const (
	ItemPending   ItemStatus = "pending"   // resolved, not yet sent to the provider
	ItemSubmitted ItemStatus = "submitted" // accepted by the provider
	ItemRunning   ItemStatus = "running"   // the provider reports it in progress
	ItemSucceeded ItemStatus = "succeeded"
	ItemFailed    ItemStatus = "failed"
	ItemSkipped   ItemStatus = "skipped" // the provider did not perform it
	// ItemUnknown: the provider may or may not have performed it and cannot
	// tell; it is never sent again, and Detail says what a person should
	// check.
	ItemUnknown ItemStatus = "unknown"
)

// Terminal reports whether the item's outcome is final: nothing more will
// be done with it.
func (s ItemStatus) Terminal() bool {
	return s == ItemSucceeded || s == ItemFailed || s == ItemSkipped || s == ItemUnknown
}

// Item is one unit of work of a request, as previewed and then executed: an
// account, or one recipient's copy of a message. Progress is stored as the
// status of each item, and cards are rendered from it.
type Item struct {
	Key    string // unique within the request: an address, or "messageId/recipient"
	Target string // the spec target it came from
	// Identity is what the target resolved to when the request was filed;
	// only this identity is ever acted on.
	Identity Identity
	Display  string // what a human recognises: display name and address, or subject
	Before   string // state when previewed, in the provider's words ("enabled", "inbox_folder")
	Status   ItemStatus
	Detail   string // the provider's message or the cause of failure, for humans
	Ref      string // the provider's reference id for this item
	Updated  time.Time
}

// Outcome returns the final state of a request whose items are all
// terminal: needs_attention when the outcome of any item is unknown, else
// succeeded only when every item succeeded, failed when none did,
// partially_failed otherwise. Skipped items are not successes.
func Outcome(items []Item) State {
	ok := 0
	for _, it := range items {
		switch it.Status {
		case ItemUnknown:
			return StateNeedsAttention
		case ItemSucceeded:
			ok++
		}
	}
	switch {
	case len(items) > 0 && ok == len(items):
		return StateSucceeded
	case ok == 0:
		return StateFailed
	}
	return StatePartiallyFailed
}
