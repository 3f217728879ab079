package health

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/countersign/countersign/internal/testdb"
)

// cutProxy forwards TCP connections to upstream until cut, which closes
// every open connection and refuses new ones until restore: the database
// "goes away" for the client without touching the shared server.
type cutProxy struct {
	ln       net.Listener
	upstream string

	mu    sync.Mutex
	down  bool
	conns map[net.Conn]struct{}
	wg    sync.WaitGroup
}

func startProxy(t *testing.T, upstream string) *cutProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("proxy listen: %v", err)
	}
	p := &cutProxy{ln: ln, upstream: upstream, conns: map[net.Conn]struct{}{}}
	p.wg.Go(p.accept)
	t.Cleanup(func() {
		ln.Close()
		p.cut()
		p.wg.Wait()
	})
	return p
}

func (p *cutProxy) addr() string { return p.ln.Addr().String() }

func (p *cutProxy) accept() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return // listener closed
		}
		p.mu.Lock()
		down := p.down
		p.mu.Unlock()
		if down {
			c.Close()
			continue
		}
		up, err := net.DialTimeout("tcp", p.upstream, 5*time.Second)
		if err != nil {
			c.Close()
			continue
		}
		if !p.track(c, up) {
			continue
		}
		p.wg.Go(func() { p.pipe(c, up) })
		p.wg.Go(func() { p.pipe(up, c) })
	}
}

// track registers a connection pair, or closes it when cut came first.
func (p *cutProxy) track(c, up net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.down {
		c.Close()
		up.Close()
		return false
	}
	p.conns[c], p.conns[up] = struct{}{}, struct{}{}
	return true
}

func (p *cutProxy) pipe(dst, src net.Conn) {
	_, _ = io.Copy(dst, src)
	dst.Close()
	src.Close()
	p.mu.Lock()
	delete(p.conns, dst)
	delete(p.conns, src)
	p.mu.Unlock()
}

func (p *cutProxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = true
	for c := range p.conns {
		c.Close()
	}
}

func (p *cutProxy) restore() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = false
}

// TestReadyFollowsTheDatabase opens the store through a proxy in front of
// the test PostgreSQL server, cuts the proxy and restores it: /readyz must
// turn unready and ready again, and /healthz must stay live throughout.
func TestReadyFollowsTheDatabase(t *testing.T) {
	u, err := url.Parse(testdb.Postgres(t))
	if err != nil {
		t.Fatalf("parsing the test database URL: %v", err)
	}
	p := startProxy(t, u.Host)
	u.Host = p.addr()

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	st := testdb.Open(t, u.String())

	h := New(Options{Timeout: 5 * time.Second}, DatabaseChecks(st)...)
	live := Live()
	step := func(name string, wantCode int, want []statusOnly) {
		t.Helper()
		code, rep := get(t, h, "/readyz")
		if code != wantCode {
			t.Errorf("%s: /readyz status %d, want %d", name, code, wantCode)
		}
		if diff := cmp.Diff(want, statuses(rep)); diff != "" {
			t.Errorf("%s: checks (-want +got):\n%s", name, diff)
		}
		if code, _ := get(t, live, "/healthz"); code != http.StatusOK {
			t.Errorf("%s: /healthz status %d, want 200", name, code)
		}
	}

	step("before migrating", http.StatusServiceUnavailable,
		[]statusOnly{{"database", StatusOK}, {"migrations", StatusFailing}})
	if err := st.Migrate(ctx); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	step("migrated", http.StatusOK,
		[]statusOnly{{"database", StatusOK}, {"migrations", StatusOK}})

	p.cut()
	if err := st.Ping(ctx); err == nil {
		t.Fatal("Ping through a cut proxy: got nil")
	}
	step("database gone", http.StatusServiceUnavailable,
		[]statusOnly{{"database", StatusFailing}, {"migrations", StatusFailing}})

	p.restore()
	step("database back", http.StatusOK,
		[]statusOnly{{"database", StatusOK}, {"migrations", StatusOK}})
	if _, _, err := st.AuditHead(ctx); err != nil {
		t.Errorf("AuditHead after the database came back: %v", err)
	}
}
