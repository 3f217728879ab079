package httpx

import (
	"errors"
	"net/url"
	"testing"
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
