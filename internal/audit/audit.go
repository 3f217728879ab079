// Package audit defines Countersign's tamper-evident log: an append-only
// sequence of entries, each carrying an HMAC-SHA256 over its own content and
// the previous entry's hash, keyed by audit.key. The store appends entries
// inside the transaction of the change they record and keeps the chain's
// head (last sequence number and hash) with a MAC under the same key;
// signed checkpoints of the head, kept elsewhere, pin the chain against
// whoever can rewrite the database. This package computes and checks the
// chain, the head and checkpoints, and exports the chain.
package audit

import (
	"cmp"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"
)

// Entry is one line of the audit log.
type Entry struct {
	Seq       int64           `json:"seq"`
	At        time.Time       `json:"at"`
	RequestID int64           `json:"request_id,omitempty"` // 0 when the entry is not about a request
	Kind      string          `json:"kind"`                 // what happened: requested, approve, deny, …
	Actor     string          `json:"actor"`                // person, or "system"
	Detail    json.RawMessage `json:"detail,omitempty"`     // facts of the event; never secrets
	PrevHash  string          `json:"prev_hash"`
	Hash      string          `json:"hash"`
}

// Sum returns the chain hash of e: HMAC-SHA256 under key over a canonical
// encoding of every field but Hash, including PrevHash. Time is taken at
// microsecond precision, the precision the store keeps.
func Sum(key []byte, e Entry) string {
	canon := struct {
		Seq       int64  `json:"s"`
		At        int64  `json:"t"`
		RequestID int64  `json:"r"`
		Kind      string `json:"k"`
		Actor     string `json:"a"`
		Detail    string `json:"d"`
		PrevHash  string `json:"p"`
	}{e.Seq, e.At.UnixMicro(), e.RequestID, e.Kind, e.Actor, string(e.Detail), e.PrevHash}
	b, err := json.Marshal(canon)
	if err != nil {
		panic(fmt.Sprintf("audit: encoding entry: %v", err)) // only strings and integers
	}
	return mac(key, string(b))
}

// Seal sets e.PrevHash to prev and e.Hash to its chain hash.
func Seal(key []byte, e *Entry, prev string) {
	e.PrevHash = prev
	e.Hash = Sum(key, *e)
}

// ErrBroken is wrapped by every verification failure.
var ErrBroken = errors.New("audit chain broken")

// ErrNoHead reports that the head record is missing: the schema creates
// it, and nothing may delete it. It wraps ErrBroken.
var ErrNoHead = fmt.Errorf("%w: the audit head record is missing", ErrBroken)

// BreakError names the first entry at which the chain fails.
type BreakError struct {
	Seq    int64
	Reason string
	Err    error // a more specific cause that wraps ErrBroken, or nil
}

func (e *BreakError) Error() string {
	return fmt.Sprintf("%v at sequence %d: %s", ErrBroken, e.Seq, e.Reason)
}

// Unwrap returns Err, or ErrBroken.
func (e *BreakError) Unwrap() error {
	if e.Err != nil {
		return e.Err
	}
	return ErrBroken
}

// Head is the recorded end of the chain: the last entry's sequence number
// and hash, authenticated by MAC under the audit key. Entries are hashed
// under the key too, but their hashes sit in the log for anyone to copy; the
// MAC is what keeps someone who deleted the newest entries from pointing the
// head at what is left.
type Head struct {
	Seq  int64
	Hash string
	MAC  string
}

// NewHead returns the head at entry seq with hash, and its MAC.
func NewHead(key []byte, seq int64, hash string) Head {
	return Head{Seq: seq, Hash: hash, MAC: headMAC(key, seq, hash)}
}

// headMAC is domain-separated from entry hashes (JSON that starts with "{")
// and from checkpoints, so none can stand in for another.
func headMAC(key []byte, seq int64, hash string) string {
	return mac(key, fmt.Sprintf("countersign audit head\x00%d\x00%s", seq, hash))
}

func mac(key []byte, msg string) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(msg))
	return hex.EncodeToString(m.Sum(nil))
}

// Check returns nil when h's MAC is right under key, and otherwise a
// *BreakError at the entry after h: entries from there on may have been
// removed and the head pointed back at what was left.
func (h Head) Check(key []byte) error {
	if !hmac.Equal([]byte(h.MAC), []byte(headMAC(key, h.Seq, h.Hash))) {
		return &BreakError{Seq: h.Seq + 1, Reason: fmt.Sprintf("the recorded head (entry %d) is not authentic: its MAC does not match "+
			"(rewritten, perhaps after entries from %d on were removed, or a different audit key)", h.Seq, h.Seq+1)}
	}
	return nil
}

// Verifier checks entries fed to it in sequence order. The zero value is
// not usable; call NewVerifier.
type Verifier struct {
	key         []byte
	nextSeq     int64
	prevHash    string
	count       int64
	checkpoints []Checkpoint // still to meet, in sequence order
}

// NewVerifier returns a verifier for a chain that starts at sequence 1 and
// must hold every checkpoint given. Checkpoints are taken as they are:
// check their MACs first (ReadCheckpoints does).
func NewVerifier(key []byte, checkpoints ...Checkpoint) *Verifier {
	cps := slices.Clone(checkpoints)
	slices.SortStableFunc(cps, func(a, b Checkpoint) int { return cmp.Compare(a.Seq, b.Seq) })
	return &Verifier{key: key, nextSeq: 1, checkpoints: cps}
}

// Add checks the next entry. It detects a modified entry (its hash does not
// match its content), a deleted or inserted one (a gap or repeat in the
// sequence, or a PrevHash that does not match the previous entry),
// reordered ones (both), and an entry that differs from a checkpoint.
func (v *Verifier) Add(e Entry) error {
	switch {
	case e.Seq != v.nextSeq:
		return &BreakError{Seq: v.nextSeq, Reason: fmt.Sprintf("expected sequence %d, found %d (entry missing, inserted or out of order)", v.nextSeq, e.Seq)}
	case e.PrevHash != v.prevHash:
		return &BreakError{Seq: e.Seq, Reason: "previous-hash link does not match the entry before it"}
	case !hmac.Equal([]byte(e.Hash), []byte(Sum(v.key, e))):
		return &BreakError{Seq: e.Seq, Reason: "content does not match its hash (modified, or a different audit key)"}
	}
	for len(v.checkpoints) > 0 && v.checkpoints[0].Seq == e.Seq {
		if cp := v.checkpoints[0]; cp.Hash != e.Hash {
			return &BreakError{Seq: e.Seq, Reason: fmt.Sprintf("entry differs from the checkpoint of %s (the chain was rewritten from here on)", cp.At.Format(time.RFC3339))}
		}
		v.checkpoints = v.checkpoints[1:]
	}
	v.nextSeq++
	v.prevHash = e.Hash
	v.count++
	return nil
}

// Finish checks the chain's end against the head the store recorded, which
// catches entries removed from the end, and against the checkpoints not yet
// met. h is nil when the store has no head record: the schema creates it,
// and nothing may delete it.
func (v *Verifier) Finish(h *Head) error {
	last := v.nextSeq - 1
	if h == nil {
		return &BreakError{Seq: last + 1, Reason: "the audit head record is missing (deleted, with the entries after it perhaps)", Err: ErrNoHead}
	}
	if err := h.Check(v.key); err != nil {
		return err
	}
	switch {
	case h.Seq < last:
		return &BreakError{Seq: h.Seq + 1, Reason: fmt.Sprintf("entries continue to %d past the recorded head %d (the head was moved back)", last, h.Seq)}
	case h.Seq > last:
		return &BreakError{Seq: last + 1, Reason: fmt.Sprintf("log ends at sequence %d but the recorded head is %d", last, h.Seq)}
	case h.Hash != v.prevHash:
		return &BreakError{Seq: last, Reason: "last entry's hash does not match the recorded head"}
	}
	if len(v.checkpoints) > 0 {
		cp := v.checkpoints[0]
		return &BreakError{Seq: last + 1, Reason: fmt.Sprintf("log ends at sequence %d but the checkpoint of %s records entry %d (entries removed)", last, cp.At.Format(time.RFC3339), cp.Seq)}
	}
	return nil
}

// Count returns how many entries verified.
func (v *Verifier) Count() int64 { return v.count }

// Last returns the sequence number of the last verified entry, 0 when none.
func (v *Verifier) Last() int64 { return v.nextSeq - 1 }

// Window selects audit entries by the time they are stamped with and
// by the order they were committed in, which is their sequence number:
// appends take the chain head's lock and hold it until they commit, so an
// entry with a higher number committed later, and once the head reads n
// every entry up to n is committed and none after it can still get a number
// at or below n.
//
// An entry is in the window when it is stamped before To, was committed by
// the time the head read Through, and is either stamped at or after From
// or committed after the head read After. Windows that chain, each one's
// After and From being the Through and To of the one before, hold every
// entry exactly once: an entry stamped before the boundary but committed
// after it was read falls in the later window.
type Window struct {
	From, To       time.Time
	After, Through int64
	// Kinds limits the entries to these kinds; empty means all.
	Kinds []string
}
