package store

import (
	"context"
	"fmt"
	"time"

	"github.com/countersign/countersign/internal/audit"
)

// appendAudit adds e to the chain inside t. It must be the last statement of
// the transaction: it locks the chain head, which every audited change
// shares, so holding it briefly keeps appends from queueing.
func (s *Store) appendAudit(ctx context.Context, t txn, e audit.Entry) error {
	var prev string
	if err := t.queryRow(ctx, `UPDATE audit_head SET seq = seq + 1 WHERE id = 1 RETURNING seq, hash`).Scan(&e.Seq, &prev); err != nil {
		return fmt.Errorf("locking audit head: %w", err)
	}
	// The chain keeps microseconds; seal what will be read back.
	e.At = fromMicros(micros(e.At))
	audit.Seal(s.auditKey, &e, prev)
	if _, err := t.exec(ctx, `INSERT INTO audit_log (seq, at, request_id, kind, actor, detail, prev_hash, hash)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
		e.Seq, micros(e.At), e.RequestID, e.Kind, e.Actor, string(e.Detail), e.PrevHash, e.Hash); err != nil {
		return fmt.Errorf("appending audit entry: %w", err)
	}
	if _, err := t.exec(ctx, `UPDATE audit_head SET hash = $1 WHERE id = 1`, e.Hash); err != nil {
		return fmt.Errorf("advancing audit head: %w", err)
	}
	return nil
}

// AppendAudit records an event that changes nothing else, such as a digest
// being posted. detail must not hold secrets.
func (s *Store) AppendAudit(ctx context.Context, at time.Time, requestID int64, kind, actor string, d any) error {
	return s.inTx(ctx, func(t txn) error {
		return s.appendAudit(ctx, t, audit.Entry{At: at, RequestID: requestID, Kind: kind, Actor: actor, Detail: detail(d)})
	})
}

// auditPage is how many entries one read of the chain fetches. Paging keeps
// a long export from holding SQLite's only connection.
const auditPage = 1000

// Audit calls fn for every entry with At >= since (zero: all), in sequence
// order.
func (s *Store) Audit(ctx context.Context, since time.Time, fn func(audit.Entry) error) error {
	after := int64(0)
	for {
		rows, err := s.q().query(ctx, `SELECT seq, at, request_id, kind, actor, detail, prev_hash, hash
			FROM audit_log WHERE seq > $1 AND at >= $2 ORDER BY seq LIMIT $3`, after, micros(since), auditPage)
		if err != nil {
			return fmt.Errorf("reading audit log: %w", err)
		}
		var page []audit.Entry
		for rows.Next() {
			e, err := scanEntry(rows)
			if err != nil {
				rows.Close()
				return fmt.Errorf("reading audit log: %w", err)
			}
			page = append(page, e)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("reading audit log: %w", err)
		}
		for _, e := range page {
			if err := fn(e); err != nil {
				return err
			}
		}
		if len(page) < auditPage {
			return nil
		}
		after = page[len(page)-1].Seq
	}
}

// RequestAudit returns the audit entries of one request in order.
func (s *Store) RequestAudit(ctx context.Context, requestID int64) ([]audit.Entry, error) {
	rows, err := s.q().query(ctx, `SELECT seq, at, request_id, kind, actor, detail, prev_hash, hash
		FROM audit_log WHERE request_id = $1 ORDER BY seq`, requestID)
	if err != nil {
		return nil, fmt.Errorf("reading audit of request %d: %w", requestID, err)
	}
	defer rows.Close()
	var out []audit.Entry
	for rows.Next() {
		e, err := scanEntry(rows)
		if err != nil {
			return nil, fmt.Errorf("reading audit of request %d: %w", requestID, err)
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

func scanEntry(rows rowIter) (audit.Entry, error) {
	var e audit.Entry
	var at int64
	var d string
	if err := rows.Scan(&e.Seq, &at, &e.RequestID, &e.Kind, &e.Actor, &d, &e.PrevHash, &e.Hash); err != nil {
		return e, err
	}
	e.At, e.Detail = fromMicros(at), []byte(d)
	return e, nil
}

// AuditHead returns the recorded end of the chain.
func (s *Store) AuditHead(ctx context.Context) (seq int64, hash string, err error) {
	err = s.q().queryRow(ctx, `SELECT seq, hash FROM audit_head WHERE id = 1`).Scan(&seq, &hash)
	if err != nil {
		return 0, "", fmt.Errorf("reading audit head: %w", err)
	}
	return seq, hash, nil
}

// VerifyAudit checks the whole chain and its recorded head. It returns the
// number of entries verified and, when the chain is broken, an
// *audit.BreakError naming the first bad sequence number.
func (s *Store) VerifyAudit(ctx context.Context) (int64, error) {
	// Read the head first: entries appended while verifying come after it
	// and are not checked this time, rather than reported as a break.
	headSeq, headHash, err := s.AuditHead(ctx)
	if err != nil {
		return 0, err
	}
	v := audit.NewVerifier(s.auditKey)
	err = s.Audit(ctx, time.Time{}, func(e audit.Entry) error {
		if e.Seq > headSeq {
			return errStop
		}
		return v.Add(e)
	})
	if err != nil && err != errStop {
		return v.Count(), err
	}
	return v.Count(), v.Finish(headSeq, headHash)
}

var errStop = fmt.Errorf("stop")
