package httpx

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync/atomic"
	"testing"
	"time"
)

func TestCheckScheme(t *testing.T) {
	for _, tt := range []struct {
		raw  string
		want error
	}{
		{"https://api.tmcas.trendmicro.com", nil},
		{"https://10.0.0.7:8443/api/", nil},
		{"http://127.0.0.1:8080", nil},
		{"http://127.8.9.10/api/", nil},
		{"http://localhost:9000/api/v10", nil},
		{"http://[::1]:1/", nil},
		{"http://graph.example", ErrPlainHTTP},
		{"http://10.0.0.7/api/", ErrPlainHTTP},
		{"http://localhost.example/", ErrPlainHTTP},
		{"http://127.0.0.1.nip.io/", ErrPlainHTTP},
		{"ftp://127.0.0.1/", ErrScheme},
		{"ws://localhost/", ErrScheme},
	} {
		u, err := url.Parse(tt.raw)
		if err != nil {
			t.Fatal(err)
		}
		if got := CheckScheme(u); !errors.Is(got, tt.want) {
			t.Errorf("CheckScheme(%q): got %v, want %v", tt.raw, got, tt.want)
		}
	}
}

func TestNoRedirects(t *testing.T) {
	var followed atomic.Int32
	target := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { followed.Add(1) }))
	defer target.Close()
	redirect := httptest.NewServer(http.RedirectHandler(target.URL, http.StatusFound))
	defer redirect.Close()
	given := &http.Client{Timeout: time.Minute}
	for _, tt := range []struct {
		name        string
		hc          *http.Client
		wantTimeout time.Duration
	}{
		{"nil gets a client with the timeout", nil, 5 * time.Second},
		{"a given client is copied", given, time.Minute},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := NoRedirects(tt.hc, 5*time.Second)
			if c == given || c.Timeout != tt.wantTimeout {
				t.Errorf("got %p with timeout %v, want a new client with timeout %v", c, c.Timeout, tt.wantTimeout)
			}
			resp, err := c.Get(redirect.URL)
			if err != nil {
				t.Fatalf("Get: %v", err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusFound || followed.Load() != 0 {
				t.Errorf("got HTTP %d and %d requests to the target, want the 302 itself and none", resp.StatusCode, followed.Load())
			}
		})
	}
	if given.CheckRedirect != nil {
		t.Error("the given client was changed")
	}
}
