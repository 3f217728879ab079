package commands

import (
	"strconv"
	"strings"
)

// Line returns c as a command line that ParseLine reads back as c: action
// commands as "/disable …", meta commands in the umbrella form
// "/countersign status 42". Targets and flags are in canonical order and
// spelling, so it also shows a person how their command was understood.
func (c Command) Line() string {
	switch c.Name {
	case Help:
		if c.Topic == "" {
			return "/countersign help"
		}
		return "/countersign help " + string(c.Topic)
	case Status, Cancel:
		return "/countersign " + string(c.Name) + " " + strconv.FormatInt(c.RequestID, 10)
	case Pending:
		return "/countersign pending"
	case Explain:
		inner := Command{Name: Name(c.Spec.Action), Spec: c.Spec, DryRun: c.DryRun}
		return "/countersign explain " + strings.TrimPrefix(inner.Line(), "/")
	}
	words := []string{"/" + string(c.Name)}
	for _, t := range c.Spec.Targets {
		words = append(words, Quote(t))
	}
	flag := func(name, value string) { words = append(words, "--"+name, Quote(value)) }
	if m := c.Spec.Mail; m != nil {
		if m.Action != "" {
			flag("action", m.Action)
		}
		for _, r := range m.Recipients {
			flag("recipient", r)
		}
		if m.Severity != "" {
			flag("severity", m.Severity)
		}
		if m.SendersCopy {
			words = append(words, "--senders-copy")
		}
	}
	if c.Spec.Reason != "" {
		flag("reason", c.Spec.Reason)
	}
	if c.Spec.Provider != "" {
		flag("provider", c.Spec.Provider)
	}
	if c.DryRun {
		words = append(words, "--dry-run")
	}
	return strings.Join(words, " ")
}
