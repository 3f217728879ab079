package discord

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/bwmarrin/discordgo"

	"github.com/countersign/countersign/bot"
)

// escapedOK reports whether every markdown character in s is escaped and
// every backslash escapes one.
func escapedOK(s string) bool {
	rs := []rune(s)
	for i := 0; i < len(rs); i++ {
		switch {
		case rs[i] == '\\':
			if i+1 == len(rs) || !strings.ContainsRune(markdown, rs[i+1]) {
				return false
			}
			i++
		case strings.ContainsRune(markdown, rs[i]):
			return false
		}
	}
	return true
}

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
func checkRendered(t *testing.T, m bot.Message, r rendered) {
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
		if m.Fields[i].Code && m.Fields[i].Value != "" {
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
func userMessage(s string, repeat int) bot.Message {
	m := bot.Message{Request: 1, Title: s, Text: s, Pre: s, Footer: s, More: 3}
	for range repeat {
		m.Fields = append(m.Fields, bot.Field{Label: s, Value: s}, bot.Field{Label: s, Value: s, Code: true})
		m.Lines = append(m.Lines, bot.Line{Mark: bot.MarkOK, Text: s, Detail: s})
		m.Buttons = append(m.Buttons, bot.Button{Label: s, Value: "approve:1:abc"})
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
		{"# heading\n> quote\n- item", "\\# heading\n\\> quote\n\\- item"},
		{"`code` \\", "\\`code\\` \\\\"},
		{"mallory@contoso.com", `mallory\@contoso.com`},
	}
	for _, tt := range tests {
		if got := escape(tt.in); got != strings.ReplaceAll(tt.want, `\/`, `/`) {
			t.Errorf("escape(%q) = %q, want %q", tt.in, got, strings.ReplaceAll(tt.want, `\/`, `/`))
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
	m = bot.Message{Title: "Batch"}
	for range 200 {
		m.Lines = append(m.Lines, bot.Line{Mark: bot.MarkFailed, Text: strings.Repeat("x", 60) + "@contoso.com", Detail: "failed"})
	}
	r, err = render(m)
	if err != nil {
		t.Fatal(err)
	}
	checkRendered(t, m, r)
	if !strings.Contains(r.embed.Description, " more") || strings.Count(r.embed.Description, "❌") >= 200 {
		t.Errorf("description does not count the lines left out: ends %q", r.embed.Description[len(r.embed.Description)-40:])
	}
	if _, err := render(bot.Message{Buttons: []bot.Button{{Label: "x", Value: strings.Repeat("v", 101)}}}); err == nil {
		t.Error("a 101-character button value rendered")
	}
	if _, err := render(bot.Message{Buttons: []bot.Button{{Label: "x"}}}); err == nil {
		t.Error("an empty button value rendered")
	}
	// 7 buttons take two rows.
	m = bot.Message{Title: "t"}
	for range 7 {
		m.Buttons = append(m.Buttons, bot.Button{Label: "b", Value: "v" + strings.Repeat("x", len(m.Buttons))})
	}
	if r, _ := render(m); len(r.components) != 2 {
		t.Errorf("7 buttons in %d rows", len(r.components))
	}
}

func TestModalLimits(t *testing.T) {
	r, err := modal(bot.Dialog{ID: "deny:1:x", Title: strings.Repeat("T", 60), Label: "@everyone " + strings.Repeat("L", 60), MaxLen: 500})
	if err != nil {
		t.Fatal(err)
	}
	in := r.Data.Components[0].(discordgo.ActionsRow).Components[0].(discordgo.TextInput)
	if utf8.RuneCountInString(r.Data.Title) > limitModalTitle || utf8.RuneCountInString(in.Label) > limitInputLabel ||
		!literalOK(in.Label, false) || in.MaxLength != 500 || !in.Required || in.Style != discordgo.TextInputParagraph {
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
