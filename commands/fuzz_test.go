package commands

import (
	"errors"
	"strings"
	"testing"
	"unicode"

	"github.com/countersign/countersign/approvals"
)

func FuzzParse(f *testing.F) {
	for _, seed := range []struct{ command, text string }{
		{"disable", "Mallory@Contoso.com --reason phish"},
		{"disable", "<mailto:a@b.co|a@b.co>,c@d.co --reason=“x” --dry-run"},
		{"countersign", "explain purge-mail 6c2a1f3e-4b5d-4e6f-8a9b-0c1d2e3f4a5b --action hard-delete"},
		{"purge-mail", "&lt;a.b@c.d&gt; --provider tmcas --recipient x@y.z"},
		{"block-ip", "::ffff:203.0.113.7"},
		{"countersign", "status #42"},
		{"countersign", "help purg"},
		{"disable", `a@b.co --reason "unterminated`},
	} {
		f.Add(seed.command, seed.text)
	}
	f.Fuzz(func(t *testing.T, command, text string) {
		cmd, err := Parse(command, text)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) || e.Msg == "" {
				t.Fatalf("Parse(%q, %q) error %v is not a user-facing *Error", command, text, err)
			}
			return
		}
		if _, ok := Lookup(string(cmd.Name)); !ok {
			t.Fatalf("Parse returned unknown command %q", cmd.Name)
		}
		spec := cmd.Spec
		if cmd.Name == Explain || spec.Action != "" {
			if !spec.Action.Valid() {
				t.Fatalf("Parse(%q, %q) gave invalid action %q", command, text, spec.Action)
			}
			if len(spec.Targets) == 0 || len(spec.Targets) > MaxTargets {
				t.Fatalf("Parse(%q, %q) gave %d targets", command, text, len(spec.Targets))
			}
			for _, tg := range spec.Targets {
				if tg == "" || strings.IndexFunc(tg, unicode.IsSpace) >= 0 || (spec.Action.Kind() != approvals.TargetMessage && tg != strings.ToLower(tg)) {
					t.Fatalf("Parse(%q, %q) gave target %q", command, text, tg)
				}
			}
			if strings.IndexFunc(spec.Reason, unicode.IsControl) >= 0 || len([]rune(spec.Reason)) > MaxReason {
				t.Fatalf("Parse(%q, %q) gave reason %q", command, text, spec.Reason)
			}
		}
		if (cmd.Name == Status || cmd.Name == Cancel) && cmd.RequestID <= 0 {
			t.Fatalf("Parse(%q, %q) gave request id %d", command, text, cmd.RequestID)
		}
	})
}
