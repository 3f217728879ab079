package discord

import (
	"encoding/json"
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/bwmarrin/discordgo"

	"github.com/countersign/countersign/bot/chat"
	"github.com/countersign/countersign/internal/safetext"
)

// escapedOK reports whether every markdown character in s is escaped,
// every backslash escapes one (or the full stop after a number), and no
// line starts an ordered list.
func escapedOK(s string) bool {
	if orderedList.MatchString(s) {
		return false
	}
	rs := []rune(s)
	for i := 0; i < len(rs); i++ {
		switch {
		case rs[i] == '\\':
			if i+1 == len(rs) || !strings.ContainsRune(markdown+".", rs[i+1]) {
				return false
			}
			i++
		case strings.ContainsRune(markdown, rs[i]):
			return false
		}
	}
	return true
}

// orderedList matches a line Discord would show as an ordered list item.
var orderedList = regexp.MustCompile(`(?m)^ *[0-9]+\.`)

// literalOK reports whether s, shown without markdown or inside code, has
// no live mention and (inCode) no backtick that could close the code.
func literalOK(s string, inCode bool) bool {
	rs := []rune(s)
	for i, r := range rs {
		defused := i+1 < len(rs) && rs[i+1] == '\u200b'
		if (r == '@' || r == '<' || (inCode && r == '`')) && !defused {
			return false
		}
	}
	return true
}

// checkRendered asserts the escaping and limit properties of one render.
func checkRendered(t *testing.T, m chat.Message, r rendered) {
	t.Helper()
	e := r.embed
	n := utf8.RuneCountInString
	if !escapedOK(e.Title) || n(e.Title) > limitTitle {
		t.Errorf("title %q", e.Title)
	}
	desc := e.Description
	if i := strings.Index(desc, "```\n"); i >= 0 {
		j := strings.LastIndex(desc, "\n```")
		if j < i {
			t.Fatalf("unclosed code block in %q", desc)
		}
		if code := desc[i+4 : j]; !literalOK(code, true) {
			t.Errorf("code block %q", code)
		}
		desc = desc[:i] + desc[j+4:]
	}
	for _, s := range []string{e.Title, desc} {
		for line := range strings.SplitSeq(s, "\n") {
			if safetext.Clean(line) != line {
				t.Errorf("control, bidi or invisible character in %q", s)
			}
		}
	}
	if !escapedOK(desc) || n(e.Description) > limitDescription {
		t.Errorf("description %q", e.Description)
	}
	total := n(e.Title) + n(e.Description)
	if len(e.Fields) > limitFields {
		t.Errorf("%d fields", len(e.Fields))
	}
	for i, f := range e.Fields {
		total += n(f.Name) + n(f.Value)
		if n(f.Name) == 0 || n(f.Name) > limitFieldName || !escapedOK(f.Name) {
			t.Errorf("field name %q", f.Name)
		}
		if n(f.Value) == 0 || n(f.Value) > limitFieldValue {
			t.Errorf("field value length %d", n(f.Value))
		}
		if m.Fields[i].Code && safetext.Clean(m.Fields[i].Value) != "" {
			if !strings.HasPrefix(f.Value, "`") || !strings.HasSuffix(f.Value, "`") || !literalOK(f.Value[1:len(f.Value)-1], true) {
				t.Errorf("code field %q", f.Value)
			}
		} else if !escapedOK(f.Value) {
			t.Errorf("field value %q", f.Value)
		}
	}
	if e.Footer != nil {
		total += n(e.Footer.Text)
		if n(e.Footer.Text) > limitFooter || !literalOK(e.Footer.Text, false) {
			t.Errorf("footer %q", e.Footer.Text)
		}
	}
	if total > limitEmbedTotal {
		t.Errorf("embed totals %d characters", total)
	}
	if len(r.components) > limitRows {
		t.Errorf("%d rows", len(r.components))
	}
	for _, row := range r.components {
		for _, c := range row.(discordgo.ActionsRow).Components {
			b := c.(discordgo.Button)
			if n(b.Label) == 0 || n(b.Label) > limitLabel || !literalOK(b.Label, false) || len(b.CustomID) > limitCustomID {
				t.Errorf("button %+v", b)
			}
		}
	}
}

// userMessage puts s everywhere a message carries text.
func userMessage(s string, repeat int) chat.Message {
	m := chat.Message{Request: 1, Title: s, Text: s, Pre: s, Footer: s, More: 3}
	for range repeat {
		m.Fields = append(m.Fields, chat.Field{Label: s, Value: s}, chat.Field{Label: s, Value: s, Code: true})
		m.Lines = append(m.Lines, chat.Line{Mark: chat.MarkOK, Text: s, Detail: s})
		m.Buttons = append(m.Buttons, chat.Button{Label: s, Value: "approve:1:abc"})
	}
	return m
}

func TestRenderEscapes(t *testing.T) {
	tests := []struct{ in, want string }{
		{"@everyone", `\@everyone`},
		{"@here hi", `\@here hi`},
		{"<@123> <@&456> <#789>", `\<\@123\> \<\@&456\> \<\#789\>`},
		{"**bold** __u__ ~~s~~ ||spoiler||", `\*\*bold\*\* \_\_u\_\_ \~\~s\~\~ \|\|spoiler\|\|`},
		{"[click](https://evil.example)", `\[click\]\(https\:\/\/evil.example\)`},
		{"# heading", "\\# heading"},
		{"-# subtext", "\\-\\# subtext"},
		{"> quote", "\\> quote"},
		{"- item", "\\- item"},
		{"  12. item", "  12\\. item"},
		{"version 1.2", "version 1.2"},
		{"<t:1700000000:R> <:emoji:123> :smile:", "\\<t\\:1700000000\\:R\\> \\<\\:emoji\\:123\\> \\:smile\\:"},
		{"line\nbreak", "line break"},
		{"`code` \\", "\\`code\\` \\\\"},
		{"mallory@contoso.com", `mallory\@contoso.com`},
	}
	for _, tt := range tests {
		if got := neutral(tt.in, inMarkdown); got != strings.ReplaceAll(tt.want, `\/`, `/`) {
			t.Errorf("neutral(%q, inMarkdown) = %q, want %q", tt.in, got, strings.ReplaceAll(tt.want, `\/`, `/`))
		}
	}
	r, err := render(userMessage("@everyone <@1> ```x``` **b**", 2))
	if err != nil {
		t.Fatal(err)
	}
	checkRendered(t, userMessage("@everyone <@1> ```x``` **b**", 2), r)
	if got := r.embed.Fields[1].Value; got != "`@\u200beveryone <\u200b@\u200b1> `\u200b`\u200b`\u200bx`\u200b`\u200b`\u200b **b**`" {
		t.Errorf("code field %q", got)
	}
}

func TestRenderLimits(t *testing.T) {
	long := strings.Repeat("\\@", 5000)
	m := userMessage(long, 30)
	r, err := render(m)
	if err != nil {
		t.Fatal(err)
	}
	checkRendered(t, m, r)
	// Lines that do not fit are counted, not cut.
	m = chat.Message{Title: "Batch"}
	for range 200 {
		m.Lines = append(m.Lines, chat.Line{Mark: chat.MarkFailed, Text: strings.Repeat("x", 60) + "@contoso.com", Detail: "failed"})
	}
	r, err = render(m)
	if err != nil {
		t.Fatal(err)
	}
	checkRendered(t, m, r)
	if !strings.Contains(r.embed.Description, " more") || strings.Count(r.embed.Description, "❌") >= 200 {
		t.Errorf("description does not count the lines left out: ends %q", r.embed.Description[len(r.embed.Description)-40:])
	}
	if _, err := render(chat.Message{Buttons: []chat.Button{{Label: "x", Value: strings.Repeat("v", 101)}}}); err == nil {
		t.Error("a 101-character button value rendered")
	}
	if _, err := render(chat.Message{Buttons: []chat.Button{{Label: "x"}}}); err == nil {
		t.Error("an empty button value rendered")
	}
	// 7 buttons take two rows.
	m = chat.Message{Title: "t"}
	for range 7 {
		m.Buttons = append(m.Buttons, chat.Button{Label: "b", Value: "v" + strings.Repeat("x", len(m.Buttons))})
	}
	if r, _ := render(m); len(r.components) != 2 {
		t.Errorf("7 buttons in %d rows", len(r.components))
	}
}

func TestModalLimits(t *testing.T) {
	r, err := modal(chat.Dialog{ID: "deny:1:x", Title: strings.Repeat("T", 60), Label: "@everyone " + strings.Repeat("L", 60), MaxLen: 500})
	if err != nil {
		t.Fatal(err)
	}
	in := r.Data.Components[0].(discordgo.ActionsRow).Components[0].(discordgo.TextInput)
	if utf8.RuneCountInString(r.Data.Title) > limitModalTitle || utf8.RuneCountInString(in.Label) > limitInputLabel ||
		!literalOK(in.Label, false) || in.MaxLength != 500 || !in.Required || in.Style != discordgo.TextInputShort {
		t.Errorf("modal %+v input %+v", r.Data, in)
	}
}

func FuzzRender(f *testing.F) {
	for _, s := range []string{"@everyone", "@here", "<@123>", "<@&1>", "```", "`", "\\", "a\\", "**x**", "[a](b)",
		"||s||", "# h", "> q", "- l", "@\u200beveryone", strings.Repeat("\\", 300), "\xff@everyone"} {
		f.Add(s, 1)
	}
	f.Fuzz(func(t *testing.T, s string, repeat int) {
		repeat = max(0, repeat%30)
		m := userMessage(s, repeat)
		r, err := render(m)
		if err != nil {
			t.Fatal(err)
		}
		checkRendered(t, m, r)
	})
}

// TestRenderNeutralisesUserText reproduces issue 15: bidi and zero-width
// characters in provider text reached Discord, and a number at the start
// of a line made a list.
func TestRenderNeutralisesUserText(t *testing.T) {
	tests := []struct {
		name, in  string
		wantTitle string
		banned    []string
	}{
		{"bidi override", "Mallory \u202etxt.exe", `Mallory txt.exe`, []string{"\u202e"}},
		{"zero-width and isolates", "pay\u200bpal \u2066x\u2069\u00ad\ufeff", `paypal x`, []string{"\u200b", "\u2066", "\u2069", "\u00ad", "\ufeff"}},
		{"ordered list", "1. APPROVED", `1\. APPROVED`, nil},
		{"control characters", "a\x1b[31mb\tc", `a \[31mb c`, []string{"\x1b", "\t"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := userMessage(tt.in, 1)
			r, err := render(m)
			if err != nil {
				t.Fatal(err)
			}
			if r.embed.Title != tt.wantTitle {
				t.Errorf("title = %q, want %q", r.embed.Title, tt.wantTitle)
			}
			if !strings.HasPrefix(r.embed.Description, tt.wantTitle+"\n") {
				t.Errorf("description = %q, want it to start with %q", r.embed.Description, tt.wantTitle)
			}
			for _, s := range payloadStrings(t, r) {
				for _, b := range tt.banned {
					if strings.Contains(s, b) {
						t.Errorf("payload text %q contains %q", s, b)
					}
				}
			}
		})
	}
}

// payloadStrings returns every string of r as Discord receives it.
func payloadStrings(t *testing.T, r rendered) []string {
	t.Helper()
	raw, err := json.Marshal(map[string]any{"embeds": []any{r.embed}, "components": r.components})
	if err != nil {
		t.Fatal(err)
	}
	var doc any
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	var out []string
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case string:
			out = append(out, v)
		case []any:
			for _, e := range v {
				walk(e)
			}
		case map[string]any:
			for _, e := range v {
				walk(e)
			}
		}
	}
	walk(doc)
	return out
}
