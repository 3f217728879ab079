package slackbot

import (
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/slack-go/slack"
	"github.com/slack-go/slack/slackutilsx"

	"github.com/countersign/countersign/bot"
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

// escape makes s safe inside mrkdwn: Slack's control sequences (<@U…>,
// <!here>, <#C…>, <url|label>) all start with <, so escaping & < > is what
// keeps user text from becoming a mention or a link (chat.md §11).
func escape(s string) string { return slackutilsx.EscapeMessage(s) }

// code shows s in a code span: escaped, with backticks that would end the
// span replaced.
func code(s string) string {
	if s == "" {
		return ""
	}
	return "`" + strings.ReplaceAll(escape(s), "`", "ˋ") + "`"
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
// parse mentions in plain text, but it does read entities, so the text is
// escaped like mrkdwn.
func plain(s string, n int) *slack.TextBlockObject {
	return &slack.TextBlockObject{Type: slack.PlainTextType, Text: clip(escape(oneLine(s)), n)}
}

var toneIcons = map[bot.Tone]string{
	bot.ToneWaiting: "⏳ ", bot.ToneGood: "✅ ", bot.ToneBad: "❌ ", bot.ToneMuted: "⚪ ",
}

var markIcons = map[bot.Mark]string{
	bot.MarkNone: "•", bot.MarkPending: "○", bot.MarkRunning: "⏳", bot.MarkOK: "✅",
	bot.MarkFailed: "❌", bot.MarkSkipped: "➖", bot.MarkProblem: "⚠️",
}

// rendered is a message as Slack takes it.
type rendered struct {
	Text   string // fallback for notifications, escaped
	Blocks []slack.Block
}

// render turns a neutral message into Block Kit within Slack's limits.
// Every string of m is escaped; the only markup is the adapter's own.
func render(m bot.Message) rendered {
	var blocks []slack.Block
	add := func(b slack.Block) { blocks = append(blocks, b) }
	if m.Title != "" {
		add(slack.NewSectionBlock(mrkdwn(toneIcons[m.Tone]+"*"+escape(cut(oneLine(m.Title), 200))+"*"), nil, nil))
	}
	// Text and fields get at most maxTextBlocks and maxFieldBlocks blocks,
	// so every message stays under Slack's 50 whatever its parts.
	text := chunks(escape(m.Text), maxText)
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
			v := escape(cut(f.Value, 300))
			if f.Code {
				v = code(cut(f.Value, 300))
			}
			if v == "" {
				v = "–"
			}
			fs = append(fs, mrkdwn("*"+escape(cut(oneLine(f.Label), 100))+"*\n"+v))
		}
		add(slack.NewSectionBlock(nil, fs, nil))
	}
	// Lines go several to a section, each section under the text limit.
	more := m.More
	var lines []string
	for _, l := range m.Lines {
		s := markIcons[l.Mark] + " " + escape(cut(oneLine(l.Text), 300))
		if l.Detail != "" {
			s += " — " + escape(cut(oneLine(l.Detail), 500))
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
		pre := strings.ReplaceAll(escape(m.Pre), "```", "ˋˋˋ")
		add(slack.NewSectionBlock(mrkdwn("```"+clip(pre, maxText-8)+"```"), nil, nil))
	}
	if m.Footer != "" {
		add(slack.NewContextBlock("", mrkdwn(clip(escape(m.Footer), maxText))))
	}
	if len(m.Buttons) > 0 {
		var els []slack.BlockElement
		for i, b := range m.Buttons[:min(len(m.Buttons), maxButtons)] {
			btn := slack.NewButtonBlockElement(fmt.Sprintf("countersign-%d", i), b.Value, plain(b.Label, maxButtonText))
			switch b.Style {
			case bot.StylePrimary:
				btn.Style = slack.StylePrimary
			case bot.StyleDanger:
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
	return rendered{Text: clip(escape(oneLine(fallback)), maxFallback), Blocks: blocks}
}

// oneLine folds line breaks and tabs into spaces, for titles and list
// lines where a newline in user input could fake another line.
func oneLine(s string) string {
	if !strings.ContainsAny(s, "\n\r\t") {
		return s
	}
	return strings.Join(strings.Fields(s), " ")
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
func view(d bot.Dialog, metadata string) slack.ModalViewRequest {
	input := slack.NewPlainTextInputBlockElement(plain(d.Hint, 150), "value")
	input.Multiline = true
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
