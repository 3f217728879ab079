// Package health serves the probes of a Countersign replica: /healthz
// (the process is alive) and /readyz (it can do its work: the database
// answers, its migrations are current, every enabled chat adapter is
// connected).
//
// The bodies name each check and its status but never an error's text:
// the endpoints are unauthenticated and often reachable from the
// internet, and errors name hosts and users. The causes go to the log.
package health

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"time"
)

// Check is one condition of readiness.
type Check struct {
	// Name identifies the check in the body and the log: "database",
	// "migrations", "slack", "discord".
	Name string
	// Run returns nil when the condition holds. It should return when ctx
	// is done; a check that does not is reported as timed out anyway.
	Run func(ctx context.Context) error
	// Timeout bounds Run; 0 means Options.Timeout.
	Timeout time.Duration
}

// Options configure a Checker.
type Options struct {
	// Timeout bounds each check that sets none; 0 means 2s. Keep it below
	// the probe's timeoutSeconds.
	Timeout time.Duration
	// Logger receives a line when a check starts failing (with the error)
	// and when it recovers; nil discards them.
	Logger *slog.Logger
	// Now is the clock that times checks; nil means time.Now.
	Now func() time.Time
}

// Statuses of a check in Report.
const (
	StatusOK      = "ok"
	StatusFailing = "failing"
	StatusTimeout = "timeout"
)

// Overall statuses in Report.
const (
	Ready   = "ready"
	Unready = "unready"
)

// Report is the body of /readyz.
type Report struct {
	Status string   `json:"status"` // Ready or Unready
	Checks []Result `json:"checks"` // in the order the checks were given
}

// Result is the outcome of one check.
type Result struct {
	Name       string  `json:"name"`
	Status     string  `json:"status"` // StatusOK, StatusFailing or StatusTimeout
	DurationMS float64 `json:"duration_ms"`
	// Err is why the check failed; it is logged, never sent.
	Err error `json:"-"`
}

// Checker runs the readiness checks; it is the http.Handler of /readyz.
// It is safe for concurrent use.
type Checker struct {
	checks  []Check
	timeout time.Duration
	log     *slog.Logger
	now     func() time.Time

	mu   sync.Mutex
	last map[string]string // status of each check at its previous run
}

// New returns a Checker of checks.
func New(opts Options, checks ...Check) *Checker {
	c := &Checker{
		checks:  checks,
		timeout: opts.Timeout,
		log:     opts.Logger,
		now:     opts.Now,
		last:    map[string]string{},
	}
	if c.timeout <= 0 {
		c.timeout = 2 * time.Second
	}
	if c.log == nil {
		c.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if c.now == nil {
		c.now = time.Now
	}
	return c
}

// Database is what the database checks need; *store.Store implements it.
type Database interface {
	Ping(ctx context.Context) error
	MigrationsCurrent(ctx context.Context) (bool, error)
}

// ErrMigrationsPending fails the migrations check while the schema is
// behind this build: run "countersign migrate".
var ErrMigrationsPending = errors.New("database migrations are not current; run countersign migrate")

// DatabaseChecks returns the checks "database" (db answers a ping) and
// "migrations" (both schemas are fully migrated).
func DatabaseChecks(db Database) []Check {
	return []Check{
		{Name: "database", Run: db.Ping},
		{Name: "migrations", Run: func(ctx context.Context) error {
			ok, err := db.MigrationsCurrent(ctx)
			if err != nil {
				return err
			}
			if !ok {
				return ErrMigrationsPending
			}
			return nil
		}},
	}
}

// Run runs every check at once, each under its timeout, and reports them.
func (c *Checker) Run(ctx context.Context) Report {
	results := make([]Result, len(c.checks))
	var wg sync.WaitGroup
	for i, ch := range c.checks {
		wg.Go(func() { results[i] = c.run(ctx, ch) })
	}
	wg.Wait()
	rep := Report{Status: Ready, Checks: results}
	for _, r := range results {
		if r.Status != StatusOK {
			rep.Status = Unready
		}
	}
	c.logChanges(ctx, results)
	return rep
}

// run runs one check. The check runs in its own goroutine so that one that
// ignores its context cannot hold the probe past the timeout.
func (c *Checker) run(ctx context.Context, ch Check) Result {
	timeout := ch.Timeout
	if timeout <= 0 {
		timeout = c.timeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	start := c.now()
	done := make(chan error, 1) // buffered: a late check must not block forever
	go func() { done <- ch.Run(ctx) }()
	r := Result{Name: ch.Name, Status: StatusOK}
	select {
	case r.Err = <-done:
		if r.Err != nil {
			r.Status = StatusFailing
			if ctx.Err() != nil {
				r.Status = StatusTimeout
			}
		}
	case <-ctx.Done():
		r.Status, r.Err = StatusTimeout, ctx.Err()
	}
	r.DurationMS = float64(c.now().Sub(start).Microseconds()) / 1000
	return r
}

// logChanges logs each check that started failing, with its error, and
// each that recovered; an unchanged status is not logged again, so a
// probe every few seconds does not flood the log.
func (c *Checker) logChanges(ctx context.Context, results []Result) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, r := range results {
		prev, seen := c.last[r.Name]
		c.last[r.Name] = r.Status
		switch {
		case r.Status != StatusOK && prev != r.Status:
			c.log.WarnContext(ctx, "readiness check failing", "check", r.Name, "status", r.Status, "err", r.Err)
		case r.Status == StatusOK && seen && prev != StatusOK:
			c.log.InfoContext(ctx, "readiness check recovered", "check", r.Name)
		}
	}
}

// ServeHTTP serves /readyz: 200 with the report when every check passes,
// 503 when any fails.
func (c *Checker) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rep := c.Run(r.Context())
	code := http.StatusOK
	if rep.Status != Ready {
		code = http.StatusServiceUnavailable
	}
	writeJSON(w, code, rep)
}

// Live is the handler of /healthz: it answers 200 while the process can
// serve HTTP at all, and checks nothing else, so a database outage makes
// replicas unready rather than restarting them.
func Live() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, struct {
			Status string `json:"status"`
		}{StatusOK})
	})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}
