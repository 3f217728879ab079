package commands

import (
	"fmt"
	"net/netip"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/countersign/countersign/approvals"
)

// Parse parses one slash command. command is the command's name as the
// platform reported it ("disable", "/purge-mail", or "countersign" for the
// umbrella form, where the first word of text names the command); text is
// everything after it. Errors are *Error, fit to show to the person who
// typed the command.
func Parse(command, text string) (Command, error) {
	if utf8.RuneCountInString(text) > MaxInput {
		return Command{}, &Error{Msg: fmt.Sprintf("the command is too long (more than %d characters)", MaxInput),
			Hint: "split the targets over several requests"}
	}
	if !utf8.ValidString(text) {
		return Command{}, &Error{Msg: "the command is not valid UTF-8 text"}
	}
	toks, err := tokenize(unescapeSlack(text))
	if err != nil {
		return Command{}, err
	}
	name := strings.ToLower(strings.TrimPrefix(strings.TrimSpace(command), "/"))
	if name == string(Root) {
		if len(toks) == 0 {
			return Command{Name: Help}, nil
		}
		name, toks = strings.ToLower(strings.TrimPrefix(toks[0], "/")), toks[1:]
	}
	return parseTokens(name, toks, false)
}

// parseTokens parses the tokens of command name. inner is set for the
// command line of explain, which must be an action.
func parseTokens(name string, toks []string, inner bool) (Command, error) {
	def, ok := Lookup(name)
	if !ok {
		e := &Error{Msg: fmt.Sprintf("unknown command %q", clip(name, 40))}
		if s := suggest(name, names()); s != "" {
			e.Hint = "did you mean /" + s + "?"
		} else {
			e.Hint = "type /countersign help for the list of commands"
		}
		return Command{}, e
	}
	if inner && !def.IsAction() {
		return Command{}, &Error{Msg: fmt.Sprintf("explain shows what an action would do; /%s is not an action", def.Name),
			Hint: "try /countersign explain disable mallory@contoso.com"}
	}
	switch def.Arg.Kind {
	case ArgCommand:
		if len(toks) == 0 {
			return Command{}, missing(def)
		}
		in, err := parseTokens(strings.ToLower(strings.TrimPrefix(toks[0], "/")), toks[1:], true)
		if err != nil {
			return Command{}, err
		}
		return Command{Name: Explain, Spec: in.Spec}, nil
	}
	args, flags, err := splitFlags(def, toks)
	if err != nil {
		return Command{}, err
	}
	cmd := Command{Name: def.Name}
	if !def.IsAction() {
		return parseMeta(def, cmd, args)
	}
	return parseAction(def, cmd, args, flags)
}

// flagValues holds the flags given, by name.
type flagValues map[string][]string

func (f flagValues) one(name string) string {
	if v := f[name]; len(v) > 0 {
		return v[0]
	}
	return ""
}

// splitFlags separates flags from positional arguments and checks every
// flag against def.
func splitFlags(def Def, toks []string) ([]string, flagValues, error) {
	var args []string
	flags := flagValues{}
	for i := 0; i < len(toks); i++ {
		tok := toks[i]
		body, isFlag := flagBody(tok)
		if !isFlag {
			args = append(args, tok)
			continue
		}
		name, value, hasValue := strings.Cut(body, "=")
		name = strings.ToLower(name)
		f, ok := def.Flag(name)
		if !ok {
			return nil, nil, unknownFlag(def, name)
		}
		if _, seen := flags[name]; seen && !f.Repeat {
			return nil, nil, &Error{Msg: fmt.Sprintf("--%s is given twice", name), Hint: "give it once"}
		}
		if f.Kind == FlagBool {
			if hasValue {
				return nil, nil, &Error{Msg: fmt.Sprintf("--%s takes no value", name), Hint: "write just --" + name}
			}
			flags[name] = append(flags[name], "true")
			continue
		}
		if !hasValue {
			if i+1 >= len(toks) {
				return nil, nil, &Error{Msg: fmt.Sprintf("--%s needs a value", name), Hint: flagHint(f)}
			}
			if _, next := flagBody(toks[i+1]); next {
				return nil, nil, &Error{Msg: fmt.Sprintf("--%s needs a value", name), Hint: flagHint(f)}
			}
			i++
			value = toks[i]
		}
		if f.Kind == FlagEnum {
			value = strings.ToLower(value)
			if !slices.Contains(f.Choices, value) {
				e := &Error{Msg: fmt.Sprintf("--%s %q is not one of %s", name, clip(value, 40), strings.Join(f.Choices, ", "))}
				if s := suggest(value, f.Choices); s != "" {
					e.Hint = "did you mean --" + name + " " + s + "?"
				}
				return nil, nil, e
			}
		}
		flags[name] = append(flags[name], value)
	}
	return args, flags, nil
}

// flagBody reports whether tok is a flag and returns it without its dashes.
// Phones turn "--" into an en or em dash, so those count too.
func flagBody(tok string) (string, bool) {
	for _, p := range []string{"--", "—", "–"} {
		if rest, ok := strings.CutPrefix(tok, p); ok && rest != "" && rest[0] != '-' {
			return rest, true
		}
	}
	return "", false
}

func flagHint(f Flag) string {
	switch f.Kind {
	case FlagEnum:
		return "one of " + strings.Join(f.Choices, ", ")
	case FlagUser:
		return "an e-mail address"
	}
	if f.Name == "reason" {
		return `quote it: --reason "phishing, INC-4711"`
	}
	return ""
}

func unknownFlag(def Def, name string) error {
	e := &Error{Msg: fmt.Sprintf("/%s has no flag --%s", def.Name, clip(name, 40))}
	var all []string
	for _, f := range def.Flags {
		all = append(all, f.Name)
	}
	if s := suggest(name, all); s != "" {
		e.Hint = "did you mean --" + s + "?"
	} else {
		e.Hint = "see /countersign help " + string(def.Name)
	}
	return e
}

func missing(def Def) error {
	return &Error{Msg: fmt.Sprintf("/%s needs %s", def.Name, article(def.Arg.Name)), Hint: "for example: " + def.Example}
}

func article(s string) string {
	if s != "" && strings.ContainsRune("aeio", rune(s[0])) {
		return "an " + s
	}
	return "a " + s
}

func parseMeta(def Def, cmd Command, args []string) (Command, error) {
	switch def.Arg.Kind {
	case ArgNone:
		if len(args) > 0 {
			return Command{}, &Error{Msg: fmt.Sprintf("/%s takes no arguments, got %q", def.Name, clip(args[0], 40))}
		}
	case ArgTopic:
		if len(args) > 1 {
			return Command{}, &Error{Msg: "help takes one command name", Hint: "for example: /countersign help disable"}
		}
		if len(args) == 1 {
			topic := strings.ToLower(strings.TrimPrefix(args[0], "/"))
			if _, err := helpDef(Name(topic)); err != nil {
				return Command{}, err
			}
			cmd.Topic = Name(topic)
		}
	case ArgRequestID:
		if len(args) == 0 {
			return Command{}, missing(def)
		}
		if len(args) > 1 {
			return Command{}, &Error{Msg: fmt.Sprintf("/%s takes one request number", def.Name)}
		}
		id, err := ParseRequestID(args[0])
		if err != nil {
			return Command{}, err
		}
		cmd.RequestID = id
	}
	return cmd, nil
}

// ParseRequestID parses a request number as shown on cards: "42" or "#42".
func ParseRequestID(s string) (int64, error) {
	id, err := strconv.ParseInt(strings.TrimPrefix(s, "#"), 10, 64)
	if err != nil || id <= 0 {
		return 0, &Error{Msg: fmt.Sprintf("%q is not a request number", clip(s, 40)), Hint: "use the number on the request's card, such as 42"}
	}
	return id, nil
}

func parseAction(def Def, cmd Command, args []string, flags flagValues) (Command, error) {
	spec := approvals.Spec{Action: def.Action, Provider: flags.one("provider")}
	cmd.DryRun = len(flags["dry-run"]) > 0
	if r, ok := flags["reason"]; ok {
		reason, err := checkReason(r[0])
		if err != nil {
			return Command{}, err
		}
		spec.Reason = reason
	}
	if len(args) == 0 {
		return Command{}, missing(def)
	}
	var err error
	switch def.Arg.Kind {
	case ArgUsers:
		spec.Targets, err = parseAddresses(args)
	case ArgMessageID:
		if len(args) > 1 {
			return Command{}, &Error{Msg: "/purge-mail takes one message id", Hint: "file one request per message"}
		}
		var id string
		id, err = parseMessageID(args[0], spec.Provider)
		spec.Targets = []string{id}
		if err == nil {
			spec.Mail, err = mailOptions(spec.Provider, flags)
		}
	case ArgIP:
		if len(args) > 1 {
			return Command{}, &Error{Msg: "/block-ip takes one address", Hint: "file one request per address"}
		}
		var ip string
		ip, err = parseIP(args[0])
		spec.Targets = []string{ip}
	}
	if err != nil {
		return Command{}, err
	}
	cmd.Spec = spec
	return cmd, nil
}

func checkReason(r string) (string, error) {
	r = strings.TrimSpace(r)
	if r == "" {
		return "", &Error{Msg: "--reason is empty", Hint: `quote it: --reason "phishing, INC-4711"`}
	}
	if n := utf8.RuneCountInString(r); n > MaxReason {
		return "", &Error{Msg: fmt.Sprintf("--reason is %d characters long; the limit is %d", n, MaxReason)}
	}
	if strings.IndexFunc(r, unicode.IsControl) >= 0 {
		return "", &Error{Msg: "--reason contains control characters"}
	}
	return r, nil
}

func mailOptions(provider string, flags flagValues) (*approvals.MailOptions, error) {
	m := &approvals.MailOptions{Action: flags.one("action"), Severity: flags.one("severity"), SendersCopy: len(flags["senders-copy"]) > 0}
	switch provider {
	case "graph":
		if m.Action != "" && !slices.Contains(graphMailActions, m.Action) {
			return nil, &Error{Msg: fmt.Sprintf("--action %s is not available on graph", m.Action), Hint: "graph offers " + strings.Join(graphMailActions, ", ")}
		}
	case "tmcas":
		if m.Action != "" && !slices.Contains(tmcasMailActions, m.Action) {
			return nil, &Error{Msg: fmt.Sprintf("--action %s is not available on tmcas", m.Action), Hint: "tmcas offers " + strings.Join(tmcasMailActions, ", ")}
		}
		if m.Severity != "" || m.SendersCopy {
			return nil, &Error{Msg: "--severity and --senders-copy are graph options", Hint: "drop them, or use --provider graph"}
		}
	}
	if r := flags["recipient"]; len(r) > 0 {
		rs, err := parseAddresses(r)
		if err != nil {
			return nil, err
		}
		m.Recipients = rs
	}
	return m, nil
}

// parseAddresses validates and normalises user addresses: Slack link markup
// removed, lower-cased, split at commas, de-duplicated in order.
func parseAddresses(args []string) ([]string, error) {
	var out []string
	for _, a := range args {
		for part := range strings.SplitSeq(a, ",") {
			if part == "" {
				continue
			}
			addr, err := parseAddress(part)
			if err != nil {
				return nil, err
			}
			if !slices.Contains(out, addr) {
				out = append(out, addr)
			}
			if len(out) > MaxTargets {
				return nil, &Error{Msg: fmt.Sprintf("more than %d targets", MaxTargets), Hint: "split them over several requests"}
			}
		}
	}
	if len(out) == 0 {
		return nil, &Error{Msg: "no user address given", Hint: "for example: /disable mallory@contoso.com"}
	}
	return out, nil
}

// addrRe is deliberately narrower than RFC 5322: the addresses directories
// hand out, without quoting, comments or IP literals.
var addrRe = regexp.MustCompile(`^[a-z0-9!#$%&'*+/=?^_{|}~-]+(\.[a-z0-9!#$%&'*+/=?^_{|}~-]+)*@([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)

func parseAddress(s string) (string, error) {
	s = strings.TrimSpace(s)
	if inner, ok := strings.CutPrefix(s, "<"); ok && strings.HasSuffix(inner, ">") {
		inner = strings.TrimSuffix(inner, ">")
		target, _, _ := strings.Cut(inner, "|")
		rest, isMail := strings.CutPrefix(strings.ToLower(target), "mailto:")
		if !isMail {
			return "", &Error{Msg: fmt.Sprintf("%q is a link, not an e-mail address", clip(s, 60)), Hint: "type the address itself"}
		}
		s = rest
	}
	addr := strings.ToLower(s)
	if len(addr) > MaxAddress {
		return "", &Error{Msg: fmt.Sprintf("%q… is longer than an e-mail address can be (%d characters)", clip(s, 40), MaxAddress)}
	}
	if !addrRe.MatchString(addr) {
		e := &Error{Msg: fmt.Sprintf("%q is not an e-mail address", clip(s, 60))}
		if !strings.Contains(addr, "@") {
			e.Hint = "give the full address, such as mallory@contoso.com"
		}
		return "", e
	}
	return addr, nil
}

var guidRe = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)

// parseMessageID accepts a Graph networkMessageId (a GUID) or an Internet
// Message-ID in angle brackets, as provider allows ("" allows both; the
// router then picks the provider).
func parseMessageID(s, provider string) (string, error) {
	if g := strings.ToLower(strings.Trim(s, "{}")); guidRe.MatchString(g) {
		if provider == "tmcas" {
			return "", &Error{Msg: "tmcas finds mail by its Internet Message-ID, not a Graph networkMessageId",
				Hint: "give the Message-ID header in angle brackets, such as <abc@mail.contoso.com>, or use --provider graph"}
		}
		return g, nil
	}
	if strings.HasPrefix(s, "<") && strings.HasSuffix(s, ">") {
		if provider == "graph" {
			return "", &Error{Msg: "graph finds mail by its networkMessageId (a GUID), not the Message-ID header",
				Hint: "copy the Network Message ID from the Defender portal, or use --provider tmcas"}
		}
		inner := s[1 : len(s)-1]
		local, domain, ok := strings.Cut(inner, "@")
		if !ok || local == "" || domain == "" || len(s) > MaxMsgID || strings.IndexFunc(inner, func(r rune) bool {
			return r <= ' ' || r > '~' || r == '<' || r == '>'
		}) >= 0 {
			return "", &Error{Msg: fmt.Sprintf("%q is not an Internet Message-ID", clip(s, 60)), Hint: "it looks like <local-part@domain>"}
		}
		return s, nil
	}
	return "", &Error{Msg: fmt.Sprintf("%q is not a message id", clip(s, 60)),
		Hint: "give the Graph networkMessageId (a GUID such as 6c2a1f3e-4b5d-4e6f-8a9b-0c1d2e3f4a5b) or, with --provider tmcas, the Message-ID <…@…>"}
}

func parseIP(s string) (string, error) {
	ip, err := netip.ParseAddr(s)
	if err != nil || ip.Zone() != "" {
		return "", &Error{Msg: fmt.Sprintf("%q is not an IP address", clip(s, 60)), Hint: "such as 203.0.113.7 or 2001:db8::7"}
	}
	ip = ip.Unmap()
	switch {
	case ip.IsLoopback(), ip.IsUnspecified():
		return "", &Error{Msg: fmt.Sprintf("%s is a loopback or unspecified address; blocking it would do nothing useful", ip)}
	case ip.IsMulticast(), ip.IsLinkLocalUnicast(), ip.IsLinkLocalMulticast(), ip.IsInterfaceLocalMulticast():
		return "", &Error{Msg: fmt.Sprintf("%s is a multicast or link-local address and cannot be blocked", ip)}
	}
	return ip.String(), nil
}

// unescapeSlack undoes the three HTML entities Slack escapes in command
// text. &amp; goes last, so "&amp;lt;" stays "&lt;".
func unescapeSlack(s string) string {
	if !strings.Contains(s, "&") {
		return s
	}
	return strings.NewReplacer("&lt;", "<", "&gt;", ">", "&amp;", "&").Replace(s)
}

// quotePairs maps opening quotes to closing ones, including the curly
// quotes phones and Slack substitute.
var quotePairs = map[rune]rune{'"': '"', '\'': '\'', '“': '”', '‘': '’', '„': '“', '«': '»'}

// tokenize splits s at white space, keeping quoted runs together. A quote
// opens only at the start of a token or after "=" (--reason="…").
func tokenize(s string) ([]string, error) {
	var (
		toks  []string
		cur   strings.Builder
		in    bool // inside a token
		close rune
	)
	for _, r := range s {
		switch {
		case close != 0:
			if r == close || (close == '”' && r == '"') {
				close = 0
				continue
			}
			cur.WriteRune(r)
		case unicode.IsSpace(r):
			if in {
				toks = append(toks, cur.String())
				cur.Reset()
				in = false
			}
		default:
			if c, ok := quotePairs[r]; ok && (!in || strings.HasSuffix(cur.String(), "=")) {
				close, in = c, true
				continue
			}
			cur.WriteRune(r)
			in = true
		}
	}
	if close != 0 {
		return nil, &Error{Msg: "a quote is not closed", Hint: `close it: --reason "phishing, INC-4711"`}
	}
	if in {
		toks = append(toks, cur.String())
	}
	return toks, nil
}

// suggest returns the candidate closest to s, if it is close enough to be
// a likely typo.
func suggest(s string, candidates []string) string {
	s = strings.ToLower(s)
	best, bestD := "", 3
	for _, c := range candidates {
		d := distance(s, c)
		if strings.HasPrefix(c, s) && len(s) >= 3 {
			d = min(d, 1)
		}
		if d < bestD || (d == bestD && best == "") {
			best, bestD = c, d
		}
	}
	if bestD > 2 || best == "" {
		return ""
	}
	return best
}

// distance is the Levenshtein distance of a and b.
func distance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	if len(ra) > 64 || len(rb) > 64 {
		return 64
	}
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(rb)]
}

// clip shortens user input quoted in an error.
func clip(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	return string([]rune(s)[:n]) + "…"
}
