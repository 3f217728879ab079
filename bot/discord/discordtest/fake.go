// Package discordtest is a fake Discord for tests: a stateful, strict REST
// API (channel messages, threads started from messages, interaction
// callbacks, webhook follow-ups, guild command bulk overwrite, guild
// members, /users/@me, /gateway), a Gateway WebSocket that identifies,
// heartbeats and dispatches INTERACTION_CREATE, and helpers that build
// and sign interactions as a given member and read back what the bot
// posted.
//
// The fake answers to /api/v9/… and /api/v10/… alike. It rejects what
// Discord would reject and what Countersign must never send: a write
// without allowed_mentions {"parse": []}, a custom_id over 100
// characters, a label over 80, content over 2000, embeds over their
// limits, a second callback for one interaction, a second thread on one
// message. Every rejection is also kept in Violations, so a test can
// assert that none happened.
package discordtest

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/bwmarrin/discordgo"

	"github.com/countersign/countersign/internal/changes"
)

// Options configures a Server.
type Options struct {
	Token    string   // the bot token, without "Bot "
	AppID    string   // the application id
	GuildID  string   // the one guild
	Channels []string // text channels of the guild
	// HeartbeatInterval is sent in the Gateway HELLO; 0 means 45 s.
	HeartbeatInterval time.Duration
}

// Server is a fake Discord API. Its zero value is not usable; call New.
type Server struct {
	opts Options
	srv  *httptest.Server
	mux  *http.ServeMux

	mu           sync.Mutex
	next         int64
	channels     map[string]*channel
	messages     map[string]*Message
	members      map[string]*discordgo.Member
	interactions map[string]*Interaction // by id
	byToken      map[string]*Interaction
	commands     []map[string]any
	commandPuts  int
	limits       map[string]*limit
	requests     []Request
	violations   []string

	gw *gateway

	// Signal is told of every request the fake answered and of every
	// change of a Gateway connection: tests wait for what the fake records
	// with Wait (and WaitAnswer, WaitFollowups, WaitConnected).
	changes.Signal
}

type channel struct {
	id       string
	parent   string // for a thread: the channel of the message it started from
	name     string
	archive  int
	messages []string
}

type limit struct {
	times      int
	retryAfter time.Duration
}

// Request is one request the fake answered.
type Request struct {
	Method, Route string // Route is the pattern: "POST /channels/{channel}/messages"
	Path          string // as received, without the /api/vN prefix
	Status        int
	At            time.Time
}

// New starts a fake Discord; it is closed with the test.
func New(t interface {
	Cleanup(func())
	Helper()
}, opts Options) *Server {
	t.Helper()
	if opts.HeartbeatInterval == 0 {
		opts.HeartbeatInterval = 45 * time.Second
	}
	s := &Server{
		opts: opts, next: 1_200_000_000_000_000_000,
		channels: map[string]*channel{}, messages: map[string]*Message{}, members: map[string]*discordgo.Member{},
		interactions: map[string]*Interaction{}, byToken: map[string]*Interaction{}, limits: map[string]*limit{},
	}
	for _, c := range opts.Channels {
		s.channels[c] = &channel{id: c}
	}
	s.gw = newGateway(s)
	s.mux = http.NewServeMux()
	s.routes()
	root := http.NewServeMux()
	root.Handle("/api/", http.HandlerFunc(s.api))
	// discordgo appends "?v=9…" to the URL it got, after a "/" of its own.
	root.HandleFunc("GET /gateway-ws", s.gw.serve)
	root.HandleFunc("GET /gateway-ws/", s.gw.serve)
	s.srv = httptest.NewServer(s.Handler(root))
	t.Cleanup(func() {
		s.gw.closeAll()
		s.srv.Close()
	})
	return s
}

// URL is the fake's base URL, "http://127.0.0.1:port".
func (s *Server) URL() string { return s.srv.URL }

// APIURL is the value for discord.api_url.
func (s *Server) APIURL() string { return s.srv.URL + "/api/v10" }

// Client is an HTTP client for the fake.
func (s *Server) Client() *http.Client { return s.srv.Client() }

func (s *Server) routes() {
	bot := func(pattern string, h func(w http.ResponseWriter, r *http.Request)) {
		s.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
			if r.Header.Get("Authorization") != "Bot "+s.opts.Token {
				apiError(w, http.StatusUnauthorized, 0, "401: Unauthorized")
				return
			}
			h(w, r)
		})
	}
	bot("POST /channels/{channel}/messages", s.createMessage)
	bot("GET /channels/{channel}/messages/{message}", s.getMessage)
	bot("PATCH /channels/{channel}/messages/{message}", s.editMessage)
	bot("POST /channels/{channel}/messages/{message}/threads", s.startThread)
	bot("PUT /applications/{app}/guilds/{guild}/commands", s.putCommands)
	bot("GET /applications/{app}/guilds/{guild}/commands", s.getCommands)
	bot("GET /guilds/{guild}/members/{user}", s.getMember)
	bot("GET /users/@me", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{"id": s.opts.AppID, "username": "countersign", "bot": true})
	})
	bot("GET /gateway/bot", s.gatewayURL)
	s.mux.HandleFunc("GET /gateway", s.gatewayURL) // discordgo's Open asks this one, unauthenticated on Discord too
	// Interaction tokens authenticate these; Discord ignores a bot token on them.
	s.mux.HandleFunc("POST /interactions/{id}/{token}/callback", s.callback)
	s.mux.HandleFunc("POST /webhooks/{app}/{token}", s.followup)
	s.mux.HandleFunc("GET /webhooks/{app}/{token}/messages/{message}", s.getWebhookMessage)
}

// api strips the version prefix, applies rate limits and logs the request.
func (s *Server) api(w http.ResponseWriter, r *http.Request) {
	p := r.URL.Path
	switch {
	case strings.HasPrefix(p, "/api/v9/"):
		p = p[len("/api/v9"):]
	case strings.HasPrefix(p, "/api/v10/"):
		p = p[len("/api/v10"):]
	default:
		apiError(w, http.StatusNotFound, 0, "404: Not Found (unsupported API version)")
		return
	}
	r2 := r.Clone(r.Context())
	r2.URL.Path, r2.URL.RawPath = p, ""
	_, pattern := s.mux.Handler(r2)
	rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
	defer func() {
		s.mu.Lock()
		s.requests = append(s.requests, Request{Method: r.Method, Route: pattern, Path: p, Status: rec.status, At: time.Now()})
		s.mu.Unlock()
	}()
	if s.limited(rec, pattern) {
		return
	}
	s.mux.ServeHTTP(rec, r2)
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(code int) {
	r.status = code
	r.ResponseWriter.WriteHeader(code)
}

// RateLimit makes the next times requests to route (a pattern such as
// "POST /channels/{channel}/messages") answer 429 with retry_after.
func (s *Server) RateLimit(route string, times int, retryAfter time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.limits[route] = &limit{times: times, retryAfter: retryAfter}
}

func (s *Server) limited(w http.ResponseWriter, route string) bool {
	s.mu.Lock()
	l := s.limits[route]
	if l == nil || l.times == 0 {
		s.mu.Unlock()
		return false
	}
	l.times--
	ra := l.retryAfter.Seconds()
	s.mu.Unlock()
	h := w.Header()
	h.Set("Retry-After", strconv.Itoa(int(math.Ceil(ra))))
	h.Set("X-RateLimit-Limit", "5")
	h.Set("X-RateLimit-Remaining", "0")
	h.Set("X-RateLimit-Reset-After", strconv.FormatFloat(ra, 'f', 3, 64))
	h.Set("X-RateLimit-Reset", strconv.FormatFloat(float64(time.Now().UnixMilli())/1000+ra, 'f', 3, 64))
	h.Set("X-RateLimit-Bucket", "fake-"+strings.ReplaceAll(route, " ", "-"))
	h.Set("X-RateLimit-Scope", "user")
	writeJSON(w, http.StatusTooManyRequests, map[string]any{"message": "You are being rate limited.", "retry_after": ra, "global": false})
	return true
}

// Requests returns every request answered so far, in order.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.requests)
}

// Violations returns every request the fake refused as invalid (bad
// payloads, limits, duplicate callbacks), as readable lines.
func (s *Server) Violations() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.violations)
}

// invalid refuses a request as Discord would (400, code 50035 unless
// given) and records the violation.
func (s *Server) invalid(w http.ResponseWriter, r *http.Request, code int, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	s.mu.Lock()
	s.violations = append(s.violations, r.Method+" "+r.URL.Path+": "+msg)
	s.mu.Unlock()
	if code == 0 {
		code = 50035
	}
	apiError(w, http.StatusBadRequest, code, msg)
}

// body reads a request body of at most limit bytes; ok is false when it
// could not be read and the violation was answered.
func (s *Server) body(w http.ResponseWriter, r *http.Request, limit int64) (raw []byte, ok bool) {
	raw, err := io.ReadAll(io.LimitReader(r.Body, limit))
	if err != nil {
		s.invalid(w, r, 50109, "unreadable body: %v", err)
		return nil, false
	}
	return raw, true
}

func apiError(w http.ResponseWriter, status, code int, msg string) {
	writeJSON(w, status, map[string]any{"code": code, "message": msg})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// id returns a fresh snowflake-like id; s.mu is held.
func (s *Server) id() string {
	s.next++
	return strconv.FormatInt(s.next, 10)
}

// AddChannel adds a text channel to the guild.
func (s *Server) AddChannel(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.channels[id] == nil {
		s.channels[id] = &channel{id: id}
	}
}

// AddMember adds a guild member with role ids.
func (s *Server) AddMember(u User) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.members[u.ID] = &discordgo.Member{GuildID: s.opts.GuildID, User: &discordgo.User{ID: u.ID, Username: u.Name, Bot: u.Bot},
		Roles: slices.Clone(u.Roles), Pending: u.Pending}
}

func (s *Server) getMember(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if r.PathValue("guild") != s.opts.GuildID {
		apiError(w, http.StatusNotFound, 10004, "Unknown Guild")
		return
	}
	m := s.members[r.PathValue("user")]
	if m == nil {
		apiError(w, http.StatusNotFound, 10007, "Unknown Member")
		return
	}
	writeJSON(w, http.StatusOK, m)
}

func (s *Server) gatewayURL(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{"url": "ws" + strings.TrimPrefix(s.srv.URL, "http") + "/gateway-ws",
		"shards": 1, "session_start_limit": map[string]any{"total": 1000, "remaining": 999, "reset_after": 0, "max_concurrency": 1}})
}
