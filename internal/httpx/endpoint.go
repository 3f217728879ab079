package httpx

import (
	"errors"
	"net/http"
	"net/url"
	"time"
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

// NoRedirects returns the client a Caller sends with: a copy of hc, or a
// new client with timeout when hc is nil, that never follows a redirect. A
// redirect would resend the credentials to wherever it points and, for a
// Once call, the action; the providers never redirect these calls, so a
// redirect is returned as the answer.
func NoRedirects(hc *http.Client, timeout time.Duration) *http.Client {
	c := &http.Client{Timeout: timeout}
	if hc != nil {
		copied := *hc
		c = &copied
	}
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return c
}
