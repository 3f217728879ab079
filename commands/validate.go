package commands

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/countersign/countersign/approvals"
)

const addressHint = "give an e-mail address or UPN, such as mallory@contoso.com"

// userMarkup expands Slack markup and entities in an argument that holds
// user addresses, and refuses links other than mailto and mentions.
func userMarkup(raw string) (string, error) {
	x := expand(raw)
	switch {
	case x.web:
		return "", &Error{Msg: fmt.Sprintf("%s is a web link, not a user address", show(raw)), Hint: addressHint}
	case x.mention:
		return "", &Error{Msg: fmt.Sprintf("%s is a mention, not a user address", show(raw)), Hint: addressHint}
	case x.mailto != "":
		return "", &Error{Msg: fmt.Sprintf("the link text %s does not match its address %s", show(x.label), show(x.mailto)),
			Hint: "type the address itself"}
	}
	return x.text, nil
}

// parseAddress validates one user address, markup already expanded, and
// returns it lower-cased.
//
// The grammar is deliberately narrower than RFC 5322: a dot-atom local
// part of the characters directories allow in UPNs, and a domain name of
// letters, digits and hyphens. Both providers accept every address it
// accepts.
func parseAddress(s string) (string, error) {
	if why, hint := addressProblem(s); why != "" {
		if hint == "" {
			hint = addressHint
		}
		return "", &Error{Msg: fmt.Sprintf("%s is not a user address: %s", show(s), why), Hint: hint}
	}
	return strings.ToLower(s), nil
}

// addressProblem says what is wrong with s as a user address, and what the
// person may have meant; "" when it is valid.
func addressProblem(s string) (why, hint string) {
	if s == "" {
		return "it is empty", ""
	}
	if n := utf8.RuneCountInString(s); n > MaxAddress {
		return fmt.Sprintf("it is %d characters long; the limit is %d", n, MaxAddress), ""
	}
	if inner, ok := strings.CutPrefix(s, "<"); ok && strings.HasSuffix(inner, ">") {
		inner = strings.TrimSuffix(inner, ">")
		if p, _ := addressProblem(inner); p == "" {
			return "it has angle brackets", "did you mean " + strings.ToLower(inner) + "?"
		}
	}
	if rest, ok := cutPrefixFold(s, "mailto:"); ok {
		if p, _ := addressProblem(rest); p == "" {
			return `it starts with "mailto:"`, "did you mean " + strings.ToLower(rest) + "?"
		}
	}
	for _, r := range s {
		switch {
		case unicode.IsSpace(r):
			return "it contains a space", ""
		case unicode.IsControl(r) || unicode.Is(unicode.Cf, r):
			return fmt.Sprintf("it contains the invisible character %U", r), "type the address again rather than pasting it"
		case r >= utf8.RuneSelf:
			return fmt.Sprintf("it contains %q; only ASCII letters, digits and . _ - + ' ! # ^ ~ may be used", r),
				"internationalised domains are written in punycode (xn--…)"
		}
	}
	local, domain, ok := strings.Cut(s, "@")
	switch {
	case !ok:
		return "it has no @", ""
	case strings.Contains(domain, "@"):
		return "it has more than one @", ""
	case local == "":
		return "nothing comes before the @", ""
	case domain == "":
		return "nothing comes after the @", ""
	case len(local) > 64:
		return fmt.Sprintf("the part before the @ is %d characters long; the limit is 64", len(local)), ""
	case local[0] == '.' || local[len(local)-1] == '.' || strings.Contains(local, ".."):
		return "the part before the @ has a dot at its start or end, or two in a row", ""
	}
	for _, r := range local {
		if !isAlnum(r) && !strings.ContainsRune(".-_+'!#^~", r) {
			return fmt.Sprintf("%q is not allowed before the @", r), ""
		}
	}
	return domainProblem(domain), ""
}

func domainProblem(d string) string {
	labels := strings.Split(d, ".")
	if len(labels) < 2 {
		return fmt.Sprintf("the domain %q has no dot", d)
	}
	for _, l := range labels {
		switch {
		case l == "":
			return fmt.Sprintf("the domain %q has an empty part", d)
		case len(l) > 63:
			return fmt.Sprintf("the domain %q has a part longer than 63 characters", d)
		case l[0] == '-' || l[len(l)-1] == '-':
			return fmt.Sprintf("a part of the domain %q starts or ends with a hyphen", d)
		}
		for _, r := range l {
			if !isAlnum(r) && r != '-' {
				return fmt.Sprintf("%q is not allowed in the domain", r)
			}
		}
	}
	if tld := labels[len(labels)-1]; strings.IndexFunc(tld, func(r rune) bool { return r < '0' || r > '9' }) < 0 {
		return fmt.Sprintf("the domain %q is a number, not a name", d)
	}
	return ""
}

func isAlnum(r rune) bool {
	return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9'
}

func cutPrefixFold(s, prefix string) (string, bool) {
	if len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix) {
		return s[len(prefix):], true
	}
	return s, false
}

const messageIDHint = "give the Graph network message id (a GUID such as 6c2a1f3e-4b5d-4e6f-8a9b-0c1d2e3f4a5b) or, for tmcas, the Message-ID header <…@…>"

// parseMessageID validates the message of purge-mail. A GUID is Graph's
// network message id, lower-cased; an Internet Message-ID in angle
// brackets is what TMCAS finds mail by. provider is --provider ("" allows
// both; the router then picks the provider). It also returns the provider
// the id's shape belongs to.
func parseMessageID(raw, provider string) (id, shape string, err error) {
	x := expand(raw)
	if x.web || x.mention {
		return "", "", &Error{Msg: fmt.Sprintf("%s is a link, not a message id", show(raw)), Hint: messageIDHint}
	}
	s := x.text
	if g := strings.TrimSuffix(strings.TrimPrefix(s, "{"), "}"); approvals.IsGUID(g) && len(s)-len(g) != 1 {
		if provider == ProviderTMCAS {
			return "", "", &Error{Msg: "TMCAS finds mail by its Internet Message-ID, not a Graph network message id",
				Hint: "give the Message-ID header in angle brackets, such as <abc123@mail.contoso.com>, or use --provider graph"}
		}
		return strings.ToLower(g), ProviderGraph, nil
	}
	if approvals.IsMessageID(s) {
		if provider == ProviderGraph {
			return "", "", &Error{Msg: "Microsoft Graph finds mail by its network message id (a GUID), not the Message-ID header",
				Hint: "copy the Network Message ID from the Defender portal, or use --provider tmcas"}
		}
		return s, ProviderTMCAS, nil
	}
	e := &Error{Msg: fmt.Sprintf("%s is not a message id", show(s)), Hint: messageIDHint}
	switch {
	case strings.HasPrefix(s, "<") && strings.HasSuffix(s, ">"):
		e.Msg = fmt.Sprintf("%s is not an Internet Message-ID", show(s))
		e.Hint = fmt.Sprintf("it looks like <local-part@domain>, printable ASCII without spaces, at most %d characters", MaxMsgID)
	case strings.Contains(s, "@") && !strings.ContainsAny(s, "<> \t"):
		e.Hint = "an Internet Message-ID keeps its angle brackets: did you mean <" + s + ">?"
	}
	return "", "", e
}

// parseIP validates the address of block-ip and returns its canonical
// form. Private addresses are allowed: attackers can be inside.
func parseIP(raw string) (string, error) {
	x := expand(raw)
	s := x.text
	ip, err := netip.ParseAddr(s)
	if err != nil || x.web || x.mention {
		e := &Error{Msg: fmt.Sprintf("%s is not an IP address", show(s)), Hint: "give one address, such as 203.0.113.7 or 2001:db8::7"}
		if p, err := netip.ParsePrefix(s); err == nil {
			e.Msg = fmt.Sprintf("%s is a range; /block-ip blocks one address", show(s))
			e.Hint = "give one address, such as " + p.Addr().String()
		} else if ap, err := netip.ParseAddrPort(s); err == nil {
			e.Hint = "without the port: did you mean " + ap.Addr().String() + "?"
		} else if inner, ok := strings.CutPrefix(s, "["); ok && strings.HasSuffix(inner, "]") {
			if a, err := netip.ParseAddr(strings.TrimSuffix(inner, "]")); err == nil {
				e.Hint = "without the brackets: did you mean " + a.String() + "?"
			}
		}
		return "", e
	}
	if ip.Zone() != "" {
		return "", &Error{Msg: fmt.Sprintf("%s has a zone; a blocked address cannot", show(s)),
			Hint: "did you mean " + ip.WithZone("").String() + "?"}
	}
	ip = ip.Unmap()
	why := ""
	switch {
	case ip.IsUnspecified():
		why = "the unspecified address"
	case ip.IsLoopback():
		why = "a loopback address"
	case ip.IsMulticast():
		why = "a multicast address"
	case ip.IsLinkLocalUnicast():
		why = "a link-local address"
	case ip == netip.AddrFrom4([4]byte{255, 255, 255, 255}):
		why = "the broadcast address"
	}
	if why != "" {
		return "", &Error{Msg: fmt.Sprintf("%s is %s and cannot be blocked", ip, why), Hint: "give the attacker's public or internal address"}
	}
	return ip.String(), nil
}

// ParseRequestID parses a request number as cards show it: "42" or "#42".
func ParseRequestID(s string) (int64, error) {
	e := &Error{Msg: fmt.Sprintf("%s is not a request number", show(s)), Hint: "use the number on the request's card, such as 42"}
	digits := strings.TrimPrefix(s, "#")
	if digits == "" || strings.IndexFunc(digits, func(r rune) bool { return r < '0' || r > '9' }) >= 0 {
		return 0, e
	}
	id, err := strconv.ParseInt(digits, 10, 64)
	if err != nil {
		e.Msg = fmt.Sprintf("%s is too large for a request number", show(s))
		return 0, e
	}
	if id <= 0 {
		e.Msg = fmt.Sprintf("%s is not a request number; they start at 1", show(s))
		return 0, e
	}
	return id, nil
}

const reasonHint = `quote it: --reason "phishing, INC-4711"`

// parseReason validates --reason and returns it trimmed, with Slack markup
// replaced by what it shows.
func parseReason(raw string) (string, error) {
	r := strings.TrimSpace(expand(raw).text)
	if r == "" {
		// Typed as a flag, an empty reason is mostly a value lost to quoting.
		return "", &Error{Msg: "--reason is empty", Hint: reasonHint}
	}
	return Reason("--reason", r)
}

// Reason checks a reason as --reason and the deny dialog both accept it,
// and returns it trimmed: not empty, at most MaxReason characters, on one
// line, without control characters, and without the characters that
// change the direction text is shown in (Unicode Bidi_Control), which can
// make a card read differently from what is stored. field names the
// reason in the *Error it returns: "--reason", "the reason".
func Reason(field, s string) (string, error) {
	r := strings.TrimSpace(s)
	if r == "" {
		return "", &Error{Msg: field + " is empty", Hint: "say in a few words why"}
	}
	if n := utf8.RuneCountInString(r); n > MaxReason {
		return "", &Error{Msg: fmt.Sprintf("%s is %d characters long; the limit is %d", field, n, MaxReason), Hint: "keep the details in the ticket and give its number"}
	}
	for _, c := range r {
		switch {
		case c == '\n' || c == '\r' || c == '\u2028' || c == '\u2029' || c == '\u0085':
			return "", &Error{Msg: field + " has a line break", Hint: "write the reason on one line"}
		case unicode.IsControl(c):
			return "", &Error{Msg: fmt.Sprintf("%s contains the control character %U", field, c), Hint: "type the reason again rather than pasting it"}
		case unicode.Is(unicode.Bidi_Control, c):
			return "", &Error{Msg: fmt.Sprintf("%s contains the text-direction character %U, which can disguise text", field, c),
				Hint: "type the reason again rather than pasting it"}
		}
	}
	return r, nil
}
