package audit

import (
	"bufio"
	"crypto/hmac"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// CheckpointMessage is the message of the log line that carries a
// checkpoint; ReadCheckpoints picks such lines out of a log.
const CheckpointMessage = "audit checkpoint"

// Checkpoint is a signed statement that the chain held entry Seq with Hash
// at time At. Kept where the database's users cannot reach (a log
// collector, another machine), checkpoints pin the chain up to their entry:
// a chain later cut short or rewritten no longer holds them, even if
// whoever did it also rewrote the head, or holds the audit key.
type Checkpoint struct {
	Seq  int64     `json:"seq"`
	Hash string    `json:"hash"`
	At   time.Time `json:"at"`
	MAC  string    `json:"mac"`
}

// NewCheckpoint signs entry seq with hash at time at, kept to the second.
func NewCheckpoint(key []byte, seq int64, hash string, at time.Time) Checkpoint {
	at = at.UTC().Truncate(time.Second)
	return Checkpoint{Seq: seq, Hash: hash, At: at, MAC: checkpointMAC(key, seq, hash, at)}
}

// checkpointMAC is domain-separated from the head's MAC: a checkpoint is
// published, and must not be usable as a head.
func checkpointMAC(key []byte, seq int64, hash string, at time.Time) string {
	return mac(key, fmt.Sprintf("countersign audit checkpoint\x00%d\x00%s\x00%d", seq, hash, at.Unix()))
}

// ErrForgedCheckpoint is wrapped by ReadCheckpoints for a checkpoint whose
// MAC does not match.
var ErrForgedCheckpoint = errors.New("checkpoint is not authentic")

// LogAttrs returns the checkpoint as slog key/value pairs, for a line with
// message CheckpointMessage. The time is a string so that every handler
// prints it whole.
func (c Checkpoint) LogAttrs() []any {
	return []any{"seq", c.Seq, "hash", c.Hash, "at", c.At.UTC().Format(time.RFC3339), "mac", c.MAC}
}

// ReadCheckpoints reads checkpoints, one a line, and checks their MACs
// under key. A line is a checkpoint file's JSON object, or a log line of
// serve's in JSON or logfmt (key=value) form; log lines with another
// message, blank lines and lines starting with # are skipped, so a whole log
// may be given. It fails on a malformed or forged checkpoint
// (ErrForgedCheckpoint), naming its line, and when there is none.
func ReadCheckpoints(r io.Reader, key []byte) ([]Checkpoint, error) {
	var out []Checkpoint
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64*1024), 1024*1024)
	for n := 1; sc.Scan(); n++ {
		cp, ok, err := parseCheckpoint(sc.Text())
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", n, err)
		}
		if !ok {
			continue
		}
		if !hmac.Equal([]byte(cp.MAC), []byte(checkpointMAC(key, cp.Seq, cp.Hash, cp.At))) {
			return nil, fmt.Errorf("line %d (entry %d): %w (altered, or signed with another audit key)", n, cp.Seq, ErrForgedCheckpoint)
		}
		out = append(out, cp)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading checkpoints: %w", err)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no checkpoint found (lines with %q, or a checkpoint file's JSON objects)", CheckpointMessage)
	}
	return out, nil
}

// parseCheckpoint reads one line; ok is false for a line to skip.
func parseCheckpoint(line string) (cp Checkpoint, ok bool, err error) {
	line = strings.TrimSpace(line)
	if line == "" || strings.HasPrefix(line, "#") {
		return cp, false, nil
	}
	var f map[string]string
	if strings.HasPrefix(line, "{") {
		f, err = jsonFields(line)
		if err != nil {
			return cp, false, err
		}
	} else {
		f = logfmtFields(line)
	}
	msg, hasMsg := f["msg"]
	_, hasMAC := f["mac"]
	if (hasMsg && msg != CheckpointMessage) || (!hasMsg && !hasMAC) {
		return cp, false, nil // another log line, or text that is not one
	}
	if cp.Seq, err = strconv.ParseInt(f["seq"], 10, 64); err != nil || cp.Seq < 1 {
		return cp, false, fmt.Errorf("checkpoint seq %q is not a sequence number", f["seq"])
	}
	if cp.At, err = time.Parse(time.RFC3339, f["at"]); err != nil {
		return cp, false, fmt.Errorf("checkpoint at %q is not an RFC 3339 time", f["at"])
	}
	cp.Hash, cp.MAC = f["hash"], f["mac"]
	if cp.Hash == "" || cp.MAC == "" {
		return cp, false, errors.New("checkpoint lacks hash or mac")
	}
	return cp, true, nil
}

// jsonFields returns the string and number members of a JSON object, as
// text.
func jsonFields(line string) (map[string]string, error) {
	var obj map[string]json.RawMessage
	if err := json.Unmarshal([]byte(line), &obj); err != nil {
		return nil, fmt.Errorf("not a JSON object: %w", err)
	}
	f := make(map[string]string, len(obj))
	for k, v := range obj {
		var s string
		if json.Unmarshal(v, &s) == nil {
			f[k] = s
		} else if _, err := strconv.ParseInt(string(v), 10, 64); err == nil {
			f[k] = string(v)
		}
	}
	return f, nil
}

// logfmtFields returns the key=value pairs of a line as slog's text handler
// writes it: values are bare or Go-quoted. Words without "=", such as a
// prefix a log collector added, are skipped.
func logfmtFields(line string) map[string]string {
	f := map[string]string{}
	for s := line; s != ""; s = strings.TrimLeft(s, " \t") {
		eq, sp := strings.IndexByte(s, '='), strings.IndexAny(s, " \t")
		if eq <= 0 || sp >= 0 && sp < eq {
			if sp < 0 {
				break
			}
			s = s[sp:]
			continue
		}
		key, rest := s[:eq], s[eq+1:]
		val, end := rest, len(rest)
		if q, err := strconv.QuotedPrefix(rest); err == nil {
			val, _ = strconv.Unquote(q)
			end = len(q)
		} else if i := strings.IndexAny(rest, " \t"); i >= 0 {
			val, end = rest[:i], i
		}
		f[key] = val
		s = rest[end:]
	}
	return f
}
