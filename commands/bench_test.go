package commands

import (
	"fmt"
	"strings"
	"testing"
)

func BenchmarkParse(b *testing.B) {
	var many strings.Builder
	for i := 0; many.Len() < MaxInput-40; i++ {
		fmt.Fprintf(&many, "user%d@contoso.com ", i)
	}
	for _, bc := range []struct{ name, command, text string }{
		{"disable", "disable", `mallory@contoso.com --reason "phishing, INC-4711"`},
		{"purge-mail", "purge-mail", guid + ` --action hard-delete --recipient a@contoso.com --reason “phishing wave” --provider graph`},
		{"slack markup", "countersign", "disable <mailto:a@contoso.com|a@contoso.com>,<mailto:b@contoso.com|b@contoso.com> --reason &lt;x&gt;"},
		{"max targets", "disable", many.String()},
		{"angle brackets", "disable", "a@contoso.com --reason " + strings.Repeat("<mailto:", MaxInput/8-4)},
		{"open links", "disable", "a@contoso.com --reason \"" + strings.Repeat("<https://x", MaxInput/10-4)},
		{"entities", "disable", "a@contoso.com --reason " + strings.Repeat("&#1", MaxInput/3-10)},
		{"long word", "countersign", strings.Repeat("x", MaxInput)},
		{"many flags", "purge-mail", guid + strings.Repeat(" --recipient=a@b.co", MaxInput/20-3)},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				Parse(bc.command, bc.text)
			}
		})
	}
}
