package httpx

import (
	"errors"
	"net/url"
)

// Errors of CheckScheme.
var (
	// ErrPlainHTTP refuses http to a host that is not loopback.
	ErrPlainHTTP = errors.New("plain http is allowed only for loopback hosts")
	// ErrScheme refuses a scheme other than https and http.
	ErrScheme = errors.New("scheme must be https")
)

// CheckScheme is the one rule for every configurable endpoint that is sent
// a credential (provider base and token URLs, chat API URLs): https, or
// plain http to a loopback host (a fake, a local proxy), so that a token or
// client secret never crosses a network in clear text. Callers check the
// rest of the URL's shape themselves.
func CheckScheme(u *url.URL) error {
	switch u.Scheme {
	case "https":
		return nil
	case "http":
		if Loopback(u.Hostname()) {
			return nil
		}
		return ErrPlainHTTP
	}
	return ErrScheme
}
