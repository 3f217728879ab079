package store

import (
	"context"
	"fmt"
	"strings"

	"github.com/countersign/countersign/internal/audit"
)

// AuditEntries returns the entries about requests (RequestID set) in w, in
// sequence order, without their Detail and hashes.
func (s *Store) AuditEntries(ctx context.Context, w audit.Window) ([]audit.Entry, error) {
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
	return collect(ctx, s.q(), "reading the audit window", func(row scanner) (audit.Entry, error) {
		var e audit.Entry
		var at int64
		err := row.Scan(&e.Seq, &at, &e.RequestID, &e.Kind, &e.Actor)
		e.At = fromMicros(at)
		return e, err
	}, cols+` AND seq > $3 AND seq <= $2`+kinds+
		` UNION ALL `+cols+` AND seq <= $3 AND seq <= $2 AND at >= $4`+kinds+` ORDER BY seq`, args...)
}
