package discordtest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"unicode/utf8"
)

// nameRE is Discord's rule for command and option names.
var nameRE = regexp.MustCompile(`^[-_'\p{L}\p{N}\p{Devanagari}\p{Thai}]{1,32}$`)

type commandOption struct {
	Type         int             `json:"type"`
	Name         string          `json:"name"`
	Description  string          `json:"description"`
	Required     bool            `json:"required"`
	Choices      []commandChoice `json:"choices"`
	Options      []commandOption `json:"options"`
	MinLength    *int            `json:"min_length"`
	MaxLength    *int            `json:"max_length"`
	Autocomplete bool            `json:"autocomplete"`
}

type commandChoice struct {
	Name  string `json:"name"`
	Value any    `json:"value"`
}

type command struct {
	Name        string          `json:"name"`
	Type        int             `json:"type"`
	Description string          `json:"description"`
	Options     []commandOption `json:"options"`
}

func checkName(what, name string) string {
	if !nameRE.MatchString(name) || strings.ToLower(name) != name {
		return fmt.Sprintf("%s name %q does not match Discord's rules", what, name)
	}
	return ""
}

func checkDescription(what, d string) string {
	if n := utf8.RuneCountInString(d); n < 1 || n > 100 {
		return fmt.Sprintf("%s description must be 1-100 characters, is %d", what, n)
	}
	return ""
}

func checkOptions(where string, opts []commandOption) string {
	if len(opts) > 25 {
		return where + ": more than 25 options"
	}
	optional := false
	seen := map[string]bool{}
	for _, o := range opts {
		w := where + " option " + o.Name
		if msg := checkName(w, o.Name) + checkDescription(w, o.Description); msg != "" {
			return msg
		}
		if seen[o.Name] {
			return w + ": duplicate option name"
		}
		seen[o.Name] = true
		if o.Type < 1 || o.Type > 11 {
			return fmt.Sprintf("%s: option type %d does not exist", w, o.Type)
		}
		if o.Type <= 2 {
			return w + ": subcommands are not expected"
		}
		if o.Required && optional {
			return w + ": required options must come before optional ones"
		}
		if !o.Required {
			optional = true
		}
		if len(o.Choices) > 25 {
			return w + ": more than 25 choices"
		}
		for _, c := range o.Choices {
			if n := utf8.RuneCountInString(c.Name); n < 1 || n > 100 {
				return w + ": choice name must be 1-100 characters"
			}
			if _, ok := c.Value.(string); !ok && o.Type == 3 {
				return w + ": string option with a non-string choice"
			}
		}
		if (o.MinLength != nil || o.MaxLength != nil) && o.Type != 3 {
			return w + ": min_length/max_length on a non-string option"
		}
		if o.MaxLength != nil && (*o.MaxLength < 1 || *o.MaxLength > 6000) {
			return w + ": max_length must be 1-6000"
		}
		if len(o.Choices) > 0 && o.Autocomplete {
			return w + ": choices and autocomplete are exclusive"
		}
	}
	return ""
}

func (s *Server) putCommands(w http.ResponseWriter, r *http.Request) {
	if r.PathValue("app") != s.opts.AppID {
		apiError(w, http.StatusForbidden, 50001, "Missing Access")
		return
	}
	if r.PathValue("guild") != s.opts.GuildID {
		apiError(w, http.StatusNotFound, 10004, "Unknown Guild")
		return
	}
	raw, ok := s.body(w, r, 4<<20)
	if !ok {
		return
	}
	var cmds []command
	var generic []map[string]any
	if json.Unmarshal(raw, &cmds) != nil || json.Unmarshal(raw, &generic) != nil {
		s.invalid(w, r, 50109, "body must be a JSON array of commands")
		return
	}
	if len(cmds) > 100 {
		s.invalid(w, r, 30032, "more than 100 chat-input commands")
		return
	}
	names := map[string]bool{}
	for _, c := range cmds {
		if c.Type != 0 && c.Type != 1 {
			s.invalid(w, r, 0, "command %s: only chat-input commands are expected", c.Name)
			return
		}
		if msg := checkName("command", c.Name) + checkDescription("command "+c.Name, c.Description) + checkOptions("command "+c.Name, c.Options); msg != "" {
			s.invalid(w, r, 0, "%s", msg)
			return
		}
		if names[c.Name] {
			s.invalid(w, r, 0, "duplicate command %s", c.Name)
			return
		}
		names[c.Name] = true
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range generic {
		c["id"] = s.id()
		c["application_id"] = s.opts.AppID
		c["guild_id"] = s.opts.GuildID
		c["version"] = "1"
	}
	s.commands = generic
	s.commandPuts++
	writeJSON(w, http.StatusOK, generic)
}

func (s *Server) getCommands(w http.ResponseWriter, _ *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := s.commands
	if out == nil {
		out = []map[string]any{}
	}
	writeJSON(w, http.StatusOK, out)
}

// Commands returns the guild's registered commands as JSON objects and
// how many bulk overwrites there were.
func (s *Server) Commands() ([]map[string]any, int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []map[string]any
	b, _ := json.Marshal(s.commands)
	_ = json.Unmarshal(b, &out)
	return out, s.commandPuts
}
