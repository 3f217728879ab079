package tmcas

import (
	"context"
	"fmt"
	"net/url"
	"strings"

	"github.com/countersign/countersign/internal/httpx"
)

// maxPages bounds one pagination: 200 pages is 100,000 results or 200,000
// swept mails, and ten minutes of a 20-per-minute token.
const maxPages = 200

// paginate GETs u and every next_link after it, pages of P, and calls each
// with every page. Every page goes through the caller, so it counts against
// the rate limit and is retried like any GET.
func paginate[P page](ctx context.Context, c *Client, u *url.URL, api string, each func(P)) error {
	seen := map[string]bool{u.String(): true}
	for n := 1; ; n++ {
		var next string
		err := c.get(ctx, u, api, func(b []byte) (string, error) {
			p, err := decodePage[P](b)
			if err != nil {
				return p.head().TraceID, err
			}
			each(p)
			next = p.head().NextLink
			return p.head().TraceID, nil
		})
		if err != nil {
			if n > 1 {
				return fmt.Errorf("page %d: %w", n, err)
			}
			return err
		}
		if !hasNext(next) {
			return nil
		}
		if n == maxPages {
			return fmt.Errorf("tmcas: %s: more than %d pages", u.Path, maxPages)
		}
		nu, err := c.follow(next)
		if err != nil {
			return err
		}
		if seen[nu.String()] {
			return fmt.Errorf("tmcas: %s: next_link repeats an earlier page", nu.Path)
		}
		seen[nu.String()] = true
		u = nu
	}
}

// follow checks a next_link before it is called: only a link to the
// configured scheme and host gets the token.
func (c *Client) follow(link string) (*url.URL, error) {
	u, err := url.Parse(strings.TrimSpace(link))
	if err != nil {
		return nil, fmt.Errorf("tmcas: next_link is not a URL: %w", httpx.StripURL(err))
	}
	u = c.base.ResolveReference(u)
	if !sameOrigin(u, c.base) {
		return nil, fmt.Errorf("%w: %s://%s", ErrForeignLink, u.Scheme, u.Host)
	}
	if u.User != nil {
		return nil, fmt.Errorf("%w: it carries user information", ErrForeignLink)
	}
	return u, nil
}

func sameOrigin(a, b *url.URL) bool {
	return strings.EqualFold(a.Scheme, b.Scheme) &&
		strings.EqualFold(a.Hostname(), b.Hostname()) &&
		port(a) == port(b)
}

func port(u *url.URL) string {
	if p := u.Port(); p != "" {
		return p
	}
	switch strings.ToLower(u.Scheme) {
	case "https":
		return "443"
	case "http":
		return "80"
	}
	return ""
}

// endpoint returns the URL of a /v1 path under the base URL.
func (c *Client) endpoint(path string, q url.Values) *url.URL {
	u := *c.base
	u.Path = strings.TrimRight(c.base.Path, "/") + path
	u.RawPath = ""
	u.RawQuery = q.Encode()
	return &u
}
