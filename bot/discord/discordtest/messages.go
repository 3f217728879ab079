package discordtest

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/bwmarrin/discordgo"
)

// Component is a message or modal component as the bot sent it.
type Component struct {
	Type        int         `json:"type"`
	CustomID    string      `json:"custom_id,omitempty"`
	Label       string      `json:"label,omitempty"`
	Style       int         `json:"style,omitempty"`
	Disabled    bool        `json:"disabled,omitempty"`
	URL         string      `json:"url,omitempty"`
	Placeholder string      `json:"placeholder,omitempty"`
	Required    *bool       `json:"required,omitempty"`
	MinLength   int         `json:"min_length,omitempty"`
	MaxLength   int         `json:"max_length,omitempty"`
	Value       string      `json:"value,omitempty"`
	Components  []Component `json:"components,omitempty"`
}

// Mentions is allowed_mentions as the bot sent it.
type Mentions struct {
	Parse *[]string `json:"parse"`
	Users []string  `json:"users,omitempty"`
	Roles []string  `json:"roles,omitempty"`
}

// Message is a message as the fake stores it: a channel or thread
// message, or an ephemeral interaction response or follow-up.
type Message struct {
	ID              string                    `json:"id"`
	ChannelID       string                    `json:"channel_id"`
	Content         string                    `json:"content"`
	Embeds          []*discordgo.MessageEmbed `json:"embeds"`
	Components      []Component               `json:"components"`
	Flags           int                       `json:"flags,omitempty"`
	AllowedMentions *Mentions                 `json:"allowed_mentions,omitempty"`
	// Edits counts PATCHes applied to the message.
	Edits int `json:"-"`
	// Thread is the id of the thread started from the message, if any.
	Thread string `json:"-"`
}

// Ephemeral reports whether flag 64 is set.
func (m *Message) Ephemeral() bool { return m.Flags&64 != 0 }

// Buttons returns the message's buttons, row by row.
func (m *Message) Buttons() []Component {
	var out []Component
	for _, row := range m.Components {
		out = append(out, row.Components...)
	}
	return out
}

// Button returns the button labelled label.
func (m *Message) Button(label string) (Component, bool) {
	for _, b := range m.Buttons() {
		if b.Label == label {
			return b, true
		}
	}
	return Component{}, false
}

// Text is every visible string of the message joined by newlines: content,
// embed titles, descriptions, field names and values, footers, button
// labels. Tests search it.
func (m *Message) Text() string {
	var parts []string
	if m.Content != "" {
		parts = append(parts, m.Content)
	}
	for _, e := range m.Embeds {
		parts = append(parts, e.Title, e.Description)
		for _, f := range e.Fields {
			parts = append(parts, f.Name, f.Value)
		}
		if e.Footer != nil {
			parts = append(parts, e.Footer.Text)
		}
	}
	for _, b := range m.Buttons() {
		parts = append(parts, b.Label)
	}
	return strings.Join(parts, "\n")
}

// PlainText is Text as a person reads it in Discord: without the markdown
// escapes and the zero-width spaces the adapter adds, so tests can search
// it for plain words.
func (m *Message) PlainText() string {
	var b strings.Builder
	esc := false
	for _, r := range strings.ReplaceAll(m.Text(), "\u200b", "") {
		if r == '\\' && !esc {
			esc = true
			continue
		}
		esc = false
		b.WriteRune(r)
	}
	return b.String()
}

func (m *Message) clone() *Message {
	c := *m
	// Unmarshal would reuse the shared slices and the embeds they point
	// to; start from nothing so the copy is deep.
	c.Embeds, c.Components = nil, nil
	b, _ := json.Marshal(m.Embeds)
	_ = json.Unmarshal(b, &c.Embeds)
	b, _ = json.Marshal(m.Components)
	_ = json.Unmarshal(b, &c.Components)
	return &c
}

// messageBody decodes and validates a message write. ok is false when a
// violation was answered.
func (s *Server) messageBody(w http.ResponseWriter, r *http.Request) (*Message, bool) {
	raw, ok := s.body(w, r, 1<<20)
	if !ok {
		return nil, false
	}
	var m Message
	if err := json.Unmarshal(raw, &m); err != nil {
		s.invalid(w, r, 50109, "request body is not valid JSON: %v", err)
		return nil, false
	}
	if msg := checkMessage(&m); msg != "" {
		s.invalid(w, r, 0, "%s", msg)
		return nil, false
	}
	return &m, true
}

// checkMessage returns what is wrong with m, "" when nothing.
func checkMessage(m *Message) string {
	if m.AllowedMentions == nil || m.AllowedMentions.Parse == nil || len(*m.AllowedMentions.Parse) != 0 ||
		len(m.AllowedMentions.Users) > 0 || len(m.AllowedMentions.Roles) > 0 {
		return `allowed_mentions must be {"parse": []}`
	}
	if n := utf8.RuneCountInString(m.Content); n > 2000 {
		return fmt.Sprintf("content is %d characters; the limit is 2000", n)
	}
	if len(m.Embeds) > 10 {
		return "more than 10 embeds"
	}
	for i, e := range m.Embeds {
		if msg := checkEmbed(e); msg != "" {
			return fmt.Sprintf("embeds[%d]: %s", i, msg)
		}
	}
	if m.Content == "" && len(m.Embeds) == 0 && len(m.Components) == 0 {
		return "cannot send an empty message"
	}
	return checkComponents(m.Components, false)
}

func checkEmbed(e *discordgo.MessageEmbed) string {
	n := func(s string) int { return utf8.RuneCountInString(s) }
	total := n(e.Title) + n(e.Description)
	switch {
	case n(e.Title) > 256:
		return "title over 256 characters"
	case n(e.Description) > 4096:
		return "description over 4096 characters"
	case len(e.Fields) > 25:
		return "more than 25 fields"
	}
	for i, f := range e.Fields {
		switch {
		case n(f.Name) == 0 || n(f.Name) > 256:
			return fmt.Sprintf("fields[%d].name must be 1-256 characters", i)
		case n(f.Value) == 0 || n(f.Value) > 1024:
			return fmt.Sprintf("fields[%d].value must be 1-1024 characters", i)
		}
		total += n(f.Name) + n(f.Value)
	}
	if e.Footer != nil {
		if n(e.Footer.Text) > 2048 {
			return "footer over 2048 characters"
		}
		total += n(e.Footer.Text)
	}
	if e.Author != nil {
		total += n(e.Author.Name)
	}
	if total > 6000 {
		return fmt.Sprintf("embed totals %d characters; the limit is 6000", total)
	}
	return ""
}

// checkComponents validates action rows of a message (modal false) or a
// modal (modal true).
func checkComponents(rows []Component, modal bool) string {
	if len(rows) > 5 {
		return "more than 5 action rows"
	}
	ids := map[string]bool{}
	for i, row := range rows {
		if row.Type != 1 {
			return fmt.Sprintf("components[%d] is type %d, not an action row", i, row.Type)
		}
		if len(row.Components) == 0 || len(row.Components) > 5 {
			return fmt.Sprintf("components[%d] has %d components; 1-5 allowed", i, len(row.Components))
		}
		for j, c := range row.Components {
			where := fmt.Sprintf("components[%d].components[%d]", i, j)
			id := utf8.RuneCountInString(c.CustomID)
			switch {
			case modal && c.Type != 4:
				return where + ": a modal takes text inputs only"
			case !modal && c.Type != 2:
				return where + ": only buttons are expected"
			case c.Type == 2 && utf8.RuneCountInString(c.Label) > 80:
				return where + ": label over 80 characters"
			case c.Type == 2 && (c.Style < 1 || c.Style > 6):
				return where + ": bad button style"
			case c.Type == 2 && c.Style == 5 && (c.URL == "" || c.CustomID != ""):
				return where + ": link buttons take a url and no custom_id"
			case c.Style != 5 && (id == 0 || id > 100):
				return where + ": custom_id must be 1-100 characters"
			case c.Type == 4 && (c.Label == "" || utf8.RuneCountInString(c.Label) > 45):
				return where + ": text input label must be 1-45 characters"
			case c.Type == 4 && (c.Style != 1 && c.Style != 2):
				return where + ": bad text input style"
			case c.Type == 4 && (c.MaxLength < 0 || c.MaxLength > 4000 || utf8.RuneCountInString(c.Placeholder) > 100):
				return where + ": bad text input limits"
			}
			if c.CustomID != "" {
				if ids[c.CustomID] {
					return where + ": custom_id is not unique"
				}
				ids[c.CustomID] = true
			}
		}
	}
	return ""
}

func (s *Server) createMessage(w http.ResponseWriter, r *http.Request) {
	m, ok := s.messageBody(w, r)
	if !ok {
		return
	}
	if m.Ephemeral() {
		s.invalid(w, r, 0, "channel messages cannot be ephemeral")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	ch := s.channels[r.PathValue("channel")]
	if ch == nil {
		apiError(w, http.StatusNotFound, 10003, "Unknown Channel")
		return
	}
	m.ID, m.ChannelID = s.id(), ch.id
	s.messages[m.ID] = m
	ch.messages = append(ch.messages, m.ID)
	writeJSON(w, http.StatusOK, m)
}

func (s *Server) getMessage(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := s.messages[r.PathValue("message")]
	if m == nil || m.ChannelID != r.PathValue("channel") {
		apiError(w, http.StatusNotFound, 10008, "Unknown Message")
		return
	}
	writeJSON(w, http.StatusOK, m)
}

func (s *Server) editMessage(w http.ResponseWriter, r *http.Request) {
	raw, ok := s.body(w, r, 1<<20)
	if !ok {
		return
	}
	var patch struct {
		Content         *string                    `json:"content"`
		Embeds          *[]*discordgo.MessageEmbed `json:"embeds"`
		Components      *[]Component               `json:"components"`
		AllowedMentions *Mentions                  `json:"allowed_mentions"`
	}
	if err := json.Unmarshal(raw, &patch); err != nil {
		s.invalid(w, r, 50109, "request body is not valid JSON: %v", err)
		return
	}
	s.mu.Lock()
	old := s.messages[r.PathValue("message")]
	if old == nil || old.ChannelID != r.PathValue("channel") {
		s.mu.Unlock()
		apiError(w, http.StatusNotFound, 10008, "Unknown Message")
		return
	}
	next := old.clone()
	s.mu.Unlock()
	next.AllowedMentions = patch.AllowedMentions
	if patch.Content != nil {
		next.Content = *patch.Content
	}
	if patch.Embeds != nil {
		next.Embeds = *patch.Embeds
	}
	if patch.Components != nil {
		next.Components = *patch.Components
	}
	if msg := checkMessage(next); msg != "" {
		s.invalid(w, r, 0, "%s", msg)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	next.Edits = old.Edits + 1
	*old = *next
	writeJSON(w, http.StatusOK, old)
}

func (s *Server) startThread(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Name                string `json:"name"`
		AutoArchiveDuration int    `json:"auto_archive_duration"`
	}
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&body); err != nil {
		s.invalid(w, r, 50109, "request body is not valid JSON")
		return
	}
	if n := utf8.RuneCountInString(body.Name); n == 0 || n > 100 {
		s.invalid(w, r, 0, "thread name must be 1-100 characters")
		return
	}
	if a := body.AutoArchiveDuration; a != 0 && !slices.Contains([]int{60, 1440, 4320, 10080}, a) {
		s.invalid(w, r, 0, "auto_archive_duration must be 60, 1440, 4320 or 10080")
		return
	}
	s.mu.Lock()
	ch := s.channels[r.PathValue("channel")]
	m := s.messages[r.PathValue("message")]
	switch {
	case ch == nil:
		s.mu.Unlock()
		apiError(w, http.StatusNotFound, 10003, "Unknown Channel")
		return
	case m == nil || m.ChannelID != ch.id:
		s.mu.Unlock()
		apiError(w, http.StatusNotFound, 10008, "Unknown Message")
		return
	case ch.parent != "":
		s.mu.Unlock()
		s.invalid(w, r, 0, "cannot start a thread in a thread")
		return
	case m.Thread != "":
		s.mu.Unlock()
		// Not a violation: a replica that lost the race gets this answer.
		apiError(w, http.StatusBadRequest, 160004, "A thread has already been created for this message")
		return
	}
	defer s.mu.Unlock()
	m.Thread = m.ID
	s.channels[m.ID] = &channel{id: m.ID, parent: ch.id, name: body.Name, archive: body.AutoArchiveDuration}
	writeJSON(w, http.StatusCreated, map[string]any{"id": m.ID, "type": 11, "guild_id": s.opts.GuildID,
		"parent_id": ch.id, "name": body.Name, "thread_metadata": map[string]any{"archived": false,
			"auto_archive_duration": body.AutoArchiveDuration, "locked": false}})
}

// Message returns a copy of the channel or thread message id.
func (s *Server) Message(id string) (*Message, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := s.messages[id]
	if m == nil {
		return nil, false
	}
	return m.clone(), true
}

// Messages returns copies of channel's messages (a thread is a channel),
// oldest first.
func (s *Server) Messages(channel string) []*Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	ch := s.channels[channel]
	if ch == nil {
		return nil
	}
	out := make([]*Message, 0, len(ch.messages))
	for _, id := range ch.messages {
		out = append(out, s.messages[id].clone())
	}
	return out
}

// Thread returns the thread started from message id: its name and
// messages, oldest first. ok is false when none was started.
func (s *Server) Thread(id string) (name string, msgs []*Message, ok bool) {
	s.mu.Lock()
	ch := s.channels[id]
	s.mu.Unlock()
	if ch == nil || ch.parent == "" {
		return "", nil, false
	}
	return ch.name, s.Messages(id), true
}

// ThreadArchive returns the auto_archive_duration of the thread id.
func (s *Server) ThreadArchive(id string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if ch := s.channels[id]; ch != nil {
		return ch.archive
	}
	return 0
}
