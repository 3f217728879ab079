package safetext_test

import (
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/countersign/countersign/internal/safetext"
)

func TestClean(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"printable ASCII as it is", "Mallory Doe <mallory@contoso.com> *x* _y_ ~z~ `c`  ", "Mallory Doe <mallory@contoso.com> *x* _y_ ~z~ `c`  "},
		{"empty", "", ""},
		{"letters of any script", "Zoë 日本 Ελλάδα عربى e\u0301", "Zoë 日本 Ελλάδα عربى e\u0301"},
		{"emoji", "🔥 🧑🏽", "🔥 🧑🏽"},
		{"spaces other than ASCII", "a\u00a0b\u3000c", "a\u00a0b\u3000c"},
		{"right-to-left override", "invoice\u202efdp.exe", "invoicefdp.exe"},
		{"every bidi control", "a\u061cb\u200ec\u200fd\u202ae\u202bf\u202cg\u202dh\u202ei\u2066j\u2067k\u2068l\u2069m", "abcdefghijklm"},
		{"zero-width characters", "ad\u200bmin\u200c\u200d\u2060\ufeff", "admin"},
		{"soft hyphen", "pay\u00adpal", "paypal"},
		{"invisible operators", "a\u2061\u2062\u2063\u2064b", "ab"},
		{"tag characters", "ok\U000E0001\U000E0041\U000E0042\U000E007F", "ok"},
		{"interlinear annotation", "a\ufff9hidden\ufffbb", "ahiddenb"},
		{"Hangul fillers", "\u3164\u115f\u1160\uffa0name", "name"},
		{"variation selectors", "⚠\ufe0f x\ufe00\U000E0100", "⚠ x"},
		{"joined emoji fall apart", "🧑\u200d💻", "🧑💻"},
		{"Mongolian vowel separator", "a\u180eb", "ab"},
		{"line breaks become spaces", "a\nb\r\nc\rd\u0085e\u2028f\u2029g", "a b  c d e f g"},
		{"tab and escape sequences", "a\tb\x1b[31mred\x1b[0m", "a b [31mred [0m"},
		{"NUL, DEL and C1", "a\x00b\x7fc\u0080d\u009fe", "a b c d e"},
		{"invalid UTF-8", "a\xffb\xc3", "a\ufffdb\ufffd"},
		{"replacement character kept", "a\ufffdb", "a\ufffdb"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := safetext.Clean(tt.in); got != tt.want {
				t.Errorf("Clean(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

// checkClean asserts what Clean promises for any input: valid UTF-8, no
// control, separator or invisible character, nothing added but spaces and
// U+FFFD, and a second Clean changes nothing.
func checkClean(t *testing.T, in string) {
	t.Helper()
	got := safetext.Clean(in)
	if !utf8.ValidString(got) {
		t.Fatalf("Clean(%q) = %q: invalid UTF-8", in, got)
	}
	for _, r := range got {
		if unicode.IsControl(r) || r == '\u2028' || r == '\u2029' ||
			unicode.In(r, unicode.Cf, unicode.Other_Default_Ignorable_Code_Point, unicode.Variation_Selector, unicode.Bidi_Control, unicode.Join_Control) {
			t.Fatalf("Clean(%q) = %q keeps %U", in, got, r)
		}
	}
	// got is in with characters dropped, or replaced by a space or U+FFFD.
	var src []rune
	for _, r := range in { // an invalid byte is one U+FFFD
		src = append(src, r)
	}
	i := 0
	for _, r := range got {
		for i < len(src) && src[i] != r && r != ' ' && r != utf8.RuneError {
			i++
		}
		if i == len(src) {
			t.Fatalf("Clean(%q) = %q has %U that is not from the input", in, got, r)
		}
		i++
	}
	if again := safetext.Clean(got); again != got {
		t.Fatalf("Clean is not idempotent: Clean(%q) = %q, then %q", in, got, again)
	}
}

func FuzzClean(f *testing.F) {
	for _, s := range []string{"", "plain", "a\u202eb", "\u200b\u200d\ufeff", "\xff\xfe", "a\r\nb", "\U000E0041", "🧑\u200d💻", "\u3164", "⚠\ufe0f"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) { checkClean(t, s) })
}

// TestCleanEveryCodePoint runs the properties over every code point once,
// so no range of the tables goes untried.
func TestCleanEveryCodePoint(t *testing.T) {
	var b strings.Builder
	for r := rune(0); r <= unicode.MaxRune; r++ {
		if r >= 0xd800 && r <= 0xdfff {
			continue // surrogates are not UTF-8
		}
		b.WriteString("a")
		b.WriteRune(r)
		if b.Len() > 1<<16 {
			checkClean(t, b.String())
			b.Reset()
		}
	}
	checkClean(t, b.String())
}
