package discordtest

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"
)

// User is a guild member acting in a test.
type User struct {
	ID      string
	Name    string
	Roles   []string
	Bot     bool
	Pending bool // has not passed membership screening
}

// Interaction is one interaction the fake issued: its id and token are
// known to the callback and webhook routes.
type Interaction struct {
	ID, Token string
	Type      int
	// Body is the interaction JSON as Discord would send it.
	Body []byte

	callbacks int
	response  *Response
	followups []*Message
}

// Response is an interaction response (callback) as the bot sent it.
type Response struct {
	Type int      `json:"type"`
	Data *Message `json:"data,omitempty"`
	// Title and CustomID are set on modals (type 9), inside Data in the
	// JSON; copied here for convenience.
	Title, CustomID string `json:"-"`
}

// Option is a typed slash-command option value.
type Option struct {
	Name  string
	Type  int // 3 string, 4 integer, 5 boolean
	Value any
}

// String is a string option.
func String(name, v string) Option { return Option{Name: name, Type: 3, Value: v} }

// Bool is a boolean option.
func Bool(name string, v bool) Option { return Option{Name: name, Type: 5, Value: v} }

// Integer is an integer option.
func Integer(name string, v int64) Option { return Option{Name: name, Type: 4, Value: v} }

// Where says where an interaction happens; the zero value is the guild's
// first configured channel.
type Where struct {
	Guild   string // "" means the fake's guild
	Channel string
	DM      bool // a direct message: user instead of member, no guild
}

func (s *Server) issue(typ int, u User, where Where, data map[string]any, message map[string]any) *Interaction {
	s.mu.Lock()
	defer s.mu.Unlock()
	in := &Interaction{ID: s.id(), Type: typ}
	tok := make([]byte, 24)
	_, _ = rand.Read(tok)
	in.Token = "aW50ZXJhY3Rpb24" + hex.EncodeToString(tok)
	channel := where.Channel
	if channel == "" && len(s.opts.Channels) > 0 {
		channel = s.opts.Channels[0]
	}
	guild := where.Guild
	if guild == "" {
		guild = s.opts.GuildID
	}
	body := map[string]any{
		"id": in.ID, "application_id": s.opts.AppID, "type": typ, "token": in.Token, "version": 1,
		"channel_id": channel, "data": data, "locale": "en-US", "app_permissions": "2147483648",
	}
	user := map[string]any{"id": u.ID, "username": u.Name, "global_name": u.Name, "bot": u.Bot}
	if where.DM {
		body["user"] = user
		body["context"] = 1
	} else {
		roles := u.Roles
		if roles == nil {
			roles = []string{}
		}
		body["guild_id"] = guild
		body["context"] = 0
		body["member"] = map[string]any{"user": user, "roles": roles, "permissions": "2147483648",
			"pending": u.Pending, "joined_at": "2024-01-01T00:00:00Z"}
	}
	if message != nil {
		body["message"] = message
	}
	in.Body, _ = json.Marshal(body)
	s.interactions[in.ID] = in
	s.byToken[in.Token] = in
	return in
}

// NewCommand issues a slash command interaction by u.
func (s *Server) NewCommand(u User, where Where, name string, opts ...Option) *Interaction {
	var options []map[string]any
	for _, o := range opts {
		options = append(options, map[string]any{"name": o.Name, "type": o.Type, "value": o.Value})
	}
	data := map[string]any{"id": "1300000000000000001", "name": name, "type": 1, "options": options}
	return s.issue(2, u, where, data, nil)
}

// messageObject is the message a component sits on, as Discord includes it.
func (s *Server) messageObject(id string) map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := s.messages[id]
	if m == nil {
		return map[string]any{"id": id}
	}
	obj := map[string]any{"id": m.ID, "channel_id": m.ChannelID, "type": 0, "content": m.Content,
		"embeds": m.Embeds, "components": m.Components, "flags": m.Flags}
	if m.Thread != "" {
		obj["thread"] = map[string]any{"id": m.Thread, "type": 11, "parent_id": m.ChannelID, "name": s.channels[m.Thread].name}
	}
	return obj
}

// NewClick issues a button click by u on the message id (a card the bot
// posted), with the button's custom_id.
func (s *Server) NewClick(u User, messageID, customID string) *Interaction {
	msg := s.messageObject(messageID)
	ch, _ := msg["channel_id"].(string)
	return s.issue(3, u, Where{Channel: ch}, map[string]any{"custom_id": customID, "component_type": 2}, msg)
}

// NewSubmit issues a modal submission by u: the modal customID was opened
// from a click on messageID ("" for none) and value was typed into its
// text input inputID.
func (s *Server) NewSubmit(u User, messageID, customID, inputID, value string) *Interaction {
	var msg map[string]any
	where := Where{}
	if messageID != "" {
		msg = s.messageObject(messageID)
		where.Channel, _ = msg["channel_id"].(string)
	}
	data := map[string]any{"custom_id": customID, "components": []any{map[string]any{"type": 1,
		"components": []any{map[string]any{"type": 4, "custom_id": inputID, "value": value}}}}}
	return s.issue(5, u, where, data, msg)
}

// NewPing issues a PING.
func (s *Server) NewPing() *Interaction {
	s.mu.Lock()
	defer s.mu.Unlock()
	in := &Interaction{ID: s.id(), Type: 1, Token: "ping-token"}
	in.Body, _ = json.Marshal(map[string]any{"id": in.ID, "application_id": s.opts.AppID, "type": 1, "token": in.Token, "version": 1})
	return in
}

// NewRaw registers body, an interaction of your own making, so that the
// callback and webhook routes accept its id and token.
func (s *Server) NewRaw(id, token string, typ int, body []byte) *Interaction {
	s.mu.Lock()
	defer s.mu.Unlock()
	in := &Interaction{ID: id, Token: token, Type: typ, Body: body}
	s.interactions[id] = in
	s.byToken[token] = in
	return in
}

// record stores the initial response of in; a second one is refused as
// Discord refuses it (40060). It reports the problem, "" when accepted.
func (s *Server) record(in *Interaction, raw []byte) (int, string) {
	var resp struct {
		Type int             `json:"type"`
		Data json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(raw, &resp); err != nil {
		return 50109, "response is not valid JSON"
	}
	out := &Response{Type: resp.Type}
	switch resp.Type {
	case 4, 7:
		var m Message
		if err := json.Unmarshal(resp.Data, &m); err != nil {
			return 50109, "response data is not valid JSON"
		}
		if msg := checkMessage(&m); msg != "" {
			return 50035, msg
		}
		out.Data = &m
	case 5, 6:
		if len(resp.Data) > 0 && string(resp.Data) != "null" {
			var m Message
			_ = json.Unmarshal(resp.Data, &m)
			out.Data = &m
		}
	case 9:
		if in.Type == 5 {
			return 50035, "a modal cannot answer a modal submission"
		}
		var m struct {
			CustomID   string      `json:"custom_id"`
			Title      string      `json:"title"`
			Components []Component `json:"components"`
		}
		if err := json.Unmarshal(resp.Data, &m); err != nil {
			return 50109, "modal data is not valid JSON"
		}
		switch n := len([]rune(m.Title)); {
		case n == 0 || n > 45:
			return 50035, "modal title must be 1-45 characters"
		case m.CustomID == "" || len([]rune(m.CustomID)) > 100:
			return 50035, "modal custom_id must be 1-100 characters"
		case len(m.Components) == 0:
			return 50035, "a modal needs 1-5 components"
		}
		if msg := checkComponents(m.Components, true); msg != "" {
			return 50035, msg
		}
		out.Title, out.CustomID = m.Title, m.CustomID
		out.Data = &Message{Components: m.Components}
	case 1:
		if in.Type != 1 {
			return 50035, "PONG answers PING only"
		}
	default:
		return 50035, fmt.Sprintf("interaction response type %d is not supported", resp.Type)
	}
	if (resp.Type == 7 || resp.Type == 6) && in.Type != 3 && in.Type != 5 {
		return 50035, "message updates answer component interactions only"
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	in.callbacks++
	if in.callbacks > 1 {
		return 40060, "Interaction has already been acknowledged."
	}
	in.response = out
	return 0, ""
}

func (s *Server) callback(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	in := s.interactions[r.PathValue("id")]
	s.mu.Unlock()
	if in == nil || in.Token != r.PathValue("token") {
		apiError(w, http.StatusNotFound, 10062, "Unknown interaction")
		return
	}
	raw, ok := s.body(w, r, 1<<20)
	if !ok {
		return
	}
	if code, msg := s.record(in, raw); msg != "" {
		s.invalid(w, r, code, "%s", msg)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) followup(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	in := s.byToken[r.PathValue("token")]
	s.mu.Unlock()
	if in == nil || r.PathValue("app") != s.opts.AppID {
		apiError(w, http.StatusNotFound, 10015, "Unknown Webhook")
		return
	}
	m, ok := s.messageBody(w, r)
	if !ok {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	m.ID, m.ChannelID = s.id(), "webhook"
	in.followups = append(in.followups, m)
	if r.URL.Query().Get("wait") == "true" {
		writeJSON(w, http.StatusOK, m)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) getWebhookMessage(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	in := s.byToken[r.PathValue("token")]
	if in == nil {
		apiError(w, http.StatusNotFound, 10015, "Unknown Webhook")
		return
	}
	id := r.PathValue("message")
	if id == "@original" && in.response != nil && in.response.Data != nil {
		writeJSON(w, http.StatusOK, in.response.Data)
		return
	}
	for _, m := range in.followups {
		if m.ID == id {
			writeJSON(w, http.StatusOK, m)
			return
		}
	}
	apiError(w, http.StatusNotFound, 10008, "Unknown Message")
}

// Answer returns the initial response to in, nil when none arrived yet.
func (s *Server) Answer(in *Interaction) *Response {
	s.mu.Lock()
	defer s.mu.Unlock()
	if in.response == nil {
		return nil
	}
	c := *in.response
	if c.Data != nil {
		c.Data = c.Data.clone()
	}
	return &c
}

// Followups returns copies of the follow-up messages sent for in.
func (s *Server) Followups(in *Interaction) []*Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]*Message, 0, len(in.followups))
	for _, m := range in.followups {
		out = append(out, m.clone())
	}
	return out
}

// Callbacks counts the responses the bot tried to give in (accepted or not).
func (s *Server) Callbacks(in *Interaction) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return in.callbacks
}

// WaitAnswer waits for the initial response to in (Gateway mode).
func (s *Server) WaitAnswer(ctx context.Context, in *Interaction) (*Response, error) {
	var r *Response
	err := s.Wait(ctx, func() bool { r = s.Answer(in); return r != nil })
	return r, err
}

// WaitFollowups waits until in has at least n follow-ups.
func (s *Server) WaitFollowups(ctx context.Context, in *Interaction, n int) ([]*Message, error) {
	var ms []*Message
	err := s.Wait(ctx, func() bool { ms = s.Followups(in); return len(ms) >= n })
	return ms, err
}

// Signer signs interactions like Discord, with a fresh Ed25519 key pair.
type Signer struct {
	Public  ed25519.PublicKey
	private ed25519.PrivateKey
}

// NewSigner returns a signer with a new key pair.
func NewSigner() *Signer {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		panic(err) // crypto/rand does not fail
	}
	return &Signer{Public: pub, private: priv}
}

// PublicKey is the key for discord.public_key, in hex.
func (g *Signer) PublicKey() string { return hex.EncodeToString(g.Public) }

// Sign returns the X-Signature-Ed25519 value for timestamp and body.
func (g *Signer) Sign(timestamp string, body []byte) string {
	return hex.EncodeToString(ed25519.Sign(g.private, append([]byte(timestamp), body...)))
}

// Request builds a signed POST of body to url, timestamped at.
func (g *Signer) Request(ctx context.Context, url string, body []byte, at time.Time) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	ts := strconv.FormatInt(at.Unix(), 10)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Signature-Timestamp", ts)
	req.Header.Set("X-Signature-Ed25519", g.Sign(ts, body))
	return req, nil
}

// Result is the bot's HTTP answer to a delivered interaction.
type Result struct {
	Status   int
	Response *Response // decoded from a 200 body, nil otherwise
	Body     []byte
}

// Deliver sends in to the bot's interactions endpoint url as Discord
// does, signed by g and timestamped at, and returns the answer. A 200
// answer is recorded as the interaction's initial response, as if the
// bot had posted it to the callback route, so Answer and strictness work
// the same in HTTP and Gateway mode.
func (s *Server) Deliver(ctx context.Context, client *http.Client, url string, g *Signer, in *Interaction, at time.Time) (Result, error) {
	req, err := g.Request(ctx, url, in.Body, at)
	if err != nil {
		return Result{}, err
	}
	res, err := client.Do(req)
	if err != nil {
		return Result{}, err
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		return Result{}, err
	}
	out := Result{Status: res.StatusCode, Body: body}
	if res.StatusCode != http.StatusOK {
		return out, nil
	}
	code, msg := s.record(in, body)
	s.Notify()
	if msg != "" {
		return out, fmt.Errorf("bot answered with an invalid response (code %d): %s", code, msg)
	}
	out.Response = s.Answer(in)
	if in.Type == 1 {
		// PINGs are not registered; decode the PONG directly.
		var r Response
		_ = json.Unmarshal(body, &r)
		out.Response = &r
	}
	return out, nil
}
