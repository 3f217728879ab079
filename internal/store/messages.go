package store

import (
	"context"
	"fmt"
	"time"

	"github.com/countersign/countersign/bot/chat"
)

// SaveMessage records or updates a card's location.
func (s *Store) SaveMessage(ctx context.Context, m chat.Location, now time.Time) error {
	_, err := s.q().exec(ctx, `INSERT INTO messages (request_id, platform, channel, message_id, thread_id, progress_id, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7)
		ON CONFLICT (request_id, platform) DO UPDATE SET channel = excluded.channel, message_id = excluded.message_id,
			thread_id = excluded.thread_id, progress_id = excluded.progress_id, updated_at = excluded.updated_at`,
		m.RequestID, m.Platform, m.Channel, m.MessageID, m.ThreadID, m.ProgressID, micros(now))
	if err != nil {
		return fmt.Errorf("saving message of request %d: %w", m.RequestID, err)
	}
	return nil
}

// Messages returns the cards of a request, one per platform.
func (s *Store) Messages(ctx context.Context, requestID int64) ([]chat.Location, error) {
	return collect(ctx, s.q(), fmt.Sprintf("reading messages of request %d", requestID), func(row scanner) (chat.Location, error) {
		var m chat.Location
		return m, row.Scan(&m.RequestID, &m.Platform, &m.Channel, &m.MessageID, &m.ThreadID, &m.ProgressID)
	}, `SELECT request_id, platform, channel, message_id, thread_id, progress_id
		FROM messages WHERE request_id = $1 ORDER BY platform`, requestID)
}

// FirstSeen records key until ttl from now and reports whether it was new.
// Platform adapters use it to refuse replayed requests and duplicate
// interaction ids across replicas.
func (s *Store) FirstSeen(ctx context.Context, key string, ttl time.Duration, now time.Time) (bool, error) {
	var fresh bool
	err := s.inTx(ctx, func(t txn) error {
		if _, err := t.exec(ctx, `DELETE FROM seen WHERE expires_at < $1`, micros(now)); err != nil {
			return fmt.Errorf("expiring seen keys: %w", err)
		}
		n, err := t.exec(ctx, `INSERT INTO seen (key, expires_at) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING`,
			key, micros(now.Add(ttl)))
		if err != nil {
			return fmt.Errorf("recording seen key: %w", err)
		}
		fresh = n == 1
		return nil
	})
	return fresh, err
}
