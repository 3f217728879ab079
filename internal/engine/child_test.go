package engine

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/countersign/countersign/internal/changes"
	"github.com/countersign/countersign/internal/httpx"
	"github.com/countersign/countersign/internal/store"
	"github.com/countersign/countersign/internal/testdb"
	"github.com/countersign/countersign/providers"
	"github.com/countersign/countersign/providers/tmcas"
)

// The test binary doubles as a countersign replica: with these variables
// set, TestMain runs an engine against the store and a TMCAS server until
// its standard input closes, and is killed by the tests at will.
const (
	envChildStore  = "COUNTERSIGN_ENGINE_CHILD_STORE"
	envChildTMCAS  = "COUNTERSIGN_ENGINE_CHILD_TMCAS"
	envChildToken  = "COUNTERSIGN_ENGINE_CHILD_TOKEN"
	envChildID     = "COUNTERSIGN_ENGINE_CHILD_ID"
	envChildTuning = "COUNTERSIGN_ENGINE_CHILD_TUNING" // "fast", or the defaults
	envChildPoll   = "COUNTERSIGN_ENGINE_CHILD_POLL"   // poll interval
)

func TestMain(m *testing.M) {
	if os.Getenv(envChildStore) != "" {
		if err := runChild(); err != nil {
			fmt.Fprintln(os.Stderr, "child:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// childMaxItems is how many accounts one TMCAS call of a child carries, so
// that requests with more targets take several fenced steps.
const childMaxItems = 2

func runChild() error {
	ctx := context.Background()
	log := slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	s, err := store.Open(ctx, os.Getenv(envChildStore), store.Options{AuditKey: []byte(testdb.AuditKey), Logger: log})
	if err != nil {
		return err
	}
	defer s.Close()
	client, err := tmcas.New(tmcas.Config{
		BaseURL:           os.Getenv(envChildTMCAS),
		Token:             os.Getenv(envChildToken),
		RequestsPerMinute: 10_000,
		MaxItemsPerCall:   childMaxItems,
		MaxRetries:        3,
		RetryInitial:      20 * time.Millisecond,
		RetryMax:          100 * time.Millisecond,
	})
	if err != nil {
		return err
	}
	router, err := providers.NewRouter(nil, client)
	if err != nil {
		return err
	}
	poll, err := time.ParseDuration(os.Getenv(envChildPoll))
	if err != nil {
		return err
	}
	// Each change the engine stores is printed, so that the parent waits on
	// the database as the output tells of changes.
	cfg := Config{Store: s, Providers: router, Logger: log, ID: os.Getenv(envChildID), PollInterval: poll,
		Notifier: printer{}, NotifyInterval: 5 * time.Millisecond}
	if os.Getenv(envChildTuning) == "fast" {
		cfg.FetchPollInterval = 25 * time.Millisecond
		cfg.JobTimeout, cfg.RescueStuckJobsAfter = 5*time.Second, 6*time.Second
	}
	e, err := New(cfg)
	if err != nil {
		return err
	}
	if err := e.Start(ctx); err != nil {
		return err
	}
	fmt.Println("started")
	if _, err := io.Copy(io.Discard, os.Stdin); err != nil { // runs until the parent closes stdin
		return err
	}
	stop, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	return e.Stop(stop)
}

// printer is a child's Notifier: it prints "changed ID" for each call.
type printer struct{}

func (printer) Changed(_ context.Context, id int64) { fmt.Printf("changed %d\n", id) }

// child is a replica process.
type child struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	out    *logBuffer // stdout and stderr; its changes are told of every line and of the exit
	done   chan error
	exited chan struct{} // closed when the process is gone
}

// startChild starts a replica with the given settings.
func startChild(t testing.TB, storeURL, tmcasURL, token, id, tuning string, poll time.Duration) *child {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(),
		envChildStore+"="+storeURL, envChildTMCAS+"="+tmcasURL, envChildToken+"="+token,
		envChildID+"="+id, envChildTuning+"="+tuning, envChildPoll+"="+poll.String())
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	c := &child{cmd: cmd, stdin: stdin, out: &logBuffer{}, done: make(chan error, 1), exited: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = c.out, c.out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		err := cmd.Wait()
		close(c.exited)
		c.out.changes.Notify()
		c.done <- err
	}()
	t.Cleanup(func() {
		if c.cmd.ProcessState == nil {
			c.kill()
		}
	})
	return c
}

// kill sends SIGKILL and waits for the process to be gone.
func (c *child) kill() {
	_ = c.cmd.Process.Kill()
	<-c.done
}

// stop asks for a graceful stop and waits for it.
func (c *child) stop(ctx context.Context) error {
	c.stdin.Close()
	select {
	case err := <-c.done:
		if err != nil {
			return fmt.Errorf("child exited with %w:\n%s", err, tail(c.out.String(), 4000))
		}
		return nil
	case <-ctx.Done():
		c.kill()
		return errors.New("child did not stop in time")
	}
}

// started waits until the child announced that its engine runs.
func (c *child) started(ctx context.Context) error {
	exited := false
	err := c.out.changes.Wait(ctx, func() bool {
		select {
		case <-c.exited:
			exited = true
			return true
		default:
			return strings.Contains(c.out.String(), "started\n")
		}
	})
	if exited {
		return fmt.Errorf("child exited:\n%s", tail(c.out.String(), 4000))
	}
	return err
}

// changes is told of the child's output and exit: it prints a line for
// each change its engine stores.
func (c *child) changes() *changes.Signal { return &c.out.changes }

func tail(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}

// hit is one request that reached the provider through the tap.
type hit struct {
	method, path, token string
	batch               string // batch_id of a poll
	at                  time.Time
}

// tap is a reverse proxy in front of a fake provider that reports every
// request as it arrives, before the provider answers, and can slow POSTs
// down on both sides of the provider.
type tap struct {
	srv  *httptest.Server
	hits chan hit
}

func newTap(t testing.TB, target string, postDelay time.Duration) *tap {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	tp := &tap{hits: make(chan hit, 100_000)}
	proxy := httputil.NewSingleHostReverseProxy(u)
	proxy.ErrorHandler = func(w http.ResponseWriter, _ *http.Request, _ error) { w.WriteHeader(http.StatusBadGateway) }
	proxy.ModifyResponse = func(resp *http.Response) error {
		if resp.Request.Method == http.MethodPost {
			_ = httpx.Sleep(resp.Request.Context(), postDelay) // the provider acted; the answer is late
		}
		return nil
	}
	tp.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, tok, _ := strings.Cut(r.Header.Get("Authorization"), " ")
		select {
		case tp.hits <- hit{method: r.Method, path: r.URL.Path, token: tok, batch: r.URL.Query().Get("batch_id"), at: time.Now()}:
		default:
		}
		if r.Method == http.MethodPost {
			// With the body read, the server notices a client that dies
			// now, and the provider never sees the request.
			body, err := io.ReadAll(r.Body)
			if err != nil {
				return
			}
			r.Body = io.NopCloser(bytes.NewReader(body))
			_ = httpx.Sleep(r.Context(), postDelay) // a slow network
		}
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(tp.srv.Close)
	return tp
}
