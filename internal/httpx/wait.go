package httpx

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"time"
)

// Sleep waits for d or until ctx is done, whichever comes first.
func Sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// PastDeadline reports whether t lies after ctx's deadline, so that waiting
// until t would outlive the call. A caller can then give up at once (and a
// job snooze) instead of holding a worker until the deadline.
func PastDeadline(ctx context.Context, t time.Time) bool {
	dl, ok := ctx.Deadline()
	return ok && t.After(dl)
}

// Loopback reports whether host is localhost or a loopback address: the
// only hosts a client may reach over plain http (fakes, local proxies)
// without sending a token across a network in clear text.
func Loopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// StripURL drops the request URL from a transport error, keeping the
// operation and the cause: query strings hold mailboxes and message ids, and
// errors reach logs, chat and the audit log.
func StripURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return fmt.Errorf("%s: %w", strings.ToLower(ue.Op), ue.Err)
	}
	return err
}
