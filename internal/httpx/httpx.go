// Package httpx holds the HTTP mechanics every provider client shares:
// Retry-After parsing, backoff with jitter, a sliding-window rate limiter and
// request ids.
package httpx

import (
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/cenkalti/backoff/v5"
	"github.com/google/uuid"
)

// RetryAfter parses a Retry-After header: delay seconds, which Microsoft
// Graph sends with a fraction ("2.128"), or an HTTP date. ok is false when
// the header is absent or unusable.
func RetryAfter(h http.Header, now time.Time) (d time.Duration, ok bool) {
	v := strings.TrimSpace(h.Get("Retry-After"))
	if v == "" {
		return 0, false
	}
	if secs, err := strconv.ParseFloat(v, 64); err == nil {
		if math.IsNaN(secs) || math.IsInf(secs, 0) || secs < 0 {
			return 0, false
		}
		if secs > maxRetryAfter.Seconds() {
			return maxRetryAfter, true
		}
		return time.Duration(secs * float64(time.Second)), true
	}
	if t, err := http.ParseTime(v); err == nil {
		d := t.Sub(now)
		if d < 0 {
			d = 0
		}
		return min(d, maxRetryAfter), true
	}
	return 0, false
}

// maxRetryAfter caps a server-supplied delay so a bad header cannot park a
// job for days.
const maxRetryAfter = 10 * time.Minute

// NewBackoff returns exponential backoff with ±50% jitter starting at
// initial and capped at max per wait. Reset it before reuse.
func NewBackoff(initial, max time.Duration) *backoff.ExponentialBackOff {
	b := backoff.NewExponentialBackOff()
	b.InitialInterval = initial
	b.MaxInterval = max
	b.RandomizationFactor = 0.5
	b.Multiplier = 2
	b.Reset()
	return b
}

// Retry is how often and how patiently a Caller tries a call again.
type Retry struct {
	// Times is how many times a refused or failed call that is safe to
	// repeat is tried again.
	Times int
	// Initial and Max bound the jittered exponential backoff used when the
	// server sends no Retry-After.
	Initial, Max time.Duration
}

// Configured is a provider's configured retries over its defaults def, the
// one reading of the MaxRetries, RetryInitial and RetryMax settings every
// provider offers: times 0 keeps def.Times and a negative one means none;
// an initial wait of zero or less keeps def.Initial; a cap below the
// initial wait becomes def.Max, or the initial wait when that is longer.
func (def Retry) Configured(times int, initial, maxWait time.Duration) Retry {
	r := Retry{Times: times, Initial: initial, Max: maxWait}
	switch {
	case times == 0:
		r.Times = def.Times
	case times < 0:
		r.Times = 0
	}
	if r.Initial <= 0 {
		r.Initial = def.Initial
	}
	if r.Max < r.Initial {
		r.Max = max(def.Max, r.Initial)
	}
	return r
}

// RequestID returns a new random id for a client-request-id header.
func RequestID() string { return uuid.NewString() }

// RefusalText words a refused call the same way for every provider:
// "HTTP 403 code: message", then, for 401 and 403, the hint saying what the
// credential lacks (unauthorized, forbidden). Empty parts are left out.
func RefusalText(status int, code, msg, unauthorized, forbidden string) string {
	var b strings.Builder
	b.WriteString("HTTP " + strconv.Itoa(status))
	if code != "" {
		b.WriteString(" " + code)
	}
	if msg != "" {
		b.WriteString(": " + msg)
	}
	hint := ""
	switch status {
	case http.StatusUnauthorized:
		hint = unauthorized
	case http.StatusForbidden:
		hint = forbidden
	}
	if hint != "" {
		b.WriteString("; " + hint)
	}
	return b.String()
}

// Retryable reports whether an HTTP status says a read may succeed when
// tried again later: throttled, or a server or gateway error. For a call
// that acts only 429 says nothing was done; see Caller.
func Retryable(status int) bool {
	switch status {
	case http.StatusTooManyRequests, http.StatusInternalServerError, http.StatusBadGateway,
		http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return true
	}
	return false
}
