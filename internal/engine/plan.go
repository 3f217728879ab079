package engine

import (
	"fmt"

	"github.com/countersign/countersign/approvals"
	"github.com/countersign/countersign/internal/store"
	"github.com/countersign/countersign/providers"
)

// Why an approved item is not acted on.
const (
	skipGone      = "no longer resolves to the account or mailbox that was approved; nothing was sent"
	skipOther     = "now resolves to a different account than the one approved; nothing was sent"
	skipUnbound   = "was filed without a recorded identity, so what was approved cannot be verified; nothing was sent"
	skipProtected = "is protected (%s); nothing was sent"
)

// plan decides, for the items still pending, which fresh resolutions to
// send: only an item whose target resolves now to the very identity that
// was approved, and that no protected entry matches, either as approved or
// as it is now. Every other pending item is skipped with the reason. What
// the provider finds beyond the approved items is never acted on; ignored
// counts it.
func plan(items []approvals.Item, fresh []providers.Resolved, policy approvals.Policy) (todo []providers.Resolved, skips []store.ItemUpdate, ignored int) {
	found := make(map[string]providers.Resolved, len(fresh))
	for _, r := range fresh {
		found[r.Key] = r
	}
	approved := make(map[string]bool, len(items))
	for _, it := range items {
		approved[it.Key] = true
		if it.Status != approvals.ItemPending {
			continue
		}
		skip := func(detail string) {
			skips = append(skips, store.ItemUpdate{Key: it.Key, Status: approvals.ItemSkipped, Detail: detail})
		}
		r, ok := found[it.Key]
		pat, protectedNow := policy.ProtectsIdentity(r.Identity)
		if p, ok := policy.ProtectsIdentity(it.Identity); ok {
			pat, protectedNow = p, true
		}
		switch {
		case !it.Identity.Known():
			skip(skipUnbound)
		case !ok || !r.Identity.Known():
			skip(skipGone)
		case !it.Identity.Same(r.Identity):
			skip(skipOther)
		case protectedNow:
			skip(fmt.Sprintf(skipProtected, pat))
		case r.Problem != "":
			skip(r.Problem)
		default:
			todo = append(todo, r)
		}
	}
	for _, r := range fresh {
		if !approved[r.Key] {
			ignored++
		}
	}
	return todo, skips, ignored
}
