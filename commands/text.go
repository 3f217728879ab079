package commands

import (
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// token is one word of a command line.
type token struct {
	raw    string // the word as typed, for messages
	flag   bool   // --name or --name=value; phones' "—name" counts too
	name   string // flag name, lower-cased, without dashes
	text   string // the positional word, or the flag's value after "="
	hasVal bool   // --name=value
	quoted bool   // text was quoted: never a flag, taken as it is
}

// closers maps an opening quote to the marks that may close it. Phones and
// Slack clients substitute curly quotes, and not always in matching pairs.
func closers(open rune) string {
	switch open {
	case '"', '“', '”', '„':
		return `"”“`
	case '\'', '‘', '’':
		return `'’`
	case '«':
		return "»"
	}
	return ""
}

// closer is the mark that properly closes open, for hints.
func closer(open rune) rune {
	switch open {
	case '“', '”':
		return '”'
	case '„':
		return '“'
	case '‘', '’':
		return '’'
	case '«':
		return '»'
	}
	return open
}

func isOpener(r rune) bool { return closers(r) != "" }

// flagStart returns the length in runes of the dashes of a flag at rs[i]:
// "--", or an en or em dash that a phone made of "--". 0 when none.
func flagStart(rs []rune, i int) int {
	switch {
	case i+1 < len(rs) && rs[i] == '-' && rs[i+1] == '-':
		return 2
	case i < len(rs) && (rs[i] == '—' || rs[i] == '–'):
		return 1
	}
	return 0
}

// tokenize splits a command line into words at white space. A quote opens
// only at the start of a word or of a flag's "=value", and closes only
// before white space or the end, so apostrophes inside words ("it's",
// "o'brien@x") are text. Slack link markup (<mailto:…|…>) is one piece
// even when its label has spaces.
func tokenize(s string) ([]token, error) {
	rs := []rune(s)
	var toks []token
	i := 0
	for {
		for i < len(rs) && unicode.IsSpace(rs[i]) {
			i++
		}
		if i == len(rs) {
			return toks, nil
		}
		start := i
		var t token
		if n := flagStart(rs, i); n > 0 {
			i += n
			j := i
			for i < len(rs) && !unicode.IsSpace(rs[i]) && rs[i] != '=' {
				i++
			}
			t.flag, t.name = true, strings.ToLower(string(rs[j:i]))
			if i < len(rs) && rs[i] == '=' {
				i++
				t.hasVal = true
				var err error
				if t.text, t.quoted, i, err = readWord(rs, i); err != nil {
					return nil, err
				}
			}
		} else {
			var err error
			if t.text, t.quoted, i, err = readWord(rs, i); err != nil {
				return nil, err
			}
		}
		t.raw = string(rs[start:i])
		toks = append(toks, t)
	}
}

// readWord reads one word starting at rs[i], quoted or not, and returns it
// with the index after it.
func readWord(rs []rune, i int) (string, bool, int, error) {
	var b strings.Builder
	if i < len(rs) && isOpener(rs[i]) {
		open, close := rs[i], closers(rs[i])
		start := i
		i++
		for i < len(rs) {
			if n := markupLen(rs, i); n > 0 {
				b.WriteString(string(rs[i : i+n]))
				i += n
				continue
			}
			if strings.ContainsRune(close, rs[i]) && (i+1 == len(rs) || unicode.IsSpace(rs[i+1])) {
				return b.String(), true, i + 1, nil
			}
			b.WriteRune(rs[i])
			i++
		}
		want := closer(open)
		return "", false, 0, &Error{
			Msg:  "the quote before " + show(clip(string(rs[start+1:]), 30)) + " is not closed",
			Hint: "end the quoted text with " + string(want) + " followed by a space, such as --reason " + string(open) + "phishing, INC-4711" + string(want),
		}
	}
	for i < len(rs) && !unicode.IsSpace(rs[i]) {
		if n := markupLen(rs, i); n > 0 {
			b.WriteString(string(rs[i : i+n]))
			i += n
			continue
		}
		b.WriteRune(rs[i])
		i++
	}
	return b.String(), false, i, nil
}

// markupLen returns the length in runes of the Slack or Discord markup
// starting at rs[i] (<mailto:a@x|a@x>, <https://…|label>, <@U123>,
// <#C123|general>, <!here>, <!subteam^S1|@team>), or 0 when there is none.
// An Internet Message-ID such as <abc@x> is not markup.
func markupLen(rs []rune, i int) int {
	if i >= len(rs) || rs[i] != '<' {
		return 0
	}
	end := -1
	for j := i + 1; j < len(rs); j++ {
		if rs[j] == '>' {
			end = j
			break
		}
		if rs[j] == '<' {
			return 0
		}
	}
	if end < 0 {
		return 0
	}
	body := string(rs[i+1 : end])
	target, _, _ := strings.Cut(body, "|")
	if target == "" || strings.IndexFunc(target, unicode.IsSpace) >= 0 {
		return 0
	}
	if _, ok := linkScheme(target); ok {
		return end - i + 1
	}
	if mentionID(target) {
		return end - i + 1
	}
	return 0
}

// linkScheme reports whether target is a link Slack wraps in markup.
func linkScheme(target string) (string, bool) {
	for _, s := range []string{"mailto:", "http://", "https://"} {
		if len(target) > len(s) && strings.EqualFold(target[:len(s)], s) {
			return s, true
		}
	}
	return "", false
}

// mentionID reports whether target is a mention: @U123, @!123, @&123
// (Discord), #C123, !here, !subteam^S123.
func mentionID(target string) bool {
	if len(target) < 2 || !strings.ContainsRune("@#!", rune(target[0])) {
		return false
	}
	for _, r := range target[1:] {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '^' || r == '&' || r == '!') {
			return false
		}
	}
	return true
}

// expanded is a word with markup replaced and entities decoded.
type expanded struct {
	text    string
	web     bool   // held a web link
	mention bool   // held a user, channel or group mention
	mailto  string // the address of mailto markup whose label differs from it
	label   string // that label
}

// expand replaces Slack markup in s by what it shows (a mailto link by its
// address, a web link by its label or URL, a mention by @name) and decodes
// the HTML entities Slack escapes (&amp; &lt; &gt;) plus &quot; and &#N;,
// which Quote writes.
func expand(s string) expanded {
	var x expanded
	var b strings.Builder
	rs := []rune(s)
	for i := 0; i < len(rs); {
		n := markupLen(rs, i)
		if n == 0 {
			j := i
			for j < len(rs) && markupLen(rs, j) == 0 {
				j++
			}
			b.WriteString(decodeEntities(string(rs[i:j])))
			i = j
			continue
		}
		target, label, hasLabel := strings.Cut(string(rs[i+1:i+n-1]), "|")
		target, label = decodeEntities(target), decodeEntities(label)
		i += n
		if scheme, ok := linkScheme(target); ok {
			if scheme == "mailto:" {
				addr := target[len(scheme):]
				if hasLabel && !strings.EqualFold(label, addr) && x.mailto == "" {
					x.mailto, x.label = addr, label
				}
				b.WriteString(addr)
				continue
			}
			x.web = true
			if hasLabel && label != "" {
				b.WriteString(label)
			} else {
				b.WriteString(target)
			}
			continue
		}
		x.mention = true
		switch {
		case hasLabel && label != "" && (label[0] == '@' || label[0] == '#'):
			b.WriteString(label)
		case hasLabel && label != "":
			b.WriteString(target[:1] + label)
		case target[0] == '!':
			b.WriteString("@" + target[1:])
		default:
			b.WriteString(target)
		}
	}
	x.text = b.String()
	return x
}

// entityAt returns the text of the entity at the start of s and its length,
// or 0 when s does not start with one.
func entityAt(s string) (string, int) {
	if !strings.HasPrefix(s, "&") {
		return "", 0
	}
	for _, e := range [][2]string{{"&amp;", "&"}, {"&lt;", "<"}, {"&gt;", ">"}, {"&quot;", `"`}} {
		if strings.HasPrefix(s, e[0]) {
			return e[1], len(e[0])
		}
	}
	if !strings.HasPrefix(s, "&#") {
		return "", 0
	}
	end := strings.IndexByte(s, ';')
	if end < 3 || end > 9 {
		return "", 0
	}
	digits := s[2:end]
	for _, c := range digits {
		if c < '0' || c > '9' {
			return "", 0
		}
	}
	n, err := strconv.Atoi(digits)
	if err != nil || !utf8.ValidRune(rune(n)) {
		return "", 0
	}
	return string(rune(n)), end + 1
}

// decodeEntities decodes entities in one pass, so "&amp;lt;" is "&lt;".
func decodeEntities(s string) string {
	if !strings.Contains(s, "&") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		if t, n := entityAt(s[i:]); n > 0 {
			b.WriteString(t)
			i += n
			continue
		}
		b.WriteByte(s[i])
		i++
	}
	return b.String()
}

// Quote returns s written as one word that Parse reads back as s: as it is
// when that is safe, else in double quotes, with the few characters that
// would be misread written as entities. Adapters that build a command line
// from typed options (Discord) quote each value with it.
func Quote(s string) string {
	rs := []rune(s)
	quote := len(rs) == 0 || isOpener(rs[0]) || flagStart(rs, 0) > 0 || rs[0] == '-' ||
		strings.IndexFunc(s, unicode.IsSpace) >= 0
	var b strings.Builder
	if quote {
		b.WriteByte('"')
	}
	for i, r := range rs {
		last := i+1 == len(rs) || unicode.IsSpace(rs[i+1])
		switch {
		case r == '&':
			if _, n := entityAt(string(rs[i:])); n > 0 {
				b.WriteString("&amp;")
				continue
			}
		case r == '<' && markupLen(rs, i) > 0:
			b.WriteString("&lt;")
			continue
		case quote && last && strings.ContainsRune(closers('"'), r):
			b.WriteString("&#" + strconv.Itoa(int(r)) + ";")
			continue
		}
		b.WriteRune(r)
	}
	if quote {
		b.WriteByte('"')
	}
	return b.String()
}

// firstWord splits s into its first white-space separated word and the
// rest, leading space removed.
func firstWord(s string) (string, string) {
	s = strings.TrimLeftFunc(s, unicode.IsSpace)
	i := strings.IndexFunc(s, unicode.IsSpace)
	if i < 0 {
		return s, ""
	}
	return s[:i], strings.TrimLeftFunc(s[i:], unicode.IsSpace)
}

// normName is a command name as typed, without its slash, lower-cased.
func normName(s string) string {
	return strings.ToLower(strings.TrimPrefix(strings.TrimSpace(s), "/"))
}

// clip shortens user input quoted in a message to n characters.
func clip(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	return string([]rune(s)[:n]) + "…"
}

// show quotes user input for a message: clipped, with invisible and
// control characters written as escapes.
func show(s string) string { return strconv.Quote(clip(s, 60)) }
