// Package audit defines Countersign's tamper-evident log: an append-only
// sequence of entries, each carrying an HMAC-SHA256 over its own content and
// the previous entry's hash, keyed by audit.key. The store appends entries
// inside the transaction of the change they record; this package computes
// and checks the chain and exports it.
package audit

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
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
	m := hmac.New(sha256.New, key)
	m.Write(b)
	return hex.EncodeToString(m.Sum(nil))
}

// Seal sets e.PrevHash to prev and e.Hash to its chain hash.
func Seal(key []byte, e *Entry, prev string) {
	e.PrevHash = prev
	e.Hash = Sum(key, *e)
}

// ErrBroken is wrapped by every verification failure.
var ErrBroken = errors.New("audit chain broken")

// BreakError names the first entry at which the chain fails.
type BreakError struct {
	Seq    int64
	Reason string
}

func (e *BreakError) Error() string {
	return fmt.Sprintf("%v at sequence %d: %s", ErrBroken, e.Seq, e.Reason)
}

// Unwrap returns ErrBroken.
func (e *BreakError) Unwrap() error { return ErrBroken }

// Verifier checks entries fed to it in sequence order. The zero value is
// not usable; call NewVerifier.
type Verifier struct {
	key      []byte
	nextSeq  int64
	prevHash string
	count    int64
}

// NewVerifier returns a verifier for a chain that starts at sequence 1.
func NewVerifier(key []byte) *Verifier {
	return &Verifier{key: key, nextSeq: 1}
}

// Add checks the next entry. It detects a modified entry (its hash does not
// match its content), a deleted or inserted one (a gap or repeat in the
// sequence, or a PrevHash that does not match the previous entry) and
// reordered ones (both).
func (v *Verifier) Add(e Entry) error {
	switch {
	case e.Seq != v.nextSeq:
		return &BreakError{Seq: v.nextSeq, Reason: fmt.Sprintf("expected sequence %d, found %d (entry missing, inserted or out of order)", v.nextSeq, e.Seq)}
	case e.PrevHash != v.prevHash:
		return &BreakError{Seq: e.Seq, Reason: "previous-hash link does not match the entry before it"}
	case !hmac.Equal([]byte(e.Hash), []byte(Sum(v.key, e))):
		return &BreakError{Seq: e.Seq, Reason: "content does not match its hash (modified, or a different audit key)"}
	}
	v.nextSeq++
	v.prevHash = e.Hash
	v.count++
	return nil
}

// Finish checks the chain's end against the head the store recorded, which
// catches entries removed from the end.
func (v *Verifier) Finish(headSeq int64, headHash string) error {
	last := v.nextSeq - 1
	if headSeq != last {
		return &BreakError{Seq: min(headSeq, last) + 1, Reason: fmt.Sprintf("log ends at sequence %d but the recorded head is %d", last, headSeq)}
	}
	if headHash != v.prevHash {
		return &BreakError{Seq: last, Reason: "last entry's hash does not match the recorded head"}
	}
	return nil
}

// Count returns how many entries verified.
func (v *Verifier) Count() int64 { return v.count }

// Head returns the sequence number and hash of the last verified entry.
func (v *Verifier) Head() (int64, string) { return v.nextSeq - 1, v.prevHash }
