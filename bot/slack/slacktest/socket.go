package slacktest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/gorilla/websocket"

	"github.com/countersign/countersign/internal/changes"
)

// socket is the Socket Mode side of the fake: apps.connections.open hands
// out its URL; each connection gets a hello, then envelopes, and must ack
// each envelope by id on the same socket.
type socket struct {
	changes *changes.Signal // told when a connection opens or closes

	mu      sync.Mutex
	conns   map[*websocket.Conn]*sync.Mutex // write locks
	waiting map[string]chan json.RawMessage // envelope id → ack payload
	seq     int
	ready   chan struct{} // closed once a connection exists
	done    chan struct{}
}

func newSocket(changes *changes.Signal) *socket {
	return &socket{
		changes: changes,
		conns:   map[*websocket.Conn]*sync.Mutex{},
		waiting: map[string]chan json.RawMessage{},
		ready:   make(chan struct{}),
		done:    make(chan struct{}),
	}
}

func (s *socket) serve(w http.ResponseWriter, r *http.Request) {
	// slack-go sends Origin: https://api.slack.com, which Slack accepts.
	up := websocket.Upgrader{CheckOrigin: func(*http.Request) bool { return true }}
	c, err := up.Upgrade(w, r, nil)
	if err != nil {
		return
	}
	wmu := &sync.Mutex{}
	s.mu.Lock()
	s.conns[c] = wmu
	n := len(s.conns)
	s.mu.Unlock()
	s.changes.Notify()
	defer func() {
		s.mu.Lock()
		delete(s.conns, c)
		s.mu.Unlock()
		s.changes.Notify()
		c.Close()
	}()
	write := func(v any) error {
		wmu.Lock()
		defer wmu.Unlock()
		return c.WriteJSON(v)
	}
	if err := write(map[string]any{"type": "hello", "num_connections": n,
		"debug_info": map[string]any{"host": "fake", "approximate_connection_time": 18060}}); err != nil {
		return
	}
	s.mu.Lock()
	select {
	case <-s.ready:
	default:
		close(s.ready)
	}
	s.mu.Unlock()
	// Slack pings; slack-go's dead-man timer expects it.
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		t := time.NewTicker(2 * time.Second)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-s.done:
				return
			case <-t.C:
				wmu.Lock()
				err := c.WriteControl(websocket.PingMessage, []byte("ping"), time.Now().Add(time.Second))
				wmu.Unlock()
				if err != nil {
					return
				}
			}
		}
	}()
	for {
		var ack struct {
			EnvelopeID string          `json:"envelope_id"`
			Payload    json.RawMessage `json:"payload"`
		}
		if err := c.ReadJSON(&ack); err != nil {
			return
		}
		s.mu.Lock()
		ch := s.waiting[ack.EnvelopeID]
		delete(s.waiting, ack.EnvelopeID)
		s.mu.Unlock()
		if ch != nil {
			ch <- ack.Payload
		}
	}
}

func (s *socket) close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	select {
	case <-s.done:
	default:
		close(s.done)
	}
	for c := range s.conns {
		c.Close()
	}
}

// ErrNoAck is returned by Send when the envelope was not acknowledged.
var ErrNoAck = errors.New("slacktest: envelope not acknowledged")

// Send delivers payload in an envelope of type typ ("slash_commands",
// "interactive") over a Socket Mode connection, waiting for one if none is
// open yet, and returns the ack's payload (nil when the ack had none).
func (s *Server) Send(ctx context.Context, typ string, payload any) (json.RawMessage, error) {
	return s.SendID(ctx, "", typ, payload)
}

// SendID is Send with a chosen envelope id ("" picks a new one), to
// redeliver an envelope as Slack does when an ack is late.
func (s *Server) SendID(ctx context.Context, id, typ string, payload any) (json.RawMessage, error) {
	so := s.socket
	select {
	case <-so.ready:
	case <-ctx.Done():
		return nil, fmt.Errorf("slacktest: no Socket Mode connection: %w", ctx.Err())
	}
	raw, err := json.Marshal(payload)
	if err != nil {
		return nil, err
	}
	so.mu.Lock()
	if id == "" {
		so.seq++
		id = fmt.Sprintf("env-%06d", so.seq)
	}
	ch := make(chan json.RawMessage, 1)
	so.waiting[id] = ch
	var conn *websocket.Conn
	var wmu *sync.Mutex
	for c, m := range so.conns {
		conn, wmu = c, m
		break
	}
	so.mu.Unlock()
	if conn == nil {
		return nil, errors.New("slacktest: the Socket Mode connection is gone")
	}
	wmu.Lock()
	err = conn.WriteJSON(map[string]any{"envelope_id": id, "type": typ, "payload": json.RawMessage(raw), "accepts_response_payload": true})
	wmu.Unlock()
	if err != nil {
		return nil, fmt.Errorf("slacktest: sending envelope: %w", err)
	}
	select {
	case ack := <-ch:
		return ack, nil
	case <-ctx.Done():
		return nil, fmt.Errorf("%w: %s", ErrNoAck, id)
	}
}

// Connections returns the number of open Socket Mode connections.
func (s *Server) Connections() int {
	s.socket.mu.Lock()
	defer s.socket.mu.Unlock()
	return len(s.socket.conns)
}
