// Package safetext removes from untrusted text the characters that change
// how it reads without being seen: control characters, bidirectional
// overrides and isolates, zero-width characters and the other code points
// Unicode says to display as nothing. Provider data (a mail subject, a
// display name) and user input pass through Clean before any chat
// platform or report shows them; escaping for a platform's markup is the
// adapters' work on top of it.
package safetext

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// Clean returns s as one line of visible text:
//
//   - invalid UTF-8 becomes U+FFFD;
//   - control characters (C0, DEL, C1: tab, line feed, escape, NEL…) and
//     the line and paragraph separators U+2028 and U+2029 become a space,
//     so text cannot fake a new line or drive a terminal;
//   - invisible characters are removed: format characters (Unicode
//     category Cf: the bidirectional overrides, embeddings, isolates and
//     marks U+202A–U+202E, U+2066–U+2069, U+200E, U+200F, U+061C, which can
//     make "exe.txt" read "txt.exe"; zero-width space, joiners and word
//     joiner; the byte-order mark; the soft hyphen; tag characters;
//     interlinear annotations), variation selectors, and the other
//     default-ignorable code points such as the Hangul fillers that make
//     a name look empty.
//
// Nothing else changes: Clean does not trim or collapse spaces, so columns
// in preformatted text stay aligned. Removing joiners splits joined emoji
// into their parts, which still read.
func Clean(s string) string {
	if printableASCII(s) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	for _, r := range s {
		switch {
		case r == utf8.RuneError: // an invalid byte, or U+FFFD itself
			b.WriteRune(utf8.RuneError)
		case unicode.IsControl(r) || r == '\u2028' || r == '\u2029':
			b.WriteByte(' ')
		case invisible(r):
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// invisible reports whether r is shown as nothing: Unicode's
// Default_Ignorable_Code_Point (Other_Default_Ignorable_Code_Point, Cf and
// Variation_Selector), together with the few format characters that set
// leaves out, such as the interlinear annotation marks, which hide text
// just as well.
func invisible(r rune) bool {
	return unicode.In(r, unicode.Cf, unicode.Other_Default_Ignorable_Code_Point, unicode.Variation_Selector)
}

// printableASCII reports whether s is only printable ASCII, which Clean
// returns as it is.
func printableASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f {
			return false
		}
	}
	return true
}
