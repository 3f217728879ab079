package slackbot

import (
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/slack-go/slack"
	"github.com/slack-go/slack/slackutilsx"

	"github.com/countersign/countersign/bot/chat"
	"github.com/countersign/countersign/internal/safetext"
)

// Block Kit limits (chat.md §6, §7).
const (
	maxBlocks     = 50
	maxText       = 3000 // one text object
	maxField      = 2000 // one section field
	maxFields     = 10   // fields per section
	maxButtons    = 25
	maxButtonText = 75
	maxFallback   = 3000 // the notification text; Slack recommends < 4,000
	maxViewTitle  = 24
	// maxTextBlocks and maxFieldBlocks bound the blocks of Message.Text and
	// Message.Fields, leaving the rest of the 50 to lines and controls.
	maxTextBlocks  = 8
	maxFieldBlocks = 4
)

// place is where a string goes in a message; it decides what Slack would
// read in it.
type place int

const (
	inText place = iota // mrkdwn outside code, and plain_text objects
	inCode              // inside a code span or block
)

// neutral is the one way user- and provider-supplied text reaches Slack:
// every string of a chat.Message passes through it before any other
// markup is added. It returns s as one line that Slack shows as typed:
//
//   - safetext.Clean removes bidi, zero-width and control characters;
//   - & < > are escaped, so nothing becomes a mention (<@U…>, <!here>,
//     <!subteam^…>), a channel, a date or a link (<url|label>) (chat.md
//     §11); bare URLs stay unlinked because every mrkdwn object is
//     verbatim;
//   - mrkdwn has no escape for its formatting, so the characters that
//     would start it are replaced by look-alikes: * ~ and ` always, _
//     unless it sits inside a word (Slack only formats at word edges, so
//     first_last@contoso.com keeps its underscore), the colon that opens
//     an emoji shortcode such as :white_check_mark:, and a > at the start,
//     which would quote. In a code span only ` can end the code, so
//     inCode replaces only that.
func neutral(s string, in place) string {
	s = safetext.Clean(s)
	if !strings.ContainsAny(s, "*_~`:>") {
		return slackutilsx.EscapeMessage(s)
	}
	rs := []rune(s)
	var b strings.Builder
	b.Grow(len(s) + 8)
	lineStart := true // only spaces so far
	for i, r := range rs {
		switch {
		case r == '`':
			r = 'ˋ'
		case in == inCode:
		case r == '*':
			r = '∗'
		case r == '~':
			r = '∼'
		case r == '_' && !(i > 0 && wordChar(rs[i-1]) && i+1 < len(rs) && wordChar(rs[i+1])):
			r = 'ˍ'
		case r == ':' && shortcodeAt(rs[i+1:]):
			r = '∶'
		case r == '>' && lineStart:
			r = '˃'
		}
		lineStart = lineStart && r == ' '
		b.WriteRune(r)
	}
	return slackutilsx.EscapeMessage(b.String())
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

// wordChar reports whether r is an ASCII letter or digit, between which
// Slack does not start or end formatting.
func wordChar(r rune) bool {
	return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9'
}

// shortcodeAt reports whether rs, which follows a colon, continues as an
// emoji shortcode: name characters up to a closing colon. Names of digits
// only are not emoji, except :100: and :1234:, so times such as 09:00:00
// stay as they are.
func shortcodeAt(rs []rune) bool {
	digits := true
	for i, r := range rs {
		switch {
		case r == ':':
			name := string(rs[:i])
			return i > 0 && (!digits || name == "100" || name == "1234")
		case !wordChar(r) && !strings.ContainsRune("_+-'", r):
			return false
		}
		digits = digits && r >= '0' && r <= '9'
	}
	return false
}

// code shows s in a code span; nothing visible needs none.
func code(s string) string {
	if s = neutral(s, inCode); s == "" {
		return ""
	}
	return "`" + s + "`"
}

// cut shortens s to at most n runes, marking the cut with "…".
func cut(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}

// mrkdwn is a verbatim mrkdwn text object: formatting applies, but Slack
// does not turn bare URLs, #channels or @names into links.
func mrkdwn(s string) *slack.TextBlockObject {
	return &slack.TextBlockObject{Type: slack.MarkdownType, Text: s, Verbatim: true}
}

// plain is a plain_text object of at most n characters. Slack does not
// parse mentions in plain text, but it does read entities and emoji
// shortcodes, so the text is neutralised like mrkdwn.
func plain(s string, n int) *slack.TextBlockObject {
	return &slack.TextBlockObject{Type: slack.PlainTextType, Text: clip(neutral(s, inText), n)}
}

var toneIcons = map[chat.Tone]string{
	chat.ToneWaiting: "⏳ ", chat.ToneGood: "✅ ", chat.ToneBad: "❌ ", chat.ToneMuted: "⚪ ",
}

var markIcons = map[chat.Mark]string{
	chat.MarkNone: "•", chat.MarkPending: "○", chat.MarkRunning: "⏳", chat.MarkOK: "✅",
	chat.MarkFailed: "❌", chat.MarkSkipped: "➖", chat.MarkProblem: "⚠️",
}

// rendered is a message as Slack takes it.
type rendered struct {
	Text   string // fallback for notifications, escaped
	Blocks []slack.Block
}

// render turns a neutral message into Block Kit within Slack's limits.
// Every string of m passes through neutral; the only markup is the
// adapter's own.
func render(m chat.Message) rendered {
	var blocks []slack.Block
	add := func(b slack.Block) { blocks = append(blocks, b) }
	if m.Title != "" {
		add(slack.NewSectionBlock(mrkdwn(toneIcons[m.Tone]+"*"+neutral(cut(m.Title, 200), inText)+"*"), nil, nil))
	}
	// Text and fields get at most maxTextBlocks and maxFieldBlocks blocks,
	// so every message stays under Slack's 50 whatever its parts.
	text := chunks(neutralLines(m.Text, inText), maxText)
	if len(text) > maxTextBlocks {
		text = text[:maxTextBlocks]
		text[maxTextBlocks-1] = clip(text[maxTextBlocks-1], maxText-len("…")) + "…"
	}
	for _, chunk := range text {
		add(slack.NewSectionBlock(mrkdwn(chunk), nil, nil))
	}
	for i := 0; i < len(m.Fields) && i < maxFieldBlocks*maxFields; i += maxFields {
		var fs []*slack.TextBlockObject
		for _, f := range m.Fields[i:min(i+maxFields, len(m.Fields))] {
			v := neutral(cut(f.Value, 300), inText)
			if f.Code {
				v = code(cut(f.Value, 300))
			}
			if v == "" {
				v = "–"
			}
			fs = append(fs, mrkdwn("*"+neutral(cut(f.Label, 100), inText)+"*\n"+v))
		}
		add(slack.NewSectionBlock(nil, fs, nil))
	}
	// Lines go several to a section, each section under the text limit.
	more := m.More
	var lines []string
	for _, l := range m.Lines {
		s := markIcons[l.Mark] + " " + neutral(cut(l.Text, 300), inText)
		if l.Detail != "" {
			s += " — " + neutral(cut(l.Detail, 500), inText)
		}
		lines = append(lines, s)
	}
	reserve := 4 // pre, more, footer, buttons
	for len(lines) > 0 {
		if len(blocks) >= maxBlocks-reserve {
			more += len(lines)
			break
		}
		var b strings.Builder
		n := 0
		for n < len(lines) && b.Len()+len(lines[n])+1 <= maxText {
			if n > 0 {
				b.WriteByte('\n')
			}
			b.WriteString(lines[n])
			n++
		}
		if n == 0 { // one line over the limit on its own
			b.WriteString(clip(lines[0], maxText))
			n = 1
		}
		add(slack.NewSectionBlock(mrkdwn(b.String()), nil, nil))
		lines = lines[n:]
	}
	if more > 0 {
		add(slack.NewContextBlock("", mrkdwn(fmt.Sprintf("… and %d more", more))))
	}
	if m.Pre != "" {
		add(slack.NewSectionBlock(mrkdwn("```"+clip(neutralLines(m.Pre, inCode), maxText-8)+"```"), nil, nil))
	}
	if m.Footer != "" {
		add(slack.NewContextBlock("", mrkdwn(clip(neutral(m.Footer, inText), maxText))))
	}
	if len(m.Buttons) > 0 {
		var els []slack.BlockElement
		for i, b := range m.Buttons[:min(len(m.Buttons), maxButtons)] {
			btn := slack.NewButtonBlockElement(fmt.Sprintf("countersign-%d", i), b.Value, plain(b.Label, maxButtonText))
			switch b.Style {
			case chat.StylePrimary:
				btn.Style = slack.StylePrimary
			case chat.StyleDanger:
				btn.Style = slack.StyleDanger
			}
			if c := b.Confirm; c != nil {
				btn.Confirm = slack.NewConfirmationBlockObject(plain(c.Title, 100), plain(c.Text, 300), plain(c.Confirm, 30), plain(c.Deny, 30))
			}
			els = append(els, btn)
		}
		add(slack.NewActionBlock("", els...))
	}
	if len(blocks) == 0 {
		add(slack.NewSectionBlock(mrkdwn("–"), nil, nil))
	}
	fallback := m.Title
	if fallback == "" {
		fallback = m.Text
	}
	if fallback == "" {
		fallback = "Countersign"
	}
	return rendered{Text: clip(neutral(fallback, inText), maxFallback), Blocks: blocks}
}

// clip shortens already escaped text to at most n bytes (so at most n
// characters), never inside an escape sequence or a UTF-8 sequence, and
// marks the cut with "…".
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:safeCut(s, n-len("…"))] + "…"
}

// safeCut returns the largest i <= n at which escaped text s can be cut.
func safeCut(s string, i int) int {
	for i > 0 && !utf8.RuneStart(s[i]) {
		i--
	}
	if j := strings.LastIndexByte(s[:i], '&'); j >= 0 && !strings.Contains(s[j:i], ";") {
		i = j
	}
	return i
}

// chunks splits s into pieces of at most n bytes, at line breaks where it
// can and never inside an escape sequence or a UTF-8 sequence.
func chunks(s string, n int) []string {
	var out []string
	for len(s) > n {
		i := strings.LastIndexByte(s[:n], '\n')
		if i <= 0 {
			i = safeCut(s, n)
		}
		out = append(out, s[:i])
		s = strings.TrimPrefix(s[i:], "\n")
	}
	if s != "" {
		out = append(out, s)
	}
	return out
}

// view is the modal of a dialog. private_metadata carries where the dialog
// came from, so the submission can be answered there.
func view(d chat.Dialog, metadata string) slack.ModalViewRequest {
	// One line: a reason with a line break is refused (commands.Reason).
	input := slack.NewPlainTextInputBlockElement(plain(d.Hint, 150), "value")
	if d.MaxLen > 0 {
		input.MaxLength = min(d.MaxLen, 3000)
	}
	block := slack.NewInputBlock("reason", plain(d.Label, 2000), nil, input)
	block.Optional = !d.Required
	submit := d.Submit
	if submit == "" {
		submit = "Submit"
	}
	return slack.ModalViewRequest{
		Type:            slack.VTModal,
		CallbackID:      callbackDialog,
		PrivateMetadata: metadata,
		Title:           plain(d.Title, maxViewTitle),
		Submit:          plain(submit, maxViewTitle),
		Close:           plain("Cancel", maxViewTitle),
		Blocks:          slack.Blocks{BlockSet: []slack.Block{block}},
	}
}
