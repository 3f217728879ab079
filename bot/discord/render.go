package discord

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/bwmarrin/discordgo"

	"github.com/countersign/countersign/bot/chat"
	"github.com/countersign/countersign/internal/safetext"
)

// Discord's limits on messages (developers/resources/message.mdx,
// components/reference.mdx).
const (
	limitTitle       = 256
	limitDescription = 4096
	limitFieldName   = 256
	limitFieldValue  = 1024
	limitFields      = 25
	limitFooter      = 2048
	limitEmbedTotal  = 6000
	limitContent     = 2000
	limitLabel       = 80
	limitCustomID    = 100
	limitButtonsRow  = 5
	limitRows        = 5
	limitModalTitle  = 45
	limitInputLabel  = 45
	limitPlaceholder = 100
	limitInputValue  = 4000

	// Shares of the 6000-character embed total, so that whatever the
	// input the description keeps at least 6000-256-1024-2000 characters.
	budgetFooter = 1024
	budgetFields = 2000
)

// Ephemeral is the message flag that shows a response to its recipient only.
const Ephemeral = discordgo.MessageFlagsEphemeral

// zwsp breaks mentions and code fences without changing what people read.
const zwsp = "\u200b"

// markdown are the characters Discord's markdown or mention syntax gives a
// meaning: bold, italics, underline, strikethrough, code, spoilers (|),
// quotes, headers and subtext (# -#), lists (- *), masked links ([]()),
// mentions, channels, roles, timestamps and custom emoji (<@…>, <#…>,
// <t:…>, <:name:id>), @everyone, and the colon of a bare URL or a
// :shortcode:. A backslash before one makes Discord show it as typed.
const markdown = "\\*_~`|>#-[]()@<:"

// noMentions is the allowed_mentions every write carries: nothing pings.
func noMentions() *discordgo.MessageAllowedMentions {
	return &discordgo.MessageAllowedMentions{Parse: []discordgo.AllowedMentionType{}}
}

// place is where a string goes in a message; it decides how Discord would
// read it.
type place int

const (
	inMarkdown place = iota // embed title, description, field name and value, message content
	inPlain                 // footer, button label, modal text: no markdown, but a client may still highlight a mention
	inCode                  // inside a code span or block
)

// neutral is the one way user- and provider-supplied text reaches Discord:
// every string of a chat.Message passes through it before any other
// markup is added. It returns s as one line that Discord shows as typed.
// safetext.Clean removes bidi, zero-width and control characters; then,
// in markdown, every markdown character gets a backslash, and so does the
// full stop of a number that starts the line, which would begin an
// ordered list; in plain text and code, a zero-width space after @ and <
// breaks mentions, and in code one after ` keeps the span from closing.
// Pings are also off for every message (noMentions).
func neutral(s string, in place) string {
	s = safetext.Clean(s)
	switch in {
	case inPlain, inCode:
		s = strings.ReplaceAll(s, "@", "@"+zwsp)
		s = strings.ReplaceAll(s, "<", "<"+zwsp)
		if in == inCode {
			s = strings.ReplaceAll(s, "`", "`"+zwsp)
		}
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 8)
	number := 0 // digits seen at the start of the line, -1 once past it
	for _, r := range s {
		if strings.ContainsRune(markdown, r) || r == '.' && number > 0 {
			b.WriteByte('\\')
		}
		switch {
		case number >= 0 && r >= '0' && r <= '9':
			number++
		case number == 0 && r == ' ':
		default:
			number = -1
		}
		b.WriteRune(r)
	}
	return b.String()
}

// neutralLines is neutral for text of several lines (Message.Text, Pre):
// each line is neutralised on its own and the line breaks kept.
func neutralLines(s string, in place) string {
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		lines[i] = neutral(l, in)
	}
	return strings.Join(lines, "\n")
}

// clip cuts s to at most n characters, marking a cut with "…". It never
// leaves a dangling escape backslash.
func clip(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	if n < 1 {
		return ""
	}
	rs := []rune(s)[:n-1]
	// An odd run of trailing backslashes would escape the "…".
	k := 0
	for i := len(rs) - 1; i >= 0 && rs[i] == '\\'; i-- {
		k++
	}
	if k%2 == 1 {
		rs = rs[:len(rs)-1]
	}
	return string(rs) + "…"
}

func runes(s string) int { return utf8.RuneCountInString(s) }

// markSymbol is how a Line's mark is drawn.
func markSymbol(m chat.Mark) string {
	switch m {
	case chat.MarkOK:
		return "✅"
	case chat.MarkFailed:
		return "❌"
	case chat.MarkPending:
		return "⏳"
	case chat.MarkRunning:
		return "🔄"
	case chat.MarkSkipped:
		return "➖"
	case chat.MarkProblem:
		return "⚠️"
	}
	return "•"
}

// toneColor is the embed colour of a tone.
func toneColor(t chat.Tone) int {
	switch t {
	case chat.ToneWaiting:
		return 0xF1C40F
	case chat.ToneGood:
		return 0x2ECC71
	case chat.ToneBad:
		return 0xE74C3C
	case chat.ToneMuted:
		return 0x95A5A6
	}
	return 0x5865F2
}

// errBadButton is a button the bot built wrongly; no platform accepts it.
var errBadButton = errors.New("button value must be 1 to 100 characters")

// rendered is a message as Discord draws it.
type rendered struct {
	embed      *discordgo.MessageEmbed
	components []discordgo.MessageComponent
}

// render draws m as one embed and its buttons as action rows, escaping
// every string and keeping inside Discord's limits.
func render(m chat.Message) (rendered, error) {
	e := &discordgo.MessageEmbed{Color: toneColor(m.Tone)}
	if m.Title != "" {
		e.Title = clip(neutral(m.Title, inMarkdown), limitTitle)
	}
	if m.Footer != "" {
		e.Footer = &discordgo.MessageEmbedFooter{Text: clipLiteral(neutral(m.Footer, inPlain), min(limitFooter, budgetFooter))}
	}
	room := budgetFields
	for i, f := range m.Fields {
		if i == limitFields || room < 2 {
			break
		}
		name := clip(neutral(f.Label, inMarkdown), limitFieldName)
		if name == "" {
			name = zwsp
		}
		value := clip(neutral(f.Value, inMarkdown), limitFieldValue)
		code := f.Code && value != "" // nothing visible needs no code span
		if code {
			value = "`" + clipLiteral(neutral(f.Value, inCode), limitFieldValue-2) + "`"
		}
		if value == "" {
			value = "—"
		}
		if runes(name)+runes(value) > room {
			// The last field that fits in part: a short name and a cut value.
			name = clip(name, max(1, room/4))
			avail := max(1, room-runes(name))
			if code {
				value = "`" + clipLiteral(neutral(f.Value, inCode), max(1, avail-2)) + "`"
			} else {
				value = clip(value, avail)
			}
		}
		room -= runes(name) + runes(value)
		e.Fields = append(e.Fields, &discordgo.MessageEmbedField{Name: name, Value: value, Inline: runes(f.Value) <= 40})
	}
	// The description gets whatever the 6000 total leaves.
	used := runes(e.Title)
	if e.Footer != nil {
		used += runes(e.Footer.Text)
	}
	for _, f := range e.Fields {
		used += runes(f.Name) + runes(f.Value)
	}
	e.Description = description(m, min(limitDescription, limitEmbedTotal-used))
	var rows []discordgo.MessageComponent
	var row discordgo.ActionsRow
	for i, b := range m.Buttons {
		if i == limitRows*limitButtonsRow {
			break
		}
		if b.Value == "" || len(b.Value) > limitCustomID {
			return rendered{}, errBadButton
		}
		style := discordgo.SecondaryButton
		switch b.Style {
		case chat.StylePrimary:
			style = discordgo.SuccessButton
		case chat.StyleDanger:
			style = discordgo.DangerButton
		}
		label := clipLiteral(neutral(b.Label, inPlain), limitLabel)
		if label == "" {
			label = "…"
		}
		row.Components = append(row.Components, discordgo.Button{Label: label, Style: style, CustomID: b.Value})
		if len(row.Components) == limitButtonsRow {
			rows = append(rows, row)
			row = discordgo.ActionsRow{}
		}
	}
	if len(row.Components) > 0 {
		rows = append(rows, row)
	}
	if rows == nil {
		rows = []discordgo.MessageComponent{}
	}
	return rendered{embed: e, components: rows}, nil
}

// description draws Text, Lines, More and Pre within n characters. Lines
// that do not fit are counted into "… and N more" rather than cut.
func description(m chat.Message, n int) string {
	var parts []string
	if m.Text != "" {
		parts = append(parts, clip(neutralLines(m.Text, inMarkdown), n))
	}
	var lines []string
	for _, l := range m.Lines {
		s := markSymbol(l.Mark) + " " + neutral(l.Text, inMarkdown)
		if l.Detail != "" {
			s += " — " + neutral(l.Detail, inMarkdown)
		}
		lines = append(lines, clip(s, maxLine))
	}
	more := m.More
	pre := ""
	if m.Pre != "" {
		pre = "```\n" + neutralLines(m.Pre, inCode) + "\n```"
	}
	join := func(lines []string, more int) string {
		all := append([]string(nil), parts...)
		list := strings.Join(lines, "\n")
		if more > 0 {
			if list != "" {
				list += "\n"
			}
			list += fmt.Sprintf("… and %d more", more)
		}
		if list != "" {
			all = append(all, list)
		}
		if pre != "" {
			all = append(all, pre)
		}
		return strings.Join(all, "\n\n")
	}
	s := join(lines, more)
	for runes(s) > n && len(lines) > 0 {
		lines = lines[:len(lines)-1]
		more++
		s = join(lines, more)
	}
	if runes(s) <= n {
		return s
	}
	// Text or Pre alone is too long: cut Pre first (closing its fence),
	// then the whole.
	if pre != "" {
		pre = ""
		s = join(lines, more)
		if runes(s)+len("\n\n```\n\n```") < n {
			room := n - runes(s) - len("\n\n```\n\n```")
			pre = "```\n" + clipLiteral(neutralLines(m.Pre, inCode), room) + "\n```"
			s = join(lines, more)
		}
	}
	return clip(s, n)
}

// maxLine is the most characters one list line shows.
const maxLine = 512

// clipLiteral cuts defused text (plain, literal) without separating a
// character from the zero-width space that defuses it.
func clipLiteral(s string, n int) string {
	c := clip(s, n)
	if c == s {
		return c
	}
	body := strings.TrimSuffix(c, "…")
	for body != "" && strings.ContainsAny(body[len(body)-1:], "@<`") {
		body = body[:len(body)-1]
	}
	return body + "…"
}

// messageSend is m as a new channel message.
func messageSend(m chat.Message) (*discordgo.MessageSend, error) {
	r, err := render(m)
	if err != nil {
		return nil, err
	}
	return &discordgo.MessageSend{Embeds: []*discordgo.MessageEmbed{r.embed}, Components: r.components, AllowedMentions: noMentions()}, nil
}

// responseData is m as an ephemeral interaction response or follow-up.
func responseData(m chat.Message) (*discordgo.InteractionResponseData, error) {
	r, err := render(m)
	if err != nil {
		return nil, err
	}
	return &discordgo.InteractionResponseData{Embeds: []*discordgo.MessageEmbed{r.embed}, Components: r.components,
		AllowedMentions: noMentions(), Flags: Ephemeral}, nil
}

// modal is d as a modal response: one required paragraph input whose
// custom_id is "value".
func modal(d chat.Dialog) (*discordgo.InteractionResponse, error) {
	if d.ID == "" || len(d.ID) > limitCustomID {
		return nil, errBadButton
	}
	title := clipLiteral(neutral(d.Title, inPlain), limitModalTitle)
	if title == "" {
		title = "Countersign"
	}
	label := clipLiteral(neutral(d.Label, inPlain), limitInputLabel)
	if label == "" {
		label = "Text"
	}
	maxLen := d.MaxLen
	if maxLen <= 0 || maxLen > limitInputValue {
		maxLen = limitInputValue
	}
	return &discordgo.InteractionResponse{Type: discordgo.InteractionResponseModal, Data: &discordgo.InteractionResponseData{
		CustomID: d.ID, Title: title,
		Components: []discordgo.MessageComponent{discordgo.ActionsRow{Components: []discordgo.MessageComponent{
			// One line: a reason with a line break is refused (commands.Reason).
			discordgo.TextInput{CustomID: modalInput, Label: label, Style: discordgo.TextInputShort,
				Placeholder: clipLiteral(neutral(d.Hint, inPlain), limitPlaceholder), Required: true, MinLength: 1, MaxLength: maxLen},
		}}},
	}}, nil
}

// modalInput is the custom_id of the modal's one text input.
const modalInput = "value"

// ephemeral is a private text answer, for refusals decided by the adapter.
func ephemeral(text string) *discordgo.InteractionResponse {
	return &discordgo.InteractionResponse{Type: discordgo.InteractionResponseChannelMessageWithSource,
		Data: &discordgo.InteractionResponseData{Content: clip(neutral(text, inMarkdown), limitContent), Flags: Ephemeral, AllowedMentions: noMentions()}}
}
