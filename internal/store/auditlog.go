package store

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/countersign/countersign/internal/audit"
)

// appendAudit adds e to the chain inside t. It must be the last statement of
// the transaction: it locks the chain head, which every audited change
// shares, so holding it briefly keeps appends from queueing. It refuses to
// extend a head that is not authentic: sealing a new head on top of a
// rewritten one would launder the rewrite.
func (s *Store) appendAudit(ctx context.Context, t txn, e audit.Entry) error {
	head, err := s.authenticHead(ctx, t, true)
	if err != nil {
		return fmt.Errorf("appending to the audit log: %w", err)
	}
	e.Seq = head.Seq + 1
	// The chain keeps microseconds; seal what will be read back.
	e.At = fromMicros(micros(e.At))
	audit.Seal(s.auditKey, &e, head.Hash)
	if _, err := t.exec(ctx, `INSERT INTO audit_log (seq, at, request_id, kind, actor, detail, prev_hash, hash)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
		e.Seq, micros(e.At), e.RequestID, e.Kind, e.Actor, string(e.Detail), e.PrevHash, e.Hash); err != nil {
		return fmt.Errorf("appending audit entry: %w", err)
	}
	next := audit.NewHead(s.auditKey, e.Seq, e.Hash)
	if _, err := t.exec(ctx, `UPDATE audit_head SET seq = $1, hash = $2, mac = $3 WHERE id = 1`, next.Seq, next.Hash, next.MAC); err != nil {
		return fmt.Errorf("advancing audit head: %w", err)
	}
	return nil
}

// readHead reads the head record; found is false when there is none. With
// lock, it holds the head until the transaction ends: SQLite transactions
// take the write lock when they begin, PostgreSQL needs FOR UPDATE.
func (s *Store) readHead(ctx context.Context, q querier, lock bool) (h audit.Head, found bool, err error) {
	sqlText := `SELECT seq, hash, mac FROM audit_head WHERE id = 1`
	if lock && s.dialect == Postgres {
		sqlText += ` FOR UPDATE`
	}
	err = q.queryRow(ctx, sqlText).Scan(&h.Seq, &h.Hash, &h.MAC)
	if isNoRows(err) {
		return h, false, nil
	}
	if err != nil {
		return h, false, fmt.Errorf("reading audit head: %w", err)
	}
	return h, true, nil
}

// authenticHead reads the head, as readHead does, and fails with an error
// wrapping audit.ErrBroken when it is missing or its MAC does not match.
func (s *Store) authenticHead(ctx context.Context, q querier, lock bool) (audit.Head, error) {
	h, found, err := s.readHead(ctx, q, lock)
	switch {
	case err != nil:
		return h, err
	case !found:
		return h, audit.ErrNoHead
	}
	if err := h.Check(s.auditKey); err != nil {
		return h, fmt.Errorf("%w (run countersign audit verify)", err)
	}
	return h, nil
}

// sealAuditHead gives the head its first MAC. Migrate calls it only in the
// run that applied the migration adding the MAC: sealing an unsealed head
// at any other time would bless a head someone rewrote and cleared.
func (s *Store) sealAuditHead(ctx context.Context) error {
	return s.inTx(ctx, func(t txn) error {
		h, found, err := s.readHead(ctx, t, true)
		if err != nil || !found || h.MAC != "" {
			return err
		}
		if _, err := t.exec(ctx, `UPDATE audit_head SET mac = $1 WHERE id = 1`, audit.NewHead(s.auditKey, h.Seq, h.Hash).MAC); err != nil {
			return fmt.Errorf("sealing audit head: %w", err)
		}
		return nil
	})
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
	return s.auditRange(ctx, 0, math.MaxInt64, since, fn)
}

// auditRange calls fn for every entry with after < Seq <= upTo and
// At >= since, in sequence order.
func (s *Store) auditRange(ctx context.Context, after, upTo int64, since time.Time, fn func(audit.Entry) error) error {
	for {
		page, err := collect(ctx, s.q(), "reading audit log", scanEntry, `SELECT seq, at, request_id, kind, actor, detail, prev_hash, hash
			FROM audit_log WHERE seq > $1 AND seq <= $2 AND at >= $3 ORDER BY seq LIMIT $4`, after, upTo, micros(since), auditPage)
		if err != nil {
			return err
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
	return collect(ctx, s.q(), fmt.Sprintf("reading audit of request %d", requestID), scanEntry,
		`SELECT seq, at, request_id, kind, actor, detail, prev_hash, hash
		FROM audit_log WHERE request_id = $1 ORDER BY seq`, requestID)
}

func scanEntry(row scanner) (audit.Entry, error) {
	var e audit.Entry
	var at int64
	var d string
	if err := row.Scan(&e.Seq, &at, &e.RequestID, &e.Kind, &e.Actor, &d, &e.PrevHash, &e.Hash); err != nil {
		return e, err
	}
	e.At, e.Detail = fromMicros(at), []byte(d)
	return e, nil
}

// AuditHead returns the recorded end of the chain.
func (s *Store) AuditHead(ctx context.Context) (seq int64, hash string, err error) {
	h, found, err := s.readHead(ctx, s.q(), false)
	if err == nil && !found {
		err = audit.ErrNoHead
	}
	return h.Seq, h.Hash, err
}

// AuditCheckpoint signs the recorded head as a checkpoint taken at. It
// refuses a head that is not authentic, so a rewritten head is never
// vouched for.
func (s *Store) AuditCheckpoint(ctx context.Context, at time.Time) (audit.Checkpoint, error) {
	h, err := s.authenticHead(ctx, s.q(), false)
	if err != nil {
		return audit.Checkpoint{}, fmt.Errorf("signing a checkpoint: %w", err)
	}
	return audit.NewCheckpoint(s.auditKey, h.Seq, h.Hash, at), nil
}

// VerifyAudit checks the whole chain, its recorded head and that it holds
// every checkpoint given (authenticate them first: audit.ReadCheckpoints).
// It returns the number of entries verified and, when the chain is broken,
// an *audit.BreakError naming the first bad sequence number.
func (s *Store) VerifyAudit(ctx context.Context, checkpoints ...audit.Checkpoint) (int64, error) {
	v := audit.NewVerifier(s.auditKey, checkpoints...)
	if err := s.Audit(ctx, time.Time{}, v.Add); err != nil {
		return v.Count(), err
	}
	// The head is read after the entries: it only moves forward, together
	// with the entry it points at, so an honest head is never behind them.
	// Entries appended meanwhile are verified up to it; later ones are left
	// for the next run.
	h, found, err := s.readHead(ctx, s.q(), false)
	if err != nil {
		return v.Count(), err
	}
	if !found {
		return v.Count(), v.Finish(nil)
	}
	if h.Seq > v.Last() {
		if err := s.auditRange(ctx, v.Last(), h.Seq, time.Time{}, v.Add); err != nil {
			return v.Count(), err
		}
	}
	return v.Count(), v.Finish(&h)
}
