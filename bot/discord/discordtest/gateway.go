package discordtest

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

// gateway is the fake Gateway: HELLO, IDENTIFY, READY, heartbeats, and
// dispatches to identified connections.
type gateway struct {
	s        *Server
	upgrader websocket.Upgrader

	mu         sync.Mutex
	conns      map[*gwConn]bool
	identified int
	heartbeats int
	refused    int
}

type gwConn struct {
	ws  *websocket.Conn
	mu  sync.Mutex // serialises writes
	seq int64
	ok  bool // identified
}

func newGateway(s *Server) *gateway {
	return &gateway{s: s, conns: map[*gwConn]bool{}}
}

type gwPayload struct {
	Op int             `json:"op"`
	D  json.RawMessage `json:"d"`
	S  *int64          `json:"s,omitempty"`
	T  string          `json:"t,omitempty"`
}

func (c *gwConn) send(op int, t string, d any) error {
	raw, err := json.Marshal(d)
	if err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	p := gwPayload{Op: op, D: raw, T: t}
	if op == 0 {
		c.seq++
		seq := c.seq
		p.S = &seq
	}
	_ = c.ws.SetWriteDeadline(time.Now().Add(5 * time.Second))
	return c.ws.WriteJSON(p)
}

func (g *gateway) serve(w http.ResponseWriter, r *http.Request) {
	ws, err := g.upgrader.Upgrade(w, r, nil)
	if err != nil {
		return
	}
	c := &gwConn{ws: ws}
	g.mu.Lock()
	g.conns[c] = true
	g.mu.Unlock()
	defer func() {
		g.mu.Lock()
		delete(g.conns, c)
		g.mu.Unlock()
		g.s.Notify()
		ws.Close()
	}()
	if err := c.send(10, "", map[string]any{"heartbeat_interval": g.s.opts.HeartbeatInterval.Milliseconds()}); err != nil {
		return
	}
	for {
		_ = ws.SetReadDeadline(time.Now().Add(2*g.s.opts.HeartbeatInterval + 10*time.Second))
		var p gwPayload
		if err := ws.ReadJSON(&p); err != nil {
			return
		}
		switch p.Op {
		case 1:
			g.mu.Lock()
			g.heartbeats++
			g.mu.Unlock()
			g.s.Notify()
			if c.send(11, "", nil) != nil {
				return
			}
		case 2:
			var id struct {
				Token string `json:"token"`
			}
			_ = json.Unmarshal(p.D, &id)
			if strings.TrimPrefix(id.Token, "Bot ") != g.s.opts.Token {
				g.mu.Lock()
				g.refused++
				g.mu.Unlock()
				g.s.Notify()
				c.mu.Lock()
				_ = ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(4004, "Authentication failed."), time.Now().Add(time.Second))
				c.mu.Unlock()
				return
			}
			ready := map[string]any{
				"v": 10, "session_id": "fake-session", "resume_gateway_url": "ws" + strings.TrimPrefix(g.s.srv.URL, "http") + "/gateway-ws",
				"user":        map[string]any{"id": g.s.opts.AppID, "username": "countersign", "bot": true},
				"guilds":      []any{map[string]any{"id": g.s.opts.GuildID, "unavailable": true}},
				"application": map[string]any{"id": g.s.opts.AppID, "flags": 0},
			}
			if c.send(0, "READY", ready) != nil {
				return
			}
			g.mu.Lock()
			c.ok = true
			g.identified++
			g.mu.Unlock()
			g.s.Notify()
		}
	}
}

func (g *gateway) closeAll() {
	g.mu.Lock()
	defer g.mu.Unlock()
	for c := range g.conns {
		c.ws.Close()
	}
}

// ErrNoGateway is returned by Dispatch when no client has identified.
var ErrNoGateway = errors.New("discordtest: no identified gateway connection")

// Dispatch sends in as INTERACTION_CREATE to every identified Gateway
// connection.
func (s *Server) Dispatch(in *Interaction) error {
	s.gw.mu.Lock()
	var conns []*gwConn
	for c := range s.gw.conns {
		if c.ok {
			conns = append(conns, c)
		}
	}
	s.gw.mu.Unlock()
	if len(conns) == 0 {
		return ErrNoGateway
	}
	for _, c := range conns {
		if err := c.send(0, "INTERACTION_CREATE", json.RawMessage(in.Body)); err != nil {
			return err
		}
	}
	return nil
}

// GatewayStats reports identified connections so far, heartbeats
// acknowledged and identifies refused for a wrong token.
func (s *Server) GatewayStats() (identified, heartbeats, refused int) {
	s.gw.mu.Lock()
	defer s.gw.mu.Unlock()
	return s.gw.identified, s.gw.heartbeats, s.gw.refused
}

// Connected counts open, identified Gateway connections.
func (s *Server) Connected() int {
	s.gw.mu.Lock()
	defer s.gw.mu.Unlock()
	n := 0
	for c := range s.gw.conns {
		if c.ok {
			n++
		}
	}
	return n
}

// WaitConnected waits until a Gateway client has identified.
func (s *Server) WaitConnected(ctx context.Context) error {
	return s.Wait(ctx, func() bool { return s.Connected() > 0 })
}
