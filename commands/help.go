package commands

import (
	"fmt"
	"strings"
)

// HelpText returns plain-text help: the overview of every command when
// topic is empty (or Root), else one command's usage, argument, flags with
// their choices and defaults, and an example. An unknown topic is an *Error
// with a hint. (Help is the name of the help command, hence HelpText.)
func HelpText(topic Name) (string, error) {
	topic, err := helpTopic(topic)
	if err != nil {
		return "", err
	}
	if topic == "" {
		return overview(), nil
	}
	d, _ := def(topic)
	return commandHelp(d), nil
}

func overview() string {
	var b strings.Builder
	b.WriteString("Countersign runs security actions only after a second person approves them.\n")
	width := 0
	for _, d := range Registry() {
		width = max(width, len(synopsis(d)))
	}
	section := func(title string, actions bool) {
		b.WriteString("\n" + title + "\n")
		for _, d := range Registry() {
			if d.IsAction() == actions {
				fmt.Fprintf(&b, "  %-*s  %s\n", width, synopsis(d), d.Summary)
			}
		}
	}
	section("Actions (each needs a second person's approval before it runs):", true)
	section("Other commands (no approval needed):", false)
	b.WriteString("\nEvery action takes --reason \"…\", --provider tmcas|graph and --dry-run.\n")
	b.WriteString("Every command also works as /countersign <command> …, such as /countersign disable mallory@contoso.com.\n")
	b.WriteString("Type /countersign help <command> for its arguments and flags.\n")
	return b.String()
}

// synopsis is the command and its argument, without flags.
func synopsis(d Def) string {
	s := display(d)
	if a := argUsage(d.Arg); a != "" {
		s += " " + a
	}
	return s
}

func argUsage(a Arg) string {
	if a.Kind == ArgNone {
		return ""
	}
	s := "<" + a.Name + ">"
	if a.Repeat {
		s += "..."
	}
	if !a.Required {
		s = "[" + s + "]"
	}
	return s
}

func flagUsage(f Flag) string {
	switch {
	case f.Kind == FlagBool:
		return "--" + f.Name
	case f.Kind == FlagEnum && len(f.ByProvider) == 0:
		return "--" + f.Name + " " + strings.Join(f.Choices, "|")
	}
	return "--" + f.Name + " <" + f.Value + ">"
}

// Usage returns the synopsis of d, such as
// "/disable <user>... [--reason <text>] [--provider tmcas|graph] [--dry-run]".
func Usage(d Def) string {
	words := []string{synopsis(d)}
	for _, f := range d.Flags {
		u := "[" + flagUsage(f) + "]"
		if f.Repeat {
			u += "..."
		}
		words = append(words, u)
	}
	return strings.Join(words, " ")
}

func commandHelp(d Def) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s — %s\n", display(d), d.Summary)
	if d.IsAction() {
		fmt.Fprintf(&b, "Needs a second person's approval before it runs. Providers: %s.\n", strings.Join(d.Providers, ", "))
	} else {
		b.WriteString("No approval needed.\n")
	}
	fmt.Fprintf(&b, "\nUsage: %s\n", Usage(d))
	if d.Arg.Kind != ArgNone {
		req := "optional"
		if d.Arg.Required {
			req = "required"
		}
		if d.Arg.Repeat {
			req += fmt.Sprintf("; one or more, at most %d", MaxTargets)
		}
		fmt.Fprintf(&b, "\nArgument:\n  %s (%s)\n      %s\n", argUsage(Arg{Name: d.Arg.Name, Kind: d.Arg.Kind, Required: true}), req, d.Arg.Help)
	}
	if len(d.Flags) > 0 {
		b.WriteString("\nFlags:\n")
		for _, f := range d.Flags {
			b.WriteString("  " + flagUsage(f))
			if f.Repeat {
				b.WriteString(" (repeatable)")
			}
			b.WriteString("\n      " + f.Help + "\n")
			for _, v := range f.ByProvider {
				fmt.Fprintf(&b, "      with %s: %s (default %s)\n", v.Provider, strings.Join(v.Choices, ", "), v.Default)
			}
			if f.Default != "" {
				fmt.Fprintf(&b, "      default: %s\n", f.Default)
			}
		}
	}
	if d.IsAction() {
		fmt.Fprintf(&b, "\nAlso: /countersign %s …\n", d.Name)
	}
	fmt.Fprintf(&b, "\nExample:\n  %s\n", d.Example)
	return b.String()
}
