package httpx

import (
	"testing"
	"time"
)

func TestRetryConfigured(t *testing.T) {
	def := Retry{Times: 5, Initial: time.Second, Max: 30 * time.Second}
	tests := []struct {
		name           string
		times          int
		initial, limit time.Duration
		want           Retry
	}{
		{"zeros take the defaults", 0, 0, 0, def},
		{"negative retries mean none", -1, 0, 0, Retry{Times: 0, Initial: time.Second, Max: 30 * time.Second}},
		{"set values are kept", 2, time.Millisecond, 5 * time.Millisecond, Retry{Times: 2, Initial: time.Millisecond, Max: 5 * time.Millisecond}},
		{"negative initial takes the default", 1, -time.Second, time.Minute, Retry{Times: 1, Initial: time.Second, Max: time.Minute}},
		{"a cap below the initial wait takes the default cap", 1, 2 * time.Second, time.Second, Retry{Times: 1, Initial: 2 * time.Second, Max: 30 * time.Second}},
		{"an initial wait above the default cap caps at itself", 1, time.Minute, 0, Retry{Times: 1, Initial: time.Minute, Max: time.Minute}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := def.Configured(tt.times, tt.initial, tt.limit); got != tt.want {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestRefusalText(t *testing.T) {
	tests := []struct {
		status    int
		code, msg string
		want      string
	}{
		{400, "invalidRequest", "bad body", "HTTP 400 invalidRequest: bad body"},
		{401, "", "", "HTTP 401; no entry"},
		{403, "code -4030001", "denied", "HTTP 403 code -4030001: denied; needs a role"},
		{500, "", "oops", "HTTP 500: oops"},
	}
	for _, tt := range tests {
		if got := RefusalText(tt.status, tt.code, tt.msg, "no entry", "needs a role"); got != tt.want {
			t.Errorf("RefusalText(%d, %q, %q): got %q, want %q", tt.status, tt.code, tt.msg, got, tt.want)
		}
	}
}
