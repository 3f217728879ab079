package audit

import (
	"bytes"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

var cpAt = time.Date(2026, 11, 23, 9, 5, 0, 0, time.UTC)

// logLine formats cp as serve logs it, with a text (logfmt) or JSON handler.
func logLine(t *testing.T, cp Checkpoint, json bool) string {
	t.Helper()
	var b bytes.Buffer
	h := slog.Handler(slog.NewTextHandler(&b, nil))
	if json {
		h = slog.NewJSONHandler(&b, nil)
	}
	slog.New(h).Info(CheckpointMessage, cp.LogAttrs()...)
	return b.String()
}

func fileLine(t *testing.T, cp Checkpoint) string {
	t.Helper()
	b, err := json.Marshal(cp)
	if err != nil {
		t.Fatal(err)
	}
	return string(b) + "\n"
}

func TestReadCheckpoints(t *testing.T) {
	es := chain(5)
	cp3, cp5 := NewCheckpoint(key, 3, es[2].Hash, cpAt), NewCheckpoint(key, 5, es[4].Hash, cpAt.Add(5*time.Minute))
	other := `{"time":"2026-11-23T09:00:00Z","level":"INFO","msg":"serving","addr":":8080"}` + "\n" +
		`time=2026-11-23T09:00:00Z level=INFO msg="request expired" request_id=7` + "\n"
	for _, tt := range []struct {
		name string
		in   string
		want []Checkpoint
	}{
		{"checkpoint file", fileLine(t, cp3) + fileLine(t, cp5), []Checkpoint{cp3, cp5}},
		{"json log line", logLine(t, cp3, true), []Checkpoint{cp3}},
		{"logfmt log line", logLine(t, cp5, false), []Checkpoint{cp5}},
		{"logfmt line behind a collector's prefix", "2026-11-23T09:05:00.1Z stderr F " + logLine(t, cp5, false), []Checkpoint{cp5}},
		{"logfmt pairs alone", "seq=3 hash=" + cp3.Hash + " at=2026-11-23T09:05:00Z mac=" + cp3.MAC, []Checkpoint{cp3}},
		{"a whole log", "# kept off-box\n\n" + other + logLine(t, cp3, true) + other + logLine(t, cp5, false), []Checkpoint{cp3, cp5}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ReadCheckpoints(strings.NewReader(tt.in), key)
			if err != nil {
				t.Fatalf("ReadCheckpoints: %v\ninput:\n%s", err, tt.in)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("checkpoints (-want +got):\n%s", diff)
			}
		})
	}
}

func TestReadCheckpointsRefuses(t *testing.T) {
	cp := NewCheckpoint(key, 3, chain(3)[2].Hash, cpAt)
	altered := func(f func(*Checkpoint)) string {
		c := cp
		f(&c)
		return fileLine(t, c)
	}
	for _, tt := range []struct {
		name   string
		in     string
		forged bool
	}{
		{"altered seq", altered(func(c *Checkpoint) { c.Seq = 4 }), true},
		{"altered hash", altered(func(c *Checkpoint) { c.Hash = chain(4)[3].Hash }), true},
		{"altered time", altered(func(c *Checkpoint) { c.At = c.At.Add(time.Hour) }), true},
		{"altered mac", altered(func(c *Checkpoint) { c.MAC = strings.Repeat("0", 64) }), true},
		{"another key", fileLine(t, NewCheckpoint([]byte("another-key-0123456789abcdefghijklmn"), cp.Seq, cp.Hash, cp.At)), true},
		{"forged log line", strings.Replace(logLine(t, cp, false), "seq=3", "seq=2", 1), true},
		{"seq not a number", `{"seq":"three","hash":"ab","at":"2026-11-23T09:05:00Z","mac":"cd"}`, false},
		{"seq zero", `{"seq":0,"hash":"ab","at":"2026-11-23T09:05:00Z","mac":"cd"}`, false},
		{"bad time", `{"seq":3,"hash":"ab","at":"yesterday","mac":"cd"}`, false},
		{"checkpoint line without mac", `time=x level=INFO msg="audit checkpoint" seq=3 hash=ab at=2026-11-23T09:05:00Z`, false},
		{"broken json", `{"seq":3,`, false},
		{"no checkpoint", "just some text\n" + `{"msg":"serving"}` + "\n", false},
		{"empty", "", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ReadCheckpoints(strings.NewReader(tt.in), key)
			if err == nil {
				t.Fatalf("ReadCheckpoints = %+v, want an error", got)
			}
			if errors.Is(err, ErrForgedCheckpoint) != tt.forged {
				t.Errorf("got %v; want ErrForgedCheckpoint: %v", err, tt.forged)
			}
		})
	}
}

func TestVerifierCheckpoints(t *testing.T) {
	es := chain(5)
	head := es[4]
	at := func(seq int64, hash string) Checkpoint { return NewCheckpoint(key, seq, hash, cpAt) }
	for _, tt := range []struct {
		name    string
		entries []Entry
		head    Entry
		cps     []Checkpoint
		wantSeq int64 // 0: verifies
	}{
		{"held", es, head, []Checkpoint{at(5, es[4].Hash), at(2, es[1].Hash), at(2, es[1].Hash)}, 0},
		// Entries 4 and 5 replaced by a chain resealed with the key, and a
		// head to match: only the checkpoint remembers the old entry 4.
		{"rewritten with the key", resealed(es, 3), resealed(es, 3)[4], []Checkpoint{at(4, es[3].Hash)}, 4},
		{"cut, head replayed", es[:3], es[2], []Checkpoint{at(2, es[1].Hash), at(5, es[4].Hash)}, 4},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := verify(tt.entries, tt.head, tt.cps...)
			var b *BreakError
			switch {
			case tt.wantSeq == 0 && err != nil:
				t.Errorf("got %v, want the chain to verify", err)
			case tt.wantSeq != 0 && (!errors.As(err, &b) || b.Seq != tt.wantSeq):
				t.Errorf("got %v, want a break at %d", err, tt.wantSeq)
			}
		})
	}
}

// resealed returns es with the entries after the first keep changed and
// sealed again under the key, as someone holding it could.
func resealed(es []Entry, keep int) []Entry {
	out := append([]Entry(nil), es...)
	for i := keep; i < len(out); i++ {
		out[i].Actor = "mallory"
		Seal(key, &out[i], out[i-1].Hash)
	}
	return out
}

func FuzzReadCheckpoints(f *testing.F) {
	cp := NewCheckpoint(key, 3, chain(3)[2].Hash, cpAt)
	b, _ := json.Marshal(cp)
	f.Add(string(b))
	f.Add(`time=2026-11-23T09:05:00Z level=INFO msg="audit checkpoint" seq=3 hash=ab at=2026-11-23T09:05:00Z mac=cd`)
	f.Add(`msg="unterminated seq=1 =x = a=b=c "" mac=`)
	f.Fuzz(func(t *testing.T, in string) {
		cps, err := ReadCheckpoints(strings.NewReader(in), key)
		if err != nil {
			return
		}
		// Whatever is accepted was signed with the key: writing it out and
		// reading it back gives the same checkpoints.
		var buf bytes.Buffer
		for _, c := range cps {
			b, _ := json.Marshal(c)
			buf.Write(append(b, '\n'))
		}
		again, err := ReadCheckpoints(&buf, key)
		if err != nil || !cmp.Equal(cps, again) {
			t.Fatalf("round trip of %+v: %+v, %v", cps, again, err)
		}
	})
}
