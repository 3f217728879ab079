package httpx

import (
	"context"
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"
)

func TestSleep(t *testing.T) {
	if err := Sleep(context.Background(), time.Millisecond); err != nil {
		t.Errorf("Sleep: got %v, want nil", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := Sleep(ctx, time.Hour); !errors.Is(err, context.Canceled) {
		t.Errorf("Sleep on a cancelled context: got %v, want context.Canceled", err)
	}
}

func TestPastDeadline(t *testing.T) {
	now := time.Now()
	if PastDeadline(context.Background(), now.Add(time.Hour)) {
		t.Error("no deadline: got true")
	}
	ctx, cancel := context.WithDeadline(context.Background(), now.Add(time.Minute))
	defer cancel()
	for _, tt := range []struct {
		at   time.Time
		want bool
	}{{now.Add(30 * time.Second), false}, {now.Add(2 * time.Minute), true}} {
		if got := PastDeadline(ctx, tt.at); got != tt.want {
			t.Errorf("PastDeadline(now+%v): got %v, want %v", tt.at.Sub(now), got, tt.want)
		}
	}
}

func TestLoopback(t *testing.T) {
	for host, want := range map[string]bool{
		"localhost": true, "LOCALHOST": true, "127.0.0.1": true, "127.8.9.10": true, "::1": true,
		"10.0.0.1": false, "api.tmcas.trendmicro.com": false, "localhost.example": false, "": false,
	} {
		if got := Loopback(host); got != want {
			t.Errorf("Loopback(%q): got %v, want %v", host, got, want)
		}
	}
}

func TestStripURL(t *testing.T) {
	cause := errors.New("connection refused")
	err := StripURL(&url.Error{Op: "Get", URL: "https://h/v1/sweeping/mails?message_id=%3Csecret%40x%3E", Err: cause})
	if strings.Contains(err.Error(), "secret") || !errors.Is(err, cause) || err.Error() != "get: connection refused" {
		t.Errorf("StripURL: got %q", err)
	}
	if plain := errors.New("x"); StripURL(plain) != plain {
		t.Error("StripURL changed an error without a URL")
	}
}
