package config

import (
	"net/url"
	"reflect"
	"strings"
)

// Strength rules for secrets (README, "Secrets").
const (
	// MinSecretBits is the least strength of a key Countersign itself
	// signs or verifies with: audit.key and slack.signing_secret.
	MinSecretBits = 128
	// minDistinct is how many different characters a key must use. A
	// random key of 128 bits or more, even 32 hex digits, has fewer with a
	// probability below one in ten million; "aaaa…" or "abab…" always do.
	minDistinct = 8
)

// placeholders are the marks of a value copied from an example and never
// replaced, each as it is found in the value lower-cased with everything
// but letters and digits removed (so CHANGE-ME, change_me and ChangeMe are
// one), and as it is reported. A random secret contains none of them by
// chance; they are looked for in secrets only, where no real value holds
// them, not in names and URLs, where "example.com" may be a real choice.
var placeholders = []struct{ squeezed, shown string }{
	{"changeme", "change-me"},
	{"replaceme", "replace-me"},
	{"placeholder", "placeholder"},
	{"example", "example"},
}

// placeholder returns the placeholder s holds, or "".
func placeholder(s string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(s) {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			b.WriteRune(r)
		}
	}
	squeezed := b.String()
	for _, p := range placeholders {
		if strings.Contains(squeezed, p.squeezed) {
			return p.shown
		}
	}
	return ""
}

// secretBits estimates the strength of a key from its length and alphabet:
// 4 bits a character when it is all hex digits, 6 when it is all base64
// (standard or URL alphabet, "=" padding not counted), else 8 a byte. For
// hex and base64 that is the decoded length; for other text it is the raw
// length, which over-rates a word but never counts an encoding's characters
// as if each were a random byte.
func secretBits(s string) int {
	body := strings.TrimRight(s, "=")
	switch {
	case s == "":
		return 0
	case only(s, isHexDigit):
		return 4 * len(s)
	case only(body, isBase64):
		return 6 * len(body)
	}
	return 8 * len(s)
}

func isHexDigit(r rune) bool {
	return r >= '0' && r <= '9' || r >= 'a' && r <= 'f' || r >= 'A' && r <= 'F'
}

// isBase64 reports whether r is in the standard or the URL base64 alphabet.
func isBase64(r rune) bool {
	return r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || strings.ContainsRune("+/-_", r)
}

// only reports whether every rune of s passes ok.
func only(s string, ok func(rune) bool) bool {
	return !strings.ContainsFunc(s, func(r rune) bool { return !ok(r) })
}

// distinct counts the different bytes of s, up to minDistinct.
func distinct(s string) int {
	var seen [256]bool
	n := 0
	for i := 0; i < len(s) && n < minDistinct; i++ {
		if !seen[s[i]] {
			seen[s[i]] = true
			n++
		}
	}
	return n
}

// validateSecrets refuses placeholders in every secret and weak keys. A
// key reported here is not reported again by the checks that follow: a
// placeholder's shape says nothing.
func (c *Config) validateSecrets(v *checker, o options) {
	leaves(false, func(l leaf) {
		if l.Secret == notSecret || (l.Key == "audit.key" && o.insecureAuditKey) {
			return
		}
		value := fieldByKey(reflect.ValueOf(c).Elem(), l.Key).String()
		if value == "" {
			return
		}
		if l.Secret == secretURL {
			for _, pw := range urlPasswords(value) {
				if p := placeholder(pw); p != "" {
					v.add(l.Key, "the password is a placeholder (%q); set the real value", p)
					v.failed = append(v.failed, l.Key)
					return
				}
			}
			return
		}
		if p := placeholder(value); p != "" {
			v.add(l.Key, "is a placeholder (%q); set the real value", p)
			v.failed = append(v.failed, l.Key)
			return
		}
		switch l.Key {
		case "audit.key":
			const how = "use random bytes, such as the output of openssl rand -base64 32"
			if len(value) < MinAuditKeyBytes {
				v.add(l.Key, "must be at least %d bytes (e.g. the output of openssl rand -base64 32)", MinAuditKeyBytes)
			} else {
				v.strong(l.Key, value, how)
			}
		case "slack.signing_secret":
			v.strong(l.Key, value, "copy the Signing Secret from the Slack app's Basic Information page")
		}
	})
}

// strong refuses a key under MinSecretBits or of too few characters.
func (v *checker) strong(key, value, how string) {
	switch {
	case secretBits(value) < MinSecretBits:
		v.add(key, "is too weak: under %d bits (hex counts 4 bits a digit, base64 6 a character, other text 8 a byte); %s", MinSecretBits, how)
	case distinct(value) < minDistinct:
		v.add(key, "is too weak: fewer than %d different characters; %s", minDistinct, how)
	}
}

// urlPasswords returns the secret parts of a store URL: the user info's
// password and the password parameters RedactURL hides.
func urlPasswords(raw string) []string {
	u, err := url.Parse(raw)
	if err != nil {
		return nil
	}
	var out []string
	if pw, ok := u.User.Password(); ok {
		out = append(out, pw)
	}
	for k, vs := range u.Query() {
		if isPasswordParam(k) {
			out = append(out, vs...)
		}
	}
	return out
}

// isPasswordParam reports whether a store URL parameter holds a password.
func isPasswordParam(k string) bool {
	return strings.EqualFold(k, "password") || strings.EqualFold(k, "sslpassword")
}
