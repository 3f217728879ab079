package commands

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"

	"github.com/countersign/countersign/approvals"
)

// FuzzParse checks what must hold for any input: Parse never panics, every
// error is a user-facing *Error, and every command it returns is valid and
// reads back the same from its Line.
func FuzzParse(f *testing.F) {
	for _, c := range validCases() {
		f.Add(c.command, c.text)
	}
	for _, c := range errorCases() {
		f.Add(c.command, c.text)
	}
	f.Fuzz(func(t *testing.T, command, text string) {
		cmd, err := Parse(command, text)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) || e.Msg == "" {
				t.Fatalf("Parse(%q, %q) error %#v is not a user-facing *Error", command, text, err)
			}
			return
		}
		checkCommand(t, cmd)
		line := cmd.Line()
		_, lineText := firstWord(line)
		if utf8.RuneCountInString(lineText) > MaxInput {
			// Line spells flags out ("—x" is "--x"), so near the limit it
			// may be longer than the input.
			return
		}
		again, err := ParseLine(line)
		if err != nil {
			t.Fatalf("Parse(%q, %q) = %+v, whose Line %q does not parse: %v", command, text, cmd, line, err)
		}
		if diff := cmp.Diff(cmd, again); diff != "" {
			t.Fatalf("Parse(%q, %q): Line %q reads back differently (-first +again):\n%s", command, text, line, diff)
		}
	})
}

func checkCommand(t *testing.T, cmd Command) {
	t.Helper()
	d, ok := Lookup(string(cmd.Name))
	if !ok {
		t.Fatalf("unknown command %q in %+v", cmd.Name, cmd)
	}
	s := cmd.Spec
	if !d.IsAction() && cmd.Name != Explain {
		if !cmp.Equal(s, approvals.Spec{}) || cmd.DryRun {
			t.Fatalf("meta command %+v has a spec", cmd)
		}
		if (cmd.Name == Status || cmd.Name == Cancel) != (cmd.RequestID > 0) {
			t.Fatalf("request id %d in %+v", cmd.RequestID, cmd)
		}
		if _, ok := Lookup(string(cmd.Topic)); cmd.Topic != "" && !ok {
			t.Fatalf("unknown help topic in %+v", cmd)
		}
		return
	}
	if !s.Action.Valid() || (cmd.Name != Explain && string(s.Action) != string(cmd.Name)) {
		t.Fatalf("action %q in %+v", s.Action, cmd)
	}
	ad, _ := Lookup(string(s.Action))
	if s.Provider != "" && !slices.Contains(ad.Providers, s.Provider) {
		t.Fatalf("provider %q cannot %s: %+v", s.Provider, s.Action, cmd)
	}
	if len(s.Targets) == 0 || len(s.Targets) > MaxTargets {
		t.Fatalf("%d targets in %+v", len(s.Targets), cmd)
	}
	seen := map[string]bool{}
	for _, tg := range s.Targets {
		if seen[tg] {
			t.Fatalf("duplicate target %q in %+v", tg, cmd)
		}
		seen[tg] = true
		checkTarget(t, s, tg)
	}
	if utf8.RuneCountInString(s.Reason) > MaxReason || s.Reason != strings.TrimSpace(s.Reason) ||
		strings.ContainsFunc(s.Reason, func(r rune) bool { return unicode.IsControl(r) || unicode.Is(unicode.Bidi_Control, r) }) {
		t.Fatalf("reason %q in %+v", s.Reason, cmd)
	}
	if (s.Action == approvals.ActionPurgeMail) != (s.Mail != nil) {
		t.Fatalf("mail options %+v in %+v", s.Mail, cmd)
	}
	if m := s.Mail; m != nil {
		if m.Action != "" && !slices.Contains(approvals.MailActions(ProviderGraph), m.Action) && !slices.Contains(approvals.MailActions(ProviderTMCAS), m.Action) {
			t.Fatalf("mail action %q in %+v", m.Action, cmd)
		}
		if s.Provider != "" && !slices.Contains(approvals.MailActions(s.Provider), m.Action) {
			t.Fatalf("mail action %q with provider %q", m.Action, s.Provider)
		}
		if len(m.Recipients) > MaxTargets {
			t.Fatalf("%d recipients", len(m.Recipients))
		}
		for _, r := range m.Recipients {
			if why, _ := addressProblem(r); why != "" || r != strings.ToLower(r) {
				t.Fatalf("recipient %q in %+v: %s", r, cmd, why)
			}
		}
	}
}

func checkTarget(t *testing.T, s approvals.Spec, tg string) {
	t.Helper()
	switch s.Action.Kind() {
	case approvals.TargetAccount:
		if why, _ := addressProblem(tg); why != "" || tg != strings.ToLower(tg) || len(tg) > MaxAddress {
			t.Fatalf("account target %q: %s", tg, why)
		}
	case approvals.TargetMessage:
		switch {
		case approvals.IsGUID(tg):
			if tg != strings.ToLower(tg) || s.Provider == ProviderTMCAS {
				t.Fatalf("message target %q with provider %q", tg, s.Provider)
			}
		case approvals.IsMessageID(tg):
			if s.Provider == ProviderGraph {
				t.Fatalf("message target %q with provider %q", tg, s.Provider)
			}
		default:
			t.Fatalf("message target %q is neither a GUID nor a Message-ID", tg)
		}
	case approvals.TargetIP:
		if got, err := parseIP(tg); err != nil || got != tg {
			t.Fatalf("IP target %q is not canonical: %q, %v", tg, got, err)
		}
	}
}
