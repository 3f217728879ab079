package audit

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"time"
)

// Writer writes entries in an export format.
type Writer interface {
	Write(Entry) error
	Flush() error
}

// NewWriter returns a writer for format "jsonl" or "csv".
func NewWriter(w io.Writer, format string) (Writer, error) {
	switch format {
	case "jsonl":
		return &jsonlWriter{enc: json.NewEncoder(w)}, nil
	case "csv":
		cw := csv.NewWriter(w)
		if err := cw.Write(csvHeader); err != nil {
			return nil, fmt.Errorf("writing csv header: %w", err)
		}
		return &csvWriter{w: cw}, nil
	}
	return nil, fmt.Errorf("unknown export format %q (use jsonl or csv)", format)
}

type jsonlWriter struct{ enc *json.Encoder }

func (j *jsonlWriter) Write(e Entry) error { return j.enc.Encode(e) }
func (j *jsonlWriter) Flush() error        { return nil }

var csvHeader = []string{"seq", "at", "request_id", "kind", "actor", "detail", "prev_hash", "hash"}

type csvWriter struct{ w *csv.Writer }

func (c *csvWriter) Write(e Entry) error {
	rid := ""
	if e.RequestID != 0 {
		rid = strconv.FormatInt(e.RequestID, 10)
	}
	// csv.Writer quotes fields as needed; a leading = + - @ is prefixed so
	// spreadsheet software does not evaluate user-supplied text as a formula.
	return c.w.Write([]string{
		strconv.FormatInt(e.Seq, 10), e.At.UTC().Format(time.RFC3339Nano), rid,
		defuse(e.Kind), defuse(e.Actor), defuse(string(e.Detail)), e.PrevHash, e.Hash,
	})
}

func (c *csvWriter) Flush() error {
	c.w.Flush()
	return c.w.Error()
}

func defuse(s string) string {
	if s != "" && (s[0] == '=' || s[0] == '+' || s[0] == '-' || s[0] == '@' || s[0] == '\t' || s[0] == '\r') {
		return "'" + s
	}
	return s
}
