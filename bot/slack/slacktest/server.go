// Package slacktest is a fake of the parts of the Slack Web API and Socket
// Mode that Countersign uses, for tests and the load tool. It follows
// ../shared/reference/chat.md: form-encoded Web API calls authenticated by
// the bot token, JSON views.open, realistic unique ts values, Block Kit
// limits checked strictly, single-use trigger ids that expire after three
// seconds, rate limits answered with 429 and Retry-After, response_url
// endpoints usable five times, and a Socket Mode WebSocket that speaks the
// envelope/ack protocol.
package slacktest

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/countersign/countersign/internal/changes"
)

// Tokens the fake accepts.
const (
	BotToken = "xoxb-test-bot-token"
	AppToken = "xapp-test-app-token"
	TeamID   = "T0001"
	BotUser  = "U0BOT"
)

// User is a workspace member.
type User struct {
	ID              string
	Name            string
	Email           string
	Deleted         bool
	IsBot           bool
	Restricted      bool
	UltraRestricted bool
}

// Message is a message as the fake stores it.
type Message struct {
	Channel  string
	TS       string
	ThreadTS string // parent ts for replies
	Text     string
	Blocks   json.RawMessage
	Edits    int // chat.update calls on it
}

// Ephemeral is a private message: posted with chat.postEphemeral or sent
// to a response_url.
type Ephemeral struct {
	Channel string // chat.postEphemeral only
	User    string // chat.postEphemeral only
	URL     string // response_url only
	Text    string
	Blocks  json.RawMessage
}

// View is a modal opened with views.open.
type View struct {
	ID      string
	Trigger string
	View    json.RawMessage
}

// Limits are the rate limits the fake enforces. Zero values disable a
// limit.
type Limits struct {
	// PostPerChannel is chat.postMessage per channel per second ("1 message
	// per second to a specific channel", short bursts tolerated).
	PostPerChannel rate.Limit
	PostBurst      int
	// UpdatePerMinute is chat.update per workspace per minute (Tier 3: 50+).
	UpdatePerMinute int
	UpdateBurst     int
}

// SlackLimits are the documented limits: 1 post per second per channel
// with a burst of 3, and chat.update at Tier 3 (50 per minute, burst 10).
var SlackLimits = Limits{PostPerChannel: 1, PostBurst: 3, UpdatePerMinute: 50, UpdateBurst: 10}

// Server is the fake. Its zero value is not usable; call New.
type Server struct {
	srv *httptest.Server
	now func() time.Time

	mu        sync.Mutex
	seq       int64
	users     map[string]User
	groups    map[string][]string
	messages  map[string]*Message // channel+"/"+ts
	order     []string            // keys in posting order
	ephemeral []Ephemeral
	views     []View
	triggers  map[string]time.Time // issued, unused trigger ids
	responses map[string]int       // response_url path → uses
	calls     map[string]int
	limited   map[string]int // 429s by method
	failures  map[string][]string
	limits    Limits
	postLim   map[string]*rate.Limiter
	updLim    *rate.Limiter
	socket    *socket

	// Signal is told of every request the fake answered and of Socket
	// Mode connections opening and closing: tests wait for what the fake
	// records with Wait.
	changes.Signal
}

// New starts a fake with the given limits (zero: none). Close it when done.
func New(limits Limits) *Server {
	s := &Server{
		now:       time.Now,
		users:     map[string]User{},
		groups:    map[string][]string{},
		messages:  map[string]*Message{},
		triggers:  map[string]time.Time{},
		responses: map[string]int{},
		calls:     map[string]int{},
		limited:   map[string]int{},
		failures:  map[string][]string{},
		postLim:   map[string]*rate.Limiter{},
	}
	s.SetLimits(limits)
	s.socket = newSocket(&s.Signal)
	mux := http.NewServeMux()
	mux.HandleFunc("POST /api/{method}", s.api)
	mux.HandleFunc("POST /response/{id}", s.response)
	mux.HandleFunc("GET /link", s.socket.serve)
	s.srv = httptest.NewServer(s.Handler(mux))
	return s
}

// Close stops the server and closes Socket Mode connections.
func (s *Server) Close() {
	s.socket.close()
	s.srv.CloseClientConnections()
	s.srv.Close()
}

// APIURL is the Web API base URL, with the trailing slash slack-go needs.
func (s *Server) APIURL() string { return s.srv.URL + "/api/" }

// SetLimits replaces the rate limits.
func (s *Server) SetLimits(l Limits) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.limits = l
	s.postLim = map[string]*rate.Limiter{}
	s.updLim = nil
	if l.UpdatePerMinute > 0 {
		s.updLim = rate.NewLimiter(rate.Limit(float64(l.UpdatePerMinute)/60), max(l.UpdateBurst, 1))
	}
}

// AddUser adds or replaces a workspace member.
func (s *Server) AddUser(u User) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.users[u.ID] = u
}

// SetGroup sets the members of user group id.
func (s *Server) SetGroup(id string, members ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.groups[id] = members
}

// FailNext makes the next call of method answer {"ok": false, "error": code}.
func (s *Server) FailNext(method, code string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failures[method] = append(s.failures[method], code)
}

// Trigger issues a trigger id, as Slack does with each command and click.
func (s *Server) Trigger() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.seq++
	id := fmt.Sprintf("%d.%d.trigger%06d", s.now().Unix(), s.seq, s.seq)
	s.triggers[id] = s.now()
	return id
}

// ResponseURL issues a response_url, as Slack does with each command and
// click.
func (s *Server) ResponseURL() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.seq++
	id := strconv.FormatInt(s.seq, 10)
	s.responses["/response/"+id] = 0
	return s.srv.URL + "/response/" + id
}

// Messages returns copies of the messages in channel in posting order
// (all channels when channel is "").
func (s *Server) Messages(channel string) []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Message
	for _, k := range s.order {
		m := s.messages[k]
		if channel == "" || m.Channel == channel {
			out = append(out, *m)
		}
	}
	return out
}

// Message returns the message channel/ts.
func (s *Server) Message(channel, ts string) (Message, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m, ok := s.messages[channel+"/"+ts]
	if !ok {
		return Message{}, false
	}
	return *m, true
}

// Ephemerals returns the private messages sent so far.
func (s *Server) Ephemerals() []Ephemeral {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Ephemeral(nil), s.ephemeral...)
}

// Views returns the modals opened so far.
func (s *Server) Views() []View {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]View(nil), s.views...)
}

// Calls returns how often method was called (including refused calls).
func (s *Server) Calls(method string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[method]
}

// RateLimited returns how many calls of method were answered with 429.
func (s *Server) RateLimited(method string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.limited[method]
}

func (s *Server) api(w http.ResponseWriter, r *http.Request) {
	method := r.PathValue("method")
	s.mu.Lock()
	s.calls[method]++
	s.mu.Unlock()
	var form url.Values
	var body []byte
	if strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
		b, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		if err != nil {
			fail(w, "invalid_request")
			return
		}
		body = b
		form = url.Values{}
	} else {
		if err := r.ParseForm(); err != nil {
			fail(w, "invalid_form_data")
			return
		}
		form = r.PostForm
	}
	token := form.Get("token")
	if h := r.Header.Get("Authorization"); strings.HasPrefix(h, "Bearer ") {
		token = strings.TrimPrefix(h, "Bearer ")
	}
	want := BotToken
	if method == "apps.connections.open" {
		want = AppToken
	}
	if token != want {
		fail(w, "invalid_auth")
		return
	}
	s.mu.Lock()
	if codes := s.failures[method]; len(codes) > 0 {
		s.failures[method] = codes[1:]
		s.mu.Unlock()
		fail(w, codes[0])
		return
	}
	s.mu.Unlock()
	switch method {
	case "auth.test":
		ok(w, map[string]any{"team_id": TeamID, "user_id": BotUser, "bot_id": "B0BOT", "url": "https://example.slack.com/"})
	case "chat.postMessage":
		s.withMessage(w, form, s.postMessage)
	case "chat.update":
		s.withMessage(w, form, s.update)
	case "chat.postEphemeral":
		s.withMessage(w, form, s.postEphemeral)
	case "views.open":
		s.openView(w, body)
	case "users.info":
		s.userInfo(w, form.Get("user"))
	case "users.lookupByEmail":
		s.lookupByEmail(w, form.Get("email"))
	case "usergroups.users.list":
		s.groupMembers(w, form)
	case "apps.connections.open":
		ok(w, map[string]any{"url": "ws" + strings.TrimPrefix(s.srv.URL, "http") + "/link"})
	default:
		w.WriteHeader(http.StatusNotFound)
		fail(w, "unknown_method")
	}
}

func (s *Server) nextTS() string {
	s.seq++
	return fmt.Sprintf("%d.%06d", s.now().Unix(), s.seq%1_000_000)
}

// withMessage checks the text and blocks of a chat.* call against
// Slack's limits, answering the error Slack would, and runs call with them
// under the lock.
func (s *Server) withMessage(w http.ResponseWriter, form url.Values, call func(w http.ResponseWriter, form url.Values, m Message)) {
	text := form.Get("text")
	blocks, code := checkMessage(text, form.Get("blocks"))
	if code != "" {
		fail(w, code)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	call(w, form, Message{Channel: form.Get("channel"), Text: text, Blocks: blocks})
}

func (s *Server) postMessage(w http.ResponseWriter, form url.Values, m Message) {
	channel, thread := m.Channel, form.Get("thread_ts")
	if channel == "" {
		fail(w, "channel_not_found")
		return
	}
	if s.limits.PostPerChannel > 0 {
		l := s.postLim[channel]
		if l == nil {
			l = rate.NewLimiter(s.limits.PostPerChannel, max(s.limits.PostBurst, 1))
			s.postLim[channel] = l
		}
		if !l.Allow() {
			s.limited["chat.postMessage"]++
			limitedResponse(w, 1)
			return
		}
	}
	if thread != "" {
		if _, ok := s.messages[channel+"/"+thread]; !ok {
			fail(w, "thread_not_found") // Slack would post unthreaded; tests want to know
			return
		}
	}
	m.TS, m.ThreadTS = s.nextTS(), thread
	key := channel + "/" + m.TS
	s.messages[key] = &m
	s.order = append(s.order, key)
	ok(w, map[string]any{"channel": channel, "ts": m.TS, "message": map[string]any{"ts": m.TS, "thread_ts": thread, "text": m.Text}})
}

func (s *Server) update(w http.ResponseWriter, form url.Values, edit Message) {
	channel, ts := edit.Channel, form.Get("ts")
	if s.updLim != nil && !s.updLim.Allow() {
		s.limited["chat.update"]++
		limitedResponse(w, 2)
		return
	}
	m, found := s.messages[channel+"/"+ts]
	if !found {
		fail(w, "message_not_found")
		return
	}
	m.Text, m.Blocks = edit.Text, edit.Blocks
	m.Edits++
	ok(w, map[string]any{"channel": channel, "ts": ts, "text": edit.Text})
}

func (s *Server) postEphemeral(w http.ResponseWriter, form url.Values, m Message) {
	user := form.Get("user")
	if _, ok := s.users[user]; !ok {
		fail(w, "user_not_in_channel")
		return
	}
	s.ephemeral = append(s.ephemeral, Ephemeral{Channel: m.Channel, User: user, Text: m.Text, Blocks: m.Blocks})
	ok(w, map[string]any{"message_ts": s.nextTS()})
}

func (s *Server) openView(w http.ResponseWriter, body []byte) {
	var req struct {
		TriggerID string          `json:"trigger_id"`
		View      json.RawMessage `json:"view"`
	}
	if err := json.Unmarshal(body, &req); err != nil || req.TriggerID == "" {
		fail(w, "invalid_arguments")
		return
	}
	if code := checkView(req.View); code != "" {
		fail(w, code)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	issued, found := s.triggers[req.TriggerID]
	switch {
	case !found:
		fail(w, "invalid_trigger_id")
		return
	case s.now().Sub(issued) > 3*time.Second:
		delete(s.triggers, req.TriggerID)
		fail(w, "expired_trigger_id")
		return
	}
	delete(s.triggers, req.TriggerID) // single use: a second call gets invalid_trigger_id
	s.seq++
	v := View{ID: fmt.Sprintf("V%06d", s.seq), Trigger: req.TriggerID, View: req.View}
	s.views = append(s.views, v)
	ok(w, map[string]any{"view": map[string]any{"id": v.ID}})
}

func userJSON(u User) map[string]any {
	return map[string]any{
		"id": u.ID, "team_id": TeamID, "name": u.Name, "real_name": u.Name,
		"deleted": u.Deleted, "is_bot": u.IsBot, "is_restricted": u.Restricted, "is_ultra_restricted": u.UltraRestricted,
		"profile": map[string]any{"email": u.Email, "display_name": u.Name, "real_name": u.Name},
	}
}

func (s *Server) userInfo(w http.ResponseWriter, id string) {
	s.mu.Lock()
	u, found := s.users[id]
	s.mu.Unlock()
	if !found {
		fail(w, "user_not_found")
		return
	}
	ok(w, map[string]any{"user": userJSON(u)})
}

func (s *Server) lookupByEmail(w http.ResponseWriter, email string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, u := range s.users {
		if strings.EqualFold(u.Email, email) {
			ok(w, map[string]any{"user": userJSON(u)})
			return
		}
	}
	fail(w, "users_not_found")
}

func (s *Server) groupMembers(w http.ResponseWriter, form url.Values) {
	s.mu.Lock()
	members, found := s.groups[form.Get("usergroup")]
	s.mu.Unlock()
	if !found {
		fail(w, "no_such_subteam")
		return
	}
	ok(w, map[string]any{"users": members})
}

// response serves a response_url: at most five uses, JSON bodies only.
func (s *Server) response(w http.ResponseWriter, r *http.Request) {
	var msg struct {
		Text            string          `json:"text"`
		Blocks          json.RawMessage `json:"blocks"`
		ResponseType    string          `json:"response_type"`
		ReplaceOriginal bool            `json:"replace_original"`
	}
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&msg); err != nil {
		http.Error(w, "invalid_payload", http.StatusBadRequest)
		return
	}
	if _, code := checkMessage(msg.Text, string(msg.Blocks)); code != "" {
		http.Error(w, code, http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	uses, found := s.responses[r.URL.Path]
	if !found {
		http.Error(w, "no_service", http.StatusNotFound)
		return
	}
	if uses >= 5 {
		http.Error(w, "used_url", http.StatusNotFound)
		return
	}
	s.responses[r.URL.Path] = uses + 1
	s.ephemeral = append(s.ephemeral, Ephemeral{URL: s.srv.URL + r.URL.Path, Text: msg.Text, Blocks: msg.Blocks})
	_, _ = io.WriteString(w, "ok")
}

func ok(w http.ResponseWriter, body map[string]any) {
	body["ok"] = true
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(body)
}

func fail(w http.ResponseWriter, code string) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"ok": false, "error": code})
}

func limitedResponse(w http.ResponseWriter, retryAfter int) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Retry-After", strconv.Itoa(retryAfter))
	w.WriteHeader(http.StatusTooManyRequests)
	_ = json.NewEncoder(w).Encode(map[string]any{"ok": false, "error": "ratelimited"})
}
