package slackbot

import (
	"encoding/json"
	"math/rand/v2"
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/countersign/countersign/bot/chat"
	"github.com/countersign/countersign/internal/safetext"
)

// entity matches the only escape sequences the renderer writes.
var entity = regexp.MustCompile(`&(amp|lt|gt);`)

// texts appends every string value in a JSON document to out.
func texts(v any, out *[]string) {
	switch v := v.(type) {
	case string:
		*out = append(*out, v)
	case []any:
		for _, e := range v {
			texts(e, out)
		}
	case map[string]any:
		for k, e := range v {
			if k == "value" || k == "action_id" || k == "block_id" || k == "type" || k == "style" {
				continue // not shown, or the adapter's own
			}
			texts(e, out)
		}
	}
}

// shown returns every string of r a person can see: the fallback text and
// the strings of its blocks as Slack receives them.
func shown(t *testing.T, r rendered) []string {
	t.Helper()
	raw, err := json.Marshal(r.Blocks)
	if err != nil {
		t.Fatal(err)
	}
	var doc any
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	all := []string{r.Text}
	texts(doc, &all)
	return all
}

// checkSafe fails when rendered Slack text could contain control syntax:
// any < or >, or an & that is not one of the renderer's escapes.
func checkSafe(t *testing.T, r rendered) {
	t.Helper()
	for _, s := range shown(t, r) {
		if strings.ContainsAny(s, "<>") {
			t.Fatalf("unescaped < or > in rendered text %q", s)
		}
		if strings.Count(s, "&") != len(entity.FindAllString(s, -1)) {
			t.Fatalf("bare & in rendered text %q", s)
		}
		if !utf8.ValidString(s) {
			t.Fatalf("invalid UTF-8 in %q", s)
		}
		for line := range strings.SplitSeq(s, "\n") {
			if safetext.Clean(line) != line {
				t.Fatalf("control, bidi or invisible character in rendered text %q", s)
			}
		}
	}
	if len(r.Blocks) > maxBlocks {
		t.Fatalf("%d blocks, Slack allows %d", len(r.Blocks), maxBlocks)
	}
	if utf8.RuneCountInString(r.Text) > maxFallback {
		t.Fatalf("fallback text of %d characters", utf8.RuneCountInString(r.Text))
	}
}

func message(s string, n int) chat.Message {
	m := chat.Message{
		Title: s, Text: s + "\n" + s, Footer: s, Pre: s, More: n % 7,
		Fields:  []chat.Field{{Label: s, Value: s}, {Label: "hash", Value: s, Code: true}},
		Buttons: []chat.Button{{Label: s, Value: "approve:1:abc", Style: chat.StyleDanger, Confirm: &chat.Confirm{Title: s, Text: s, Confirm: s, Deny: s}}},
	}
	for i := 0; i < n%60; i++ {
		m.Lines = append(m.Lines, chat.Line{Mark: chat.MarkFailed, Text: s, Detail: s})
	}
	return m
}

func FuzzRender(f *testing.F) {
	for _, s := range []string{
		"<!channel>", "<!here|here>", "<@U02BOB>", "<#C0SOC|soc>", "<https://evil.example|click>",
		"&lt;!channel&gt;", "a & b", "```<!everyone>```", "`<@U1>`", "*bold* _it_ ~s~", "\u202e<@U1>",
		strings.Repeat("<&>", 300), strings.Repeat("é", 400),
	} {
		f.Add(s, 3)
	}
	f.Fuzz(func(t *testing.T, s string, n int) {
		if !utf8.ValidString(s) {
			s = strings.ToValidUTF8(s, "?")
		}
		if len(s) > 1000 {
			s = s[:1000] // longer inputs only repeat what the cuts already cover
		}
		if n < 0 {
			n = -n
		}
		checkSafe(t, render(message(s, n)))
	})
}

func TestRenderEscapesMentions(t *testing.T) {
	r := render(message("<!channel> <@U02BOB> & <https://x|y>", 3))
	checkSafe(t, r)
	raw, _ := json.Marshal(r.Blocks)
	if !strings.Contains(string(raw), `\u0026lt;!channel\u0026gt;`) {
		t.Fatalf("mention not shown escaped: %s", raw)
	}
}

func TestRenderKeepsLimitsForHugeMessages(t *testing.T) {
	m := message(strings.Repeat("x", 4000), 59)
	m.Text = strings.Repeat("<!channel> & more text\n", 20000)
	for i := 0; i < 500; i++ {
		m.Lines = append(m.Lines, chat.Line{Mark: chat.MarkOK, Text: strings.Repeat("y", 400), Detail: "done"})
	}
	for i := 0; i < 300; i++ {
		m.Fields = append(m.Fields, chat.Field{Label: "f", Value: strings.Repeat("v", 3000)})
	}
	r := render(m)
	checkSafe(t, r)
	raw, _ := json.Marshal(r.Blocks)
	if !strings.Contains(string(raw), "more") {
		t.Fatal("cut lines are not counted as more")
	}
	var blocks []struct {
		Text   *struct{ Text string }
		Fields []struct{ Text string }
	}
	if err := json.Unmarshal(raw, &blocks); err != nil {
		t.Fatal(err)
	}
	for _, b := range blocks {
		if b.Text != nil && utf8.RuneCountInString(b.Text.Text) > maxText {
			t.Fatalf("text object of %d characters", utf8.RuneCountInString(b.Text.Text))
		}
		if len(b.Fields) > maxFields {
			t.Fatalf("%d fields in one section", len(b.Fields))
		}
		for _, f := range b.Fields {
			if utf8.RuneCountInString(f.Text) > maxField {
				t.Fatalf("field of %d characters", utf8.RuneCountInString(f.Text))
			}
		}
	}
}

// TestRenderRandomInput renders 3,000 messages built from fragments of
// Slack control syntax, entities, markdown, newlines and non-ASCII text,
// as a fast companion to FuzzRender (whose coverage bookkeeping over
// slack-go allows only some dozens of inputs a second).
func TestRenderRandomInput(t *testing.T) {
	frags := []string{"<", ">", "&", "&amp;", "&lt;", "<!channel>", "<!here>", "<@U02BOB>", "<#C0SOC|soc>",
		"<https://evil.example|click>", "<!subteam^S0LEADS>", "<!date^1392734382^x|y>", "`", "```", "*", "_", "~",
		"\n", "\t", "é", "日本", "\u202e", "\u200b", "@everyone", "a", "mallory@contoso.com", " "}
	rng := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 3000; i++ {
		var b strings.Builder
		for j := rng.IntN(40); j > 0; j-- {
			b.WriteString(frags[rng.IntN(len(frags))])
		}
		checkSafe(t, render(message(b.String(), rng.IntN(60))))
	}
}

// TestRenderNeutralisesUserText reproduces issue 15: a reason's mrkdwn
// showed bold and strikethrough on the card, and bidi and zero-width
// characters in provider text reached Slack.
func TestRenderNeutralisesUserText(t *testing.T) {
	tests := []struct {
		name, in  string
		wantField string   // the Reason field as rendered
		banned    []string // must appear nowhere in the payload
	}{
		{"mrkdwn in a reason", "*APPROVED BY CISO* ~do not deny~", "*Reason*\n∗APPROVED BY CISO∗ ∼do not deny∼",
			[]string{"*APPROVED", "CISO*", "~do", "deny~"}},
		{"italic and code", "_urgent_ `rm -rf /`", "*Reason*\nˍurgentˍ ˋrm -rf /ˋ", []string{"_urgent", "`rm"}},
		{"emoji shortcode", ":white_check_mark: done", "*Reason*\n∶white_check_mark: done", []string{":white_check_mark:"}},
		{"quote at line start", "> approved by the CISO", "*Reason*\n˃ approved by the CISO", []string{"&gt; approved"}},
		{"bidi override in a display name", "Mallory \u202etxt.exe", "*Reason*\nMallory txt.exe", []string{"\u202e"}},
		{"zero-width and isolates", "pay\u200bpal \u2066x\u2069\u00ad", "*Reason*\npaypal x", []string{"\u200b", "\u2066", "\u2069", "\u00ad"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := chat.Message{Title: tt.in, Text: tt.in, Footer: tt.in, Fields: []chat.Field{{Label: "Reason", Value: tt.in}},
				Lines: []chat.Line{{Mark: chat.MarkOK, Text: tt.in, Detail: tt.in}}, Buttons: []chat.Button{{Label: tt.in, Value: "deny:1:abc"}}}
			r := render(m)
			for _, s := range shown(t, r) {
				for _, b := range tt.banned {
					if strings.Contains(s, b) {
						t.Errorf("rendered text %q contains %q", s, b)
					}
				}
			}
			raw, err := json.Marshal(r.Blocks)
			if err != nil {
				t.Fatal(err)
			}
			var blocks []struct {
				Fields []struct{ Text string }
			}
			if err := json.Unmarshal(raw, &blocks); err != nil {
				t.Fatal(err)
			}
			got := ""
			for _, b := range blocks {
				if len(b.Fields) > 0 {
					got = b.Fields[0].Text
				}
			}
			if got != tt.wantField {
				t.Errorf("field = %q, want %q", got, tt.wantField)
			}
		})
	}
}
