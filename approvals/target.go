package approvals

import "strings"

// MaxMessageID is the longest Internet Message-ID accepted, in bytes: the
// longest TMCAS takes.
const MaxMessageID = 512

// IsMessageID reports whether s is an Internet Message-ID as the providers
// take it: <left@right>, printable ASCII without spaces or angle brackets
// inside, at most MaxMessageID bytes. The command parser accepts only
// such ids and the TMCAS client checks them again before it sends one, so
// both use this one rule.
func IsMessageID(s string) bool {
	if len(s) < 5 || len(s) > MaxMessageID || s[0] != '<' || s[len(s)-1] != '>' {
		return false
	}
	inner := s[1 : len(s)-1]
	at := strings.LastIndexByte(inner, '@')
	if at <= 0 || at == len(inner)-1 {
		return false
	}
	for i := 0; i < len(inner); i++ {
		if c := inner[i]; c <= ' ' || c >= 0x7f || c == '<' || c == '>' {
			return false
		}
	}
	return true
}

// IsGUID reports whether s has the shape of a GUID, 8-4-4-4-12 hex digits
// without braces, such as a Graph network message id.
func IsGUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
				return false
			}
		}
	}
	return true
}
