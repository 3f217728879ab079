package bot_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"regexp"
	"strings"
	"testing"
	"time"

	"golang.org/x/time/rate"

	"github.com/countersign/countersign/approvals"
	"github.com/countersign/countersign/bot"
	"github.com/countersign/countersign/bot/chat"
	"github.com/countersign/countersign/bot/discord"
	"github.com/countersign/countersign/bot/discord/discordtest"
	slackbot "github.com/countersign/countersign/bot/slack"
	"github.com/countersign/countersign/bot/slack/slacktest"
	"github.com/countersign/countersign/internal/digest"
	"github.com/countersign/countersign/internal/safetext"
)

// hostileParts are pieces of text an attacker controls (a mail subject, a
// display name, a provider's error message, a reason): markup, mentions,
// links, bidi, zero-width and control characters of both platforms, and
// ordinary text around them.
var hostileParts = []string{
	// Slack mrkdwn and Discord markdown
	"*", "_", "~", "`", "```", "**", "__", "~~", "||", "|", "\\", "# ", "## ", "-# ", "> ", ">>> ", "- ", "* ", "1. ", "12.",
	"*APPROVED BY CISO*", "~do not deny~", "_urgent_", ":white_check_mark:", ":x:", "[click](https://evil.example/a_b)",
	// mentions, channels, dates, emoji
	"<!channel>", "<!here>", "<!everyone>", "<@U02BOB>", "<!subteam^S0LEADS|@leads>", "<#C0SOC|soc>", "<!date^1392734382^{date}|x>",
	"@everyone", "@here", "<@123456>", "<@&456>", "<#789>", "<t:1700000000:R>", "<:emoji:123>", "</disable:1>",
	// links and entities
	"<https://evil.example|click>", "https://evil.example/login", "<https://evil.example>", "www.evil.example", "&lt;!channel&gt;", "&amp;", "&",
	// bidi controls
	"\u202e", "\u202d", "\u202a", "\u202b", "\u202c", "\u2066", "\u2067", "\u2068", "\u2069", "\u200e", "\u200f", "\u061c",
	// zero-width and other invisible characters
	"\u200b", "\u200c", "\u200d", "\u2060", "\ufeff", "\u00ad", "\U000E0041", "\u3164", "\ufe0f", "\u180e", "\ufff9",
	// control characters, line breaks, invalid UTF-8
	"\n", "\r\n", "\t", "\x1b[31m", "\x00", "\u0085", "\u2028", "\xff",
	// text
	"a", "APPROVED", "mallory_doe@contoso.com", " ", "é", "日本", "🔥", "7", "x.y", "exe.txt",
}

func hostile(rng *rand.Rand) string {
	var b strings.Builder
	for range rng.IntN(12) {
		b.WriteString(hostileParts[rng.IntN(len(hostileParts))])
	}
	return b.String()
}

func hostileList(rng *rand.Rand, n int) []string {
	out := make([]string, 1+rng.IntN(n))
	for i := range out {
		out[i] = hostile(rng)
	}
	return out
}

func actor(rng *rand.Rand) approvals.Actor {
	return approvals.Actor{Person: hostile(rng), Platform: "slack", Account: "U1", Name: hostile(rng)}
}

// randomRequest is a request whose every user- and provider-supplied
// string is hostile, in a random state, with its items.
func randomRequest(rng *rand.Rand, id int64, now time.Time) (approvals.Request, []approvals.Item) {
	actions := approvals.Actions()
	states := append(approvals.States(), approvals.State(hostile(rng)))
	r := approvals.Request{
		ID: id, Hash: "3f9a1c0d5e",
		Spec: approvals.Spec{Action: actions[rng.IntN(len(actions))], Provider: []string{"tmcas", "graph", hostile(rng)}[rng.IntN(3)],
			Targets: hostileList(rng, 3), Reason: hostile(rng), Mail: &approvals.MailOptions{Action: hostile(rng)}},
		Requester: actor(rng), State: states[rng.IntN(len(states))], ApprovalsRequired: 2, Approvers: hostileList(rng, 4),
		Approvals: []approvals.Decision{{Actor: actor(rng), At: now}},
		CreatedAt: now.Add(-time.Hour), ExpiresAt: now.Add(time.Hour), ApprovedAt: now.Add(-30 * time.Minute), FinishedAt: now,
		Note: hostile(rng),
	}
	switch rng.IntN(3) {
	case 0:
		r.Denial = &approvals.Decision{Actor: actor(rng), At: now, Reason: hostile(rng)}
	case 1:
		r.Cancel = &approvals.Decision{Actor: actor(rng), At: now, Reason: hostile(rng)}
	}
	statuses := []approvals.ItemStatus{approvals.ItemPending, approvals.ItemSubmitted, approvals.ItemRunning,
		approvals.ItemSucceeded, approvals.ItemFailed, approvals.ItemSkipped}
	items := make([]approvals.Item, 1+rng.IntN(6))
	for i := range items {
		items[i] = approvals.Item{Key: hostile(rng), Target: hostile(rng), Display: hostile(rng), Before: hostile(rng),
			Status: statuses[rng.IntN(len(statuses))], Detail: hostile(rng), Ref: hostile(rng)}
	}
	return r, items
}

// randomDigest is a digest whose every string from requests is hostile.
func randomDigest(rng *rand.Rand, now time.Time) digest.Digest {
	counts := func() []digest.Count {
		var out []digest.Count
		for range 1 + rng.IntN(3) {
			out = append(out, digest.Count{Key: hostile(rng), Count: 1 + rng.IntN(9)})
		}
		return out
	}
	entries := func(state approvals.State) []digest.Entry {
		var out []digest.Entry
		for range rng.IntN(3) {
			out = append(out, digest.Entry{ID: rng.Int64N(1000), Action: approvals.Action(hostile(rng)), Provider: hostile(rng),
				Targets: hostileList(rng, 3), NTargets: 5, Requester: hostile(rng), State: state, At: now,
				Age: time.Hour, By: hostile(rng), Reason: hostile(rng), Waiting: hostileList(rng, 3)})
		}
		return out
	}
	return digest.Digest{
		From: now.Add(-24 * time.Hour), To: now, Location: "UTC", Total: 9, Filed: 7,
		ByAction: counts(), ByProvider: counts(), ByOutcome: counts(), TopRequesters: counts(), TopApprovers: counts(),
		Problems: entries(approvals.StateFailed), Pending: entries(approvals.StatePending), Denied: entries(approvals.StateDenied),
		Expired: entries(approvals.StateExpired), Cancelled: entries(approvals.StateCancelled),
		ToApproval: digest.Timing{Median: time.Minute, Of: 3}, ToCompletion: digest.Timing{Median: time.Hour, Of: 2},
		Days: []digest.Day{{Date: "2026-11-22", Filed: 3}, {Date: hostile(rng), Filed: 4}},
	}
}

// seen is the Slack adapter's replay store, which posting never uses.
type seen struct{}

func (seen) FirstSeen(context.Context, string, time.Duration, time.Time) (bool, error) {
	return true, nil
}

// platforms posts messages through both real adapters to their fakes and
// returns the payloads as the platforms received them.
type platforms struct {
	slackFake   *slacktest.Server
	slack       *slackbot.Adapter
	discordFake *discordtest.Server
	discord     *discord.Adapter
}

func newPlatforms(t *testing.T) *platforms {
	t.Helper()
	p := &platforms{slackFake: slacktest.New(slacktest.Limits{})}
	t.Cleanup(p.slackFake.Close)
	var err error
	p.slack, err = slackbot.New(slackbot.Config{BotToken: slacktest.BotToken, SigningSecret: "secret", APIURL: p.slackFake.APIURL(),
		Seen: seen{}, Limits: slackbot.Limits{PostPerChannel: rate.Inf, PostBurst: 1}})
	if err != nil {
		t.Fatal(err)
	}
	p.discordFake = discordtest.New(t, discordtest.Options{Token: "bot-token", AppID: "1", GuildID: "2", Channels: []string{"3"}})
	p.discord, err = discord.New(discord.Config{BotToken: "bot-token", ApplicationID: "1", GuildID: "2", ApproverRoles: []string{"4"},
		APIURL: p.discordFake.APIURL()})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestRenderedPayloadsAreInert posts cards, progress messages, summaries
// and digests whose every user- and provider-supplied string is hostile
// through the Slack and Discord adapters, and checks what each platform
// received: no formatting, mention, link, bidi, zero-width or control
// character of the input is live in it (issue 15).
func TestRenderedPayloadsAreInert(t *testing.T) {
	ctx := context.Background()
	p := newPlatforms(t)
	now := time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)
	rng := rand.New(rand.NewPCG(15, 5))
	// Each kind of problem is reported once, with its first example.
	found := map[string]bool{}
	report := func(platform, kind string, i int, where, problem string) {
		if !found[platform+problem] {
			found[platform+problem] = true
			t.Errorf("%s %d on %s: %s in %q", kind, i, platform, problem, where)
		}
	}
	for i := range 150 {
		r, items := randomRequest(rng, int64(i+1), now)
		for _, m := range []struct {
			kind string
			msg  chat.Message
		}{
			{"card", bot.RenderCard(r, items, now)},
			{"progress", bot.RenderProgress(r, items)},
			{"summary", bot.RenderSummary(r, items)},
			{"digest", randomDigest(rng, now).Message()},
		} {
			h, err := p.slack.Post(ctx, "C0SOC", m.msg)
			if err != nil {
				t.Fatalf("%s %d: Slack post: %v", m.kind, i, err)
			}
			sm, ok := p.slackFake.Message(h.Channel, h.ID)
			if !ok {
				t.Fatalf("%s %d: Slack has no message %s", m.kind, i, h.ID)
			}
			for _, l := range slackLive(t, sm) {
				report("Slack", m.kind, i, l.where, l.problem)
			}
			h, err = p.discord.Post(ctx, "3", m.msg)
			if err != nil {
				t.Fatalf("%s %d: Discord post: %v", m.kind, i, err)
			}
			dm, ok := p.discordFake.Message(h.ID)
			if !ok {
				t.Fatalf("%s %d: Discord has no message %s", m.kind, i, h.ID)
			}
			for _, l := range discordLive(dm) {
				report("Discord", m.kind, i, l.where, l.problem)
			}
		}
	}
}

// invisibleIn returns what in s safetext would remove or replace: a
// control, bidi, zero-width or other invisible character. The warning
// sign icon's variation selector is the adapters' own.
func invisibleIn(s string) string {
	for _, r := range strings.ReplaceAll(s, "⚠\ufe0f", "⚠") {
		if r != '\n' && safetext.Clean(string(r)) != string(r) {
			return fmt.Sprintf("the invisible or control character %U", r)
		}
	}
	return ""
}

var (
	slackEntity     = regexp.MustCompile(`&(amp|lt|gt);`)
	slackCode       = regexp.MustCompile("```[^`]*```|`[^`\n]*`")
	slackBold       = regexp.MustCompile(`\*([^*\n]*)\*`)
	slackUnderscore = regexp.MustCompile(`(?m)(^|[^A-Za-z0-9])_|_([^A-Za-z0-9]|$)`)
	// Emoji names have a character other than a digit, but for :100: and
	// :1234:; 09:00:00 is a time.
	slackShortcode = regexp.MustCompile(`:([0-9]*[A-Za-z_+'-][A-Za-z0-9_+'-]*|100|1234):`)
	slackQuote     = regexp.MustCompile(`(?m)^\s*&gt;`)
)

// live is a string of a payload in which a platform would read the input
// as markup, and what it would read.
type live struct{ where, problem string }

// slackLive returns the text objects of m in which Slack would read the
// input as markup.
func slackLive(t *testing.T, m slacktest.Message) []live {
	t.Helper()
	var doc any
	if err := json.Unmarshal(m.Blocks, &doc); err != nil {
		t.Fatal(err)
	}
	type object struct {
		text   string
		mrkdwn bool
	}
	objects := []object{{text: m.Text}}
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case []any:
			for _, e := range v {
				walk(e)
			}
		case map[string]any:
			if text, ok := v["text"].(string); ok {
				if v["type"] == "mrkdwn" && v["verbatim"] != true {
					// Without verbatim Slack links bare URLs and #channels.
					objects = append(objects, object{text: "not verbatim: " + text})
				}
				objects = append(objects, object{text: text, mrkdwn: v["type"] == "mrkdwn"})
			}
			for _, e := range v {
				walk(e)
			}
		}
	}
	walk(doc)
	var out []live
	for _, o := range objects {
		if p := slackTextLive(o.text, o.mrkdwn); p != "" {
			out = append(out, live{o.text, p})
		}
	}
	return out
}

// slackTextLive says what Slack would read as markup in one text object
// besides the adapter's own: *bold* titles and labels, `code` and
// ```preformatted``` text.
func slackTextLive(s string, mrkdwn bool) string {
	if strings.HasPrefix(s, "not verbatim: ") {
		return "a mrkdwn object without verbatim"
	}
	if strings.ContainsAny(s, "<>") {
		return "a < or >, which starts a mention, channel, date or link"
	}
	if strings.Count(s, "&") != len(slackEntity.FindAllString(s, -1)) {
		return "an & that is not an escape"
	}
	if p := invisibleIn(s); p != "" {
		return p
	}
	if mrkdwn {
		s = slackCode.ReplaceAllString(s, "")
		s = slackBold.ReplaceAllString(s, "$1")
	}
	switch {
	case strings.ContainsAny(s, "*~`"):
		return "bold, strikethrough or code"
	case slackUnderscore.MatchString(s):
		return "an _ at a word's edge, which starts italics"
	case slackShortcode.MatchString(s):
		return "an emoji shortcode"
	case slackQuote.MatchString(s):
		return "a > at the start of a line, which quotes"
	}
	return ""
}

// discordSyntax are the characters Discord reads as markdown, mentions,
// links, timestamps or emoji.
const discordSyntax = "\\*_~`|>#-[]()@<:"

var discordList = regexp.MustCompile(`(?m)^ *[0-9]+\.`)

// discordLive returns the strings of m in which Discord would read the
// input as markup.
func discordLive(m *discordtest.Message) []live {
	if m.AllowedMentions == nil || m.AllowedMentions.Parse == nil || len(*m.AllowedMentions.Parse) != 0 {
		return []live{{fmt.Sprint(m.AllowedMentions), "allowed_mentions that lets mentions ping"}}
	}
	if len(m.Embeds) != 1 || m.Content != "" {
		return []live{{m.Content, "text outside the one embed"}}
	}
	e := m.Embeds[0]
	markdown := []string{e.Title}
	var plain, code []string
	desc := e.Description
	if i, j := strings.Index(desc, "```\n"), strings.LastIndex(desc, "\n```"); i >= 0 && j > i {
		code = append(code, desc[i+4:j])
		desc = desc[:i] + desc[j+4:]
	}
	markdown = append(markdown, desc)
	for _, f := range e.Fields {
		if f.Name != "\u200b" { // the adapter's stand-in for an empty label
			markdown = append(markdown, f.Name)
		}
		if v := f.Value; len(v) > 1 && v[0] == '`' && v[len(v)-1] == '`' {
			code = append(code, v[1:len(v)-1])
		} else {
			markdown = append(markdown, v)
		}
	}
	if e.Footer != nil {
		plain = append(plain, e.Footer.Text)
	}
	var labels func(cs []discordtest.Component)
	labels = func(cs []discordtest.Component) {
		for _, c := range cs {
			plain = append(plain, c.Label)
			labels(c.Components)
		}
	}
	labels(m.Components)
	var out []live
	for _, s := range markdown {
		if p := discordMarkdownLive(s); p != "" {
			out = append(out, live{s, p})
		}
	}
	for _, s := range plain {
		if p := discordPlainLive(s, "@<"); p != "" {
			out = append(out, live{s, p})
		}
	}
	for _, s := range code {
		if p := discordPlainLive(s, "@<`"); p != "" {
			out = append(out, live{s, p})
		}
	}
	return out
}

// discordMarkdownLive says what Discord would read as markup in s, shown
// with markdown: every syntax character must be escaped, and no line may
// start an ordered list.
func discordMarkdownLive(s string) string {
	if discordList.MatchString(s) {
		return "a number at the start of a line, which starts a list"
	}
	rs := []rune(s)
	for i := 0; i < len(rs); i++ {
		switch {
		case rs[i] == '\\':
			if i+1 == len(rs) || !strings.ContainsRune(discordSyntax+".", rs[i+1]) {
				return "a backslash that escapes nothing"
			}
			i++
		case strings.ContainsRune(discordSyntax, rs[i]):
			return fmt.Sprintf("an unescaped %q", rs[i])
		}
	}
	return invisibleIn(s)
}

// discordPlainLive says what a Discord client could read as a mention in
// s, shown without markdown or in code: each of breaks must be followed by
// the adapter's zero-width space, and no other invisible character is
// allowed.
func discordPlainLive(s, breaks string) string {
	rs := []rune(s)
	var rest strings.Builder
	for i := 0; i < len(rs); i++ {
		rest.WriteRune(rs[i])
		if strings.ContainsRune(breaks, rs[i]) {
			if i+1 == len(rs) || rs[i+1] != '\u200b' {
				return fmt.Sprintf("a %q not broken by a zero-width space", rs[i])
			}
			i++
		}
	}
	return invisibleIn(rest.String())
}
