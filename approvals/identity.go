package approvals

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"path"
	"slices"
	"strings"
)

// Identity is what a target resolved to, in the provider's own terms. It is
// stored with each item when the request is filed, covered by the request's
// hash, and compared with a fresh resolution before the item is acted on:
// approvers approve identities, not typed text.
type Identity struct {
	// ID is the provider's stable name of what is acted on: a Graph
	// identityAccounts id, a TMCAS mailbox address, or
	// "message/recipient" for one copy of a mail.
	ID string `json:"id"`
	// Accounts are the provider account ids the call names or that own
	// the target (Graph accounts[].identifier, the identity account of a
	// mail recipient). Sorted, lower-cased.
	Accounts []string `json:"accounts,omitempty"`
	// Addresses are every address the provider returned for the identity
	// (UPN, mail, the typed alias). Sorted, lower-cased.
	Addresses []string `json:"addresses,omitempty"`
}

// Normalize returns id with its lists lower-cased, sorted and without
// duplicates or blanks, so equal identities compare and hash equal.
func (id Identity) Normalize() Identity {
	id.ID = strings.TrimSpace(id.ID)
	id.Accounts = canonicalSet(id.Accounts)
	id.Addresses = canonicalSet(id.Addresses)
	return id
}

func canonicalSet(in []string) []string {
	var out []string
	for _, v := range in {
		if v = strings.ToLower(strings.TrimSpace(v)); v != "" {
			out = append(out, v)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// Known reports whether the identity names anything at all.
func (id Identity) Known() bool { return strings.TrimSpace(id.ID) != "" }

// Same reports whether id and other are the same identity: the same
// provider id and the same accounts. Addresses may come and go (an alias is
// added) without changing who is acted on; an account id may not.
func (id Identity) Same(other Identity) bool {
	a, b := id.Normalize(), other.Normalize()
	return a.Known() && strings.EqualFold(a.ID, b.ID) && slices.Equal(a.Accounts, b.Accounts)
}

// idPrefix marks a protected_targets entry that names an immutable id
// rather than an address glob: "id:<guid>".
const idPrefix = "id:"

// ProtectsIdentity returns the first protected entry that matches any
// address or id of id. Address entries are globs over lower-cased
// addresses; "id:<value>" entries match the identity's ID or any of its
// account ids exactly (case-insensitively).
func (p Policy) ProtectsIdentity(id Identity) (string, bool) {
	id = id.Normalize()
	for _, g := range p.Protected {
		pat := strings.ToLower(strings.TrimSpace(g))
		if v, ok := strings.CutPrefix(pat, idPrefix); ok {
			v = strings.TrimSpace(v)
			if v != "" && (strings.EqualFold(id.ID, v) || slices.Contains(id.Accounts, v)) {
				return g, true
			}
			continue
		}
		for _, a := range id.Addresses {
			if ok, err := path.Match(pat, a); err == nil && ok {
				return g, true
			}
		}
	}
	return "", false
}

// ContentHash returns the hex SHA-256 over the canonical spec and, for
// each item, its key, the identity it resolved to and what the card showed
// of it. Approvals bind to this hash, so approving a card approves exactly
// these identities.
func ContentHash(spec Spec, items []Item) string {
	type boundItem struct {
		Key      string   `json:"key"`
		Identity Identity `json:"identity"`
		Display  string   `json:"display"`
		Before   string   `json:"before"`
	}
	bound := make([]boundItem, 0, len(items))
	for _, it := range items {
		bound = append(bound, boundItem{Key: it.Key, Identity: it.Identity.Normalize(), Display: it.Display, Before: it.Before})
	}
	slices.SortFunc(bound, func(a, b boundItem) int { return cmp.Compare(a.Key, b.Key) })
	b, err := json.Marshal(struct {
		Spec  Spec        `json:"spec"`
		Items []boundItem `json:"items"`
	}{spec.Canonical(), bound})
	if err != nil {
		// Only strings, bools and slices of them.
		panic(fmt.Sprintf("approvals: encoding content: %v", err))
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}
