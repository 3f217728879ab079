package audit

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
)

var key = []byte("test-audit-key-0123456789abcdefghijkl")

func chain(n int) []Entry {
	var out []Entry
	prev := ""
	for i := range n {
		e := Entry{Seq: int64(i + 1), At: time.Date(2026, 11, 23, 9, 0, i, 0, time.UTC), RequestID: 1, Kind: "approve", Actor: "bob", Detail: json.RawMessage(`{"n":1}`)}
		Seal(key, &e, prev)
		prev = e.Hash
		out = append(out, e)
	}
	return out
}

func verify(es []Entry, head Entry, cps ...Checkpoint) error {
	h := NewHead(key, head.Seq, head.Hash)
	return verifyHead(es, &h, cps...)
}

func verifyHead(es []Entry, h *Head, cps ...Checkpoint) error {
	v := NewVerifier(key, cps...)
	for _, e := range es {
		if err := v.Add(e); err != nil {
			return err
		}
	}
	return v.Finish(h)
}

func TestVerifier(t *testing.T) {
	es := chain(5)
	head := es[4]
	if err := verify(es, head); err != nil {
		t.Fatalf("untouched chain: %v", err)
	}
	for _, tt := range []struct {
		name    string
		mutate  func([]Entry) []Entry
		wantSeq int64
	}{
		{"modified detail", func(es []Entry) []Entry { es[2].Detail = json.RawMessage(`{"n":2}`); return es }, 3},
		{"modified actor", func(es []Entry) []Entry { es[0].Actor = "mallory"; return es }, 1},
		{"deleted", func(es []Entry) []Entry { return append(es[:1], es[2:]...) }, 2},
		{"reordered", func(es []Entry) []Entry { es[1], es[2] = es[2], es[1]; return es }, 2},
		{"wrong key", func(es []Entry) []Entry {
			for i := range es {
				es[i].Hash = Sum([]byte("another-key-0123456789abcdefghijklmn"), es[i])
			}
			return es
		}, 1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := verify(tt.mutate(chain(5)), head)
			var b *BreakError
			if !errors.As(err, &b) || !errors.Is(err, ErrBroken) || b.Seq != tt.wantSeq {
				t.Errorf("got %v, want a break at %d", err, tt.wantSeq)
			}
		})
	}
	// Cutting the tail is caught by the recorded head.
	if err := verify(chain(5)[:4], head); !errors.Is(err, ErrBroken) {
		t.Errorf("truncated chain: %v, want broken", err)
	}
}

// TestVerifierHead covers the end of the chain: a head must be authentic
// (its MAC needs the key), present, and agree with the last entry.
func TestVerifierHead(t *testing.T) {
	es := chain(5)
	forged := func(seq int64, hash string) *Head {
		return &Head{Seq: seq, Hash: hash, MAC: NewHead(key, 5, es[4].Hash).MAC}
	}
	otherKey := NewHead([]byte("another-key-0123456789abcdefghijklmn"), 5, es[4].Hash)
	authentic := func(seq int64, hash string) *Head { h := NewHead(key, seq, hash); return &h }
	for _, tt := range []struct {
		name    string
		entries []Entry
		head    *Head
		wantSeq int64 // 0: verifies
	}{
		{"intact", es, authentic(5, es[4].Hash), 0},
		{"empty chain, genesis head", nil, authentic(0, ""), 0},
		{"last 1 cut, head rewritten", es[:4], forged(4, es[3].Hash), 5},
		{"last 3 cut, head rewritten", es[:2], forged(2, es[1].Hash), 3},
		{"all cut, head rewritten", nil, forged(0, ""), 1},
		{"all cut, head MAC cleared", nil, &Head{}, 1},
		{"last 3 cut, head kept", es[:2], authentic(5, es[4].Hash), 3},
		{"head moved back, forged", es, forged(4, es[3].Hash), 5},
		{"head moved back, authentic", es, authentic(4, es[3].Hash), 5},
		{"head ahead of the chain", es, authentic(6, "f00"), 6},
		{"head hash differs", es, authentic(5, "f00"), 5},
		{"head under another key", es, &otherKey, 6},
		{"head missing", es, nil, 6},
		{"head missing, chain empty", nil, nil, 1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := verifyHead(tt.entries, tt.head)
			var b *BreakError
			switch {
			case tt.wantSeq == 0 && err != nil:
				t.Errorf("got %v, want the chain to verify", err)
			case tt.wantSeq != 0 && (!errors.As(err, &b) || !errors.Is(err, ErrBroken) || b.Seq != tt.wantSeq):
				t.Errorf("got %v, want a break at %d", err, tt.wantSeq)
			}
		})
	}
	if err := verifyHead(es, nil); !errors.Is(err, ErrNoHead) {
		t.Errorf("missing head: got %v, want ErrNoHead", err)
	}
}

func TestExportFormats(t *testing.T) {
	e := chain(1)[0]
	e.Actor = "=HYPERLINK(\"http://evil\")"
	Seal(key, &e, "")
	var buf bytes.Buffer
	w, err := NewWriter(&buf, "csv")
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Write(e); err != nil {
		t.Fatal(err)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(&buf).ReadAll()
	if err != nil || len(rows) != 2 {
		t.Fatalf("csv: %d rows, %v", len(rows), err)
	}
	if got := rows[1][4]; !strings.HasPrefix(got, "'=") {
		t.Errorf("csv actor %q: a formula must be defused", got)
	}
	if rows[1][7] != e.Hash || rows[1][0] != "1" {
		t.Errorf("csv row %v lacks seq or hash", rows[1])
	}

	buf.Reset()
	w, _ = NewWriter(&buf, "jsonl")
	_ = w.Write(e)
	var back Entry
	if err := json.Unmarshal(buf.Bytes(), &back); err != nil || back.Hash != e.Hash || back.Actor != e.Actor {
		t.Errorf("jsonl round trip: %+v, %v", back, err)
	}
	// An exported line verifies on its own.
	if Sum(key, back) != back.Hash {
		t.Errorf("the exported entry does not verify")
	}
	if _, err := NewWriter(&buf, "xml"); err == nil {
		t.Errorf("format xml accepted")
	}
}
