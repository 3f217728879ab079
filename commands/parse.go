package commands

import (
	"fmt"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/countersign/countersign/approvals"
)

// Parse parses one slash command. command is the command's name as the
// platform reported it ("disable", "/purge-mail", or "countersign" for the
// umbrella form, where the first word of text names the command); text is
// everything after it, as typed (Slack's link markup and HTML entities are
// understood). Errors are *Error, fit to show to the person who typed the
// command.
func Parse(command, text string) (Command, error) {
	if err := checkInput(text); err != nil {
		return Command{}, err
	}
	name := normName(command)
	if Name(name) == Root {
		word, rest := firstWord(text)
		if word == "" {
			return Command{Name: Help}, nil
		}
		name, text = normName(word), rest
	}
	if name == "" {
		return Command{}, &Error{Msg: "no command given", Hint: "type /countersign help for the list of commands"}
	}
	return parseCommand(name, text, false)
}

// ParseLine parses a whole command line as a person types it in the
// console, "/disable a@x --dry-run": the first word is the command.
func ParseLine(line string) (Command, error) {
	if !utf8.ValidString(line) {
		return Command{}, notUTF8()
	}
	command, text := firstWord(line)
	return Parse(command, text)
}

func notUTF8() error { return &Error{Msg: "the command is not valid UTF-8 text"} }

func checkInput(text string) error {
	if !utf8.ValidString(text) {
		return notUTF8()
	}
	if n := utf8.RuneCountInString(text); n > MaxInput {
		return &Error{Msg: fmt.Sprintf("the command is %d characters long; the limit is %d", n, MaxInput),
			Hint: "split the targets over several requests"}
	}
	return nil
}

// display is how messages name a command: actions by their own slash
// command, meta commands in the umbrella form.
func display(d Def) string {
	if d.IsAction() {
		return "/" + string(d.Name)
	}
	return "/countersign " + string(d.Name)
}

// parseCommand parses text as the arguments of command name. inner is set
// for the command line of explain, which must be an action.
func parseCommand(name, text string, inner bool) (Command, error) {
	d, ok := def(Name(name))
	if !ok {
		return Command{}, unknownCommand(name)
	}
	if inner && !d.IsAction() {
		return Command{}, &Error{Msg: fmt.Sprintf("explain shows what an action would do; %s is not an action", d.Name),
			Hint: "try /countersign explain disable mallory@contoso.com"}
	}
	if d.Arg.Kind == ArgCommand {
		return parseExplain(d, text)
	}
	toks, err := tokenize(text)
	if err != nil {
		return Command{}, err
	}
	args, flags, err := collect(d, toks)
	if err != nil {
		return Command{}, err
	}
	if err := countArgs(d, args); err != nil {
		return Command{}, err
	}
	if !d.IsAction() {
		return parseMeta(d, args)
	}
	return parseAction(d, args, flags)
}

func unknownCommand(name string) error {
	e := &Error{Msg: fmt.Sprintf("unknown command %s", show(name)), Hint: "type /countersign help for the list of commands"}
	if s := suggest(name, nameStrings()); len(s) > 0 {
		for i, n := range s {
			d, _ := def(Name(n))
			s[i] = display(d)
		}
		e.Hint = "did you mean " + orList(s) + "?"
	}
	return e
}

func nameStrings() []string {
	var out []string
	for _, n := range commandNames() {
		out = append(out, string(n))
	}
	return out
}

func parseExplain(d Def, text string) (Command, error) {
	word, rest := firstWord(text)
	if Name(normName(word)) == Root {
		word, rest = firstWord(rest)
	}
	if word == "" {
		return Command{}, missing(d)
	}
	in, err := parseCommand(normName(word), rest, true)
	if err != nil {
		return Command{}, err
	}
	return Command{Name: Explain, Spec: in.Spec, DryRun: in.DryRun}, nil
}

// arg is a positional argument as typed.
type arg struct {
	text        string
	afterReason bool // follows an unquoted --reason value: likely part of the reason
}

// collect separates flags from positional arguments and checks every flag
// against d: known, valid for d, given once unless repeatable, with a value
// when it takes one.
func collect(d Def, toks []token) ([]arg, map[string][]string, error) {
	var args []arg
	flags := map[string][]string{}
	looseReason := false
	for i := 0; i < len(toks); i++ {
		t := toks[i]
		if !t.flag {
			if err := dashTypo(d, t); err != nil {
				return nil, nil, err
			}
			args = append(args, arg{text: t.text, afterReason: looseReason})
			continue
		}
		looseReason = false
		f, ok := d.Flag(t.name)
		if !ok {
			return nil, nil, flagError(d, t)
		}
		if _, seen := flags[f.Name]; seen && !f.Repeat {
			return nil, nil, &Error{Msg: fmt.Sprintf("--%s is given twice", f.Name), Hint: "give it once"}
		}
		if f.Kind == FlagBool {
			if t.hasVal {
				return nil, nil, &Error{Msg: fmt.Sprintf("--%s takes no value", f.Name), Hint: "write just --" + f.Name}
			}
			flags[f.Name] = append(flags[f.Name], "")
			continue
		}
		value, quoted := t.text, t.quoted
		if !t.hasVal {
			if i+1 == len(toks) || toks[i+1].flag {
				return nil, nil, &Error{Msg: fmt.Sprintf("--%s needs a value", f.Name), Hint: flagHint(f)}
			}
			i++
			value, quoted = toks[i].text, toks[i].quoted
			looseReason = f.Name == "reason" && !quoted
		}
		if value == "" && !quoted {
			return nil, nil, &Error{Msg: fmt.Sprintf("--%s needs a value", f.Name), Hint: flagHint(f)}
		}
		flags[f.Name] = append(flags[f.Name], value)
	}
	return args, flags, nil
}

// dashTypo refuses "-reason": a flag with one dash.
func dashTypo(d Def, t token) error {
	if t.quoted || len(t.text) < 2 || t.text[0] != '-' || !unicode.IsLetter(rune(t.text[1])) {
		return nil
	}
	name := strings.ToLower(t.text[1:])
	if _, ok := d.Flag(name); ok {
		return &Error{Msg: fmt.Sprintf("%s has one dash", show(t.text)), Hint: "flags start with two: --" + name}
	}
	return nil
}

func flagHint(f Flag) string {
	switch f.Kind {
	case FlagEnum:
		return "one of " + strings.Join(f.Choices, ", ")
	case FlagUser:
		return "an e-mail address, such as --" + f.Name + " mallory@contoso.com"
	}
	if f.Name == "reason" {
		return reasonHint
	}
	return ""
}

// flagError explains a flag d does not have.
func flagError(d Def, t token) error {
	if t.name == "" {
		return &Error{Msg: fmt.Sprintf("%s is not a flag", show(t.raw)), Hint: "flags look like --reason"}
	}
	e := &Error{Msg: fmt.Sprintf("%s has no flag %s", display(d), flagName(t.name))}
	var own []string
	for _, f := range d.Flags {
		own = append(own, f.Name)
	}
	if s := suggest(t.name, own); len(s) > 0 {
		for i := range s {
			s[i] = "--" + s[i]
		}
		e.Hint = "did you mean " + orList(s) + "?"
		return e
	}
	var owners []string
	actions := 0
	for _, o := range Registry() {
		if o.IsAction() {
			actions++
		}
		if _, ok := o.Flag(t.name); ok {
			owners = append(owners, "/"+string(o.Name))
		}
	}
	switch {
	case len(owners) == actions:
		e.Hint = fmt.Sprintf("--%s is for the action commands, such as /disable", t.name)
	case len(owners) > 0:
		e.Hint = fmt.Sprintf("--%s is a flag of %s", t.name, strings.Join(owners, ", "))
	case len(own) == 0:
		e.Hint = fmt.Sprintf("%s takes no flags", display(d))
	default:
		e.Hint = "see /countersign help " + string(d.Name)
	}
	return e
}

// flagName shows a flag name as typed: quoted and escaped when it has
// anything but printable ASCII, which could look like a real flag.
func flagName(name string) string {
	for _, r := range name {
		if r <= ' ' || r > '~' {
			return show("--" + name)
		}
	}
	return "--" + clip(name, 40)
}

func missing(d Def) error {
	return &Error{Msg: fmt.Sprintf("%s needs %s", display(d), article(d.Arg.Name)), Hint: "for example: " + d.Example}
}

func article(s string) string {
	if s != "" && strings.ContainsRune("aeiou", rune(s[0])) && !strings.HasPrefix(s, "user") {
		return "an " + s
	}
	return "a " + s
}

// countArgs checks the number of positional arguments.
func countArgs(d Def, args []arg) error {
	switch {
	case d.Arg.Kind == ArgNone && len(args) > 0:
		return &Error{Msg: fmt.Sprintf("%s takes no arguments; %s is extra", display(d), show(args[0].text))}
	case d.Arg.Required && len(args) == 0:
		return missing(d)
	case !d.Arg.Repeat && len(args) > 1:
		e := &Error{Msg: fmt.Sprintf("%s takes one %s; %s is extra", display(d), d.Arg.Name, show(args[1].text))}
		switch d.Arg.Kind {
		case ArgMessageID:
			e.Hint = "file one request per message"
		case ArgIP:
			e.Hint = "file one request per address"
		}
		if args[1].afterReason {
			e.Hint = looseReasonHint
		}
		return e
	}
	return nil
}

const looseReasonHint = `if it is part of the reason, put the whole reason in quotes: --reason "…"`

func parseMeta(d Def, args []arg) (Command, error) {
	cmd := Command{Name: d.Name}
	switch d.Arg.Kind {
	case ArgTopic:
		if len(args) == 1 {
			topic, err := helpTopic(Name(normName(expand(args[0].text).text)))
			if err != nil {
				return Command{}, err
			}
			cmd.Topic = topic
		}
	case ArgRequestID:
		id, err := ParseRequestID(expand(args[0].text).text)
		if err != nil {
			return Command{}, err
		}
		cmd.RequestID = id
	}
	return cmd, nil
}

// helpTopic checks a help topic; Root and "" mean the overview.
func helpTopic(topic Name) (Name, error) {
	topic = Name(normName(string(topic)))
	if topic == "" || topic == Root {
		return "", nil
	}
	if _, ok := def(topic); ok {
		return topic, nil
	}
	e := &Error{Msg: fmt.Sprintf("there is no command %s", show(string(topic))), Hint: "type /countersign help for the list of commands"}
	if s := suggest(string(topic), nameStrings()); len(s) > 0 {
		e.Hint = "did you mean " + orList(s) + "?"
	}
	return "", e
}

func parseAction(d Def, args []arg, flags map[string][]string) (Command, error) {
	cmd := Command{Name: d.Name, DryRun: len(flags["dry-run"]) > 0}
	spec := approvals.Spec{Action: d.Action}
	if p, ok := flags["provider"]; ok {
		provider, err := checkProvider(d, p[0])
		if err != nil {
			return Command{}, err
		}
		spec.Provider = provider
	}
	var err error
	switch d.Arg.Kind {
	case ArgUsers:
		spec.Targets, err = parseAddresses(args, "")
	case ArgMessageID:
		var id, shape string
		if id, shape, err = parseMessageID(args[0].text, spec.Provider); err == nil {
			spec.Targets = []string{id}
			spec.Mail, err = mailOptions(d, spec.Provider, shape, flags)
		}
	case ArgIP:
		var ip string
		if ip, err = parseIP(args[0].text); err == nil {
			spec.Targets = []string{ip}
		}
	}
	if err != nil {
		return Command{}, err
	}
	if r, ok := flags["reason"]; ok {
		if spec.Reason, err = parseReason(r[0]); err != nil {
			return Command{}, err
		}
	}
	cmd.Spec = spec
	return cmd, nil
}

func checkProvider(d Def, value string) (string, error) {
	p := strings.ToLower(expand(value).text)
	if slices.Contains(d.Providers, p) {
		return p, nil
	}
	known := []string{ProviderTMCAS, ProviderGraph}
	if slices.Contains(known, p) {
		return "", &Error{Msg: fmt.Sprintf("%s is not available on %s", display(d), p),
			Hint: "leave out --provider, or use --provider " + strings.Join(d.Providers, " or --provider ")}
	}
	e := &Error{Msg: fmt.Sprintf("unknown provider %s", show(value)), Hint: "use --provider " + strings.Join(d.Providers, " or --provider ")}
	if s := suggest(p, known); len(s) > 0 {
		e.Hint = "did you mean --provider " + s[0] + "?"
	}
	return "", e
}

// parseAddresses validates user addresses given as several arguments, each
// possibly a list separated by commas or semicolons. It lower-cases them
// and removes duplicates, keeping the first of each in order. flag names
// the flag they were given with; "" for targets.
func parseAddresses(args []arg, flag string) ([]string, error) {
	what, example := "targets", "/disable mallory@contoso.com"
	if flag != "" {
		what, example = "--"+flag+" addresses", "--"+flag+" mallory@contoso.com"
	}
	var out []string
	for _, a := range args {
		text, err := userMarkup(a.text)
		if err != nil {
			return nil, err
		}
		for part := range strings.FieldsFuncSeq(text, func(r rune) bool { return r == ',' || r == ';' }) {
			addr, err := parseAddress(part)
			if err != nil {
				if e, ok := err.(*Error); ok && a.afterReason {
					e.Hint = looseReasonHint
				}
				return nil, err
			}
			if !slices.Contains(out, addr) {
				out = append(out, addr)
			}
			if len(out) > MaxTargets {
				return nil, &Error{Msg: fmt.Sprintf("more than %d %s", MaxTargets, what), Hint: "split them over several requests"}
			}
		}
	}
	if len(out) == 0 {
		return nil, &Error{Msg: "no user address given", Hint: "for example: " + example}
	}
	return out, nil
}

// mailOptions builds purge-mail's options. The flags are checked against
// the provider given, else the one the message id's shape belongs to. The
// action's default is filled in only when --provider is given: otherwise
// the router fills in the default of the provider it picks.
func mailOptions(d Def, provider, shape string, flags map[string][]string) (*approvals.MailOptions, error) {
	effective := provider
	if effective == "" {
		effective = shape
	}
	m := &approvals.MailOptions{SendersCopy: len(flags["senders-copy"]) > 0}
	action, _ := d.Flag("action")
	variant, _ := action.Variant(effective)
	if v, ok := flags["action"]; ok {
		a := strings.ToLower(expand(v[0]).text)
		if !slices.Contains(variant.Choices, a) {
			return nil, mailActionError(action, variant, provider, a, v[0])
		}
		m.Action = a
	} else if provider != "" {
		m.Action = variant.Default
	}
	if v, ok := flags["severity"]; ok {
		f, _ := d.Flag("severity")
		s := strings.ToLower(expand(v[0]).text)
		if !slices.Contains(f.Choices, s) {
			return nil, enumError(f, s, v[0])
		}
		m.Severity = s
	}
	for _, f := range d.Flags {
		if _, given := flags[f.Name]; given && len(f.Providers) > 0 && !slices.Contains(f.Providers, effective) {
			msg := fmt.Sprintf("--%s is a %s option; %s has none like it", f.Name, strings.Join(f.Providers, " and "), effective)
			if provider == "" {
				msg = fmt.Sprintf("--%s is a %s option, and this message id is for %s", f.Name, strings.Join(f.Providers, " and "), effective)
			}
			return nil, &Error{Msg: msg, Hint: "leave out --" + f.Name}
		}
	}
	if r := flags["recipient"]; len(r) > 0 {
		args := make([]arg, len(r))
		for i, v := range r {
			args[i] = arg{text: v}
		}
		rs, err := parseAddresses(args, "recipient")
		if err != nil {
			return nil, err
		}
		m.Recipients = rs
	}
	return m, nil
}

func mailActionError(f Flag, v Variant, provider, value, raw string) error {
	for _, other := range f.ByProvider {
		if other.Provider != v.Provider && slices.Contains(other.Choices, value) {
			msg := fmt.Sprintf("--action %s is not available on %s", value, v.Provider)
			if provider == "" {
				msg = fmt.Sprintf("--action %s is a %s action, but this message id is for %s", value, other.Provider, v.Provider)
			}
			return &Error{Msg: msg, Hint: v.Provider + " offers " + strings.Join(v.Choices, ", ")}
		}
	}
	f.Choices = v.Choices
	return enumError(f, value, raw)
}

func enumError(f Flag, value, raw string) error {
	e := &Error{Msg: fmt.Sprintf("--%s %s is not one of %s", f.Name, show(raw), strings.Join(f.Choices, ", "))}
	if s := suggest(value, f.Choices); len(s) > 0 {
		for i := range s {
			s[i] = "--" + f.Name + " " + s[i]
		}
		e.Hint = "did you mean " + orList(s) + "?"
	}
	return e
}
