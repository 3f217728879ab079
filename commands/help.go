package commands

import (
	"fmt"
	"strings"
)

// helpDef returns the command help is asked about, or an *Error with a hint.
func helpDef(topic Name) (Def, error) {
	d, ok := Lookup(string(topic))
	if !ok {
		e := &Error{Msg: fmt.Sprintf("there is no command %q", clip(string(topic), 40))}
		if s := suggest(string(topic), names()); s != "" {
			e.Hint = "did you mean " + s + "?"
		}
		return Def{}, e
	}
	return d, nil
}

// HelpText returns plain-text help: the overview when topic is empty, else the
// usage, argument, flags and an example of one command.
func HelpText(topic Name) (string, error) {
	var b strings.Builder
	if topic == "" {
		b.WriteString("Actions (each needs a second person's approval before it runs):\n")
		for _, d := range Registry() {
			if d.IsAction() {
				fmt.Fprintf(&b, "  /%-17s %s\n", d.Name, d.Summary)
			}
		}
		b.WriteString("\nOther commands (no approval needed):\n")
		for _, d := range Registry() {
			if !d.IsAction() {
				fmt.Fprintf(&b, "  /countersign %-8s %s\n", d.Name, d.Summary)
			}
		}
		b.WriteString("\nEvery action takes --reason \"…\", --provider tmcas|graph and --dry-run.\n")
		b.WriteString("Every command also works as /countersign <command> …\n")
		b.WriteString("Type /countersign help <command> for its flags.")
		return b.String(), nil
	}
	d, err := helpDef(topic)
	if err != nil {
		return "", err
	}
	fmt.Fprintf(&b, "%s — %s\n\nUsage: %s\n", d.Name, d.Summary, Usage(d))
	if d.Arg.Kind != ArgNone {
		fmt.Fprintf(&b, "\n  %-16s %s\n", d.Arg.Name, d.Arg.Help)
	}
	if len(d.Flags) > 0 {
		b.WriteString("\nFlags:\n")
		for _, f := range d.Flags {
			name := "--" + f.Name
			switch f.Kind {
			case FlagEnum:
				name += " " + strings.Join(f.Choices, "|")
			case FlagString:
				name += ` "…"`
			case FlagUser:
				name += " ADDRESS"
			}
			fmt.Fprintf(&b, "  %s\n      %s", name, f.Help)
			if f.Default != "" {
				fmt.Fprintf(&b, " (default %s)", f.Default)
			}
			if f.Repeat {
				b.WriteString(" (repeatable)")
			}
			b.WriteString("\n")
		}
	}
	fmt.Fprintf(&b, "\nExample: %s", d.Example)
	return b.String(), nil
}

// Usage returns the synopsis of d: "/disable <user>… [--reason "…"] …".
func Usage(d Def) string {
	var b strings.Builder
	if d.IsAction() {
		b.WriteString("/" + string(d.Name))
	} else {
		b.WriteString("/countersign " + string(d.Name))
	}
	if d.Arg.Kind != ArgNone {
		arg := "<" + d.Arg.Name + ">"
		if d.Arg.Repeat {
			arg += "…"
		}
		if !d.Arg.Required {
			arg = "[" + arg + "]"
		}
		b.WriteString(" " + arg)
	}
	for _, f := range d.Flags {
		switch f.Kind {
		case FlagBool:
			fmt.Fprintf(&b, " [--%s]", f.Name)
		case FlagEnum:
			fmt.Fprintf(&b, " [--%s %s]", f.Name, strings.Join(f.Choices, "|"))
		default:
			fmt.Fprintf(&b, " [--%s …]", f.Name)
		}
	}
	return b.String()
}
