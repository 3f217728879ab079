package store

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/countersign/countersign/internal/audit"
)

// AuditWindow selects audit entries by the time they are stamped with and
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
type AuditWindow struct {
	From, To       time.Time
	After, Through int64
	// Kinds limits the entries to these kinds; empty means all.
	Kinds []string
}

// AuditEntries returns the entries about requests (RequestID set) in w, in
// sequence order, without their Detail and hashes.
func (s *Store) AuditEntries(ctx context.Context, w AuditWindow) ([]audit.Entry, error) {
	args := []any{micros(w.To), w.Through, w.After, micros(w.From)}
	kinds := ""
	if len(w.Kinds) > 0 {
		ph := make([]string, len(w.Kinds))
		for i, k := range w.Kinds {
			args = append(args, k)
			ph[i] = fmt.Sprintf("$%d", len(args))
		}
		kinds = " AND kind IN (" + strings.Join(ph, ", ") + ")"
	}
	// Two disjoint ranges, so each can use an index: the one on seq for
	// what was committed since After, the one on at for the rest.
	const cols = `SELECT seq, at, request_id, kind, actor FROM audit_log WHERE request_id <> 0 AND at < $1`
	rows, err := s.q().query(ctx, cols+` AND seq > $3 AND seq <= $2`+kinds+
		` UNION ALL `+cols+` AND seq <= $3 AND seq <= $2 AND at >= $4`+kinds+` ORDER BY seq`, args...)
	if err != nil {
		return nil, fmt.Errorf("reading the audit window: %w", err)
	}
	defer rows.Close()
	var out []audit.Entry
	for rows.Next() {
		var e audit.Entry
		var at int64
		if err := rows.Scan(&e.Seq, &at, &e.RequestID, &e.Kind, &e.Actor); err != nil {
			return nil, fmt.Errorf("reading the audit window: %w", err)
		}
		e.At = fromMicros(at)
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("reading the audit window: %w", err)
	}
	return out, nil
}
