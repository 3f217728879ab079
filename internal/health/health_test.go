package health

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// get serves one request to h and decodes the JSON body.
func get(t *testing.T, h http.Handler, path string) (int, Report) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
	if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
		t.Errorf("GET %s: Content-Type %q, want application/json", path, ct)
	}
	var rep Report
	if err := json.Unmarshal(rec.Body.Bytes(), &rep); err != nil {
		t.Fatalf("GET %s: decoding %q: %v", path, rec.Body, err)
	}
	return rec.Code, rep
}

func ok(context.Context) error { return nil }

// hang ignores its context, as a check stuck in a library might.
func hang(release <-chan struct{}) func(context.Context) error {
	return func(context.Context) error { <-release; return nil }
}

type statusOnly struct{ Name, Status string }

func statuses(rep Report) []statusOnly {
	var out []statusOnly
	for _, r := range rep.Checks {
		out = append(out, statusOnly{r.Name, r.Status})
	}
	return out
}

func TestReady(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	secret := errors.New(`connecting to postgres://countersign:hunter2@db.internal:5432: refused`)
	for _, tt := range []struct {
		name     string
		checks   []Check
		wantCode int
		want     Report
	}{
		{
			name:     "no checks",
			wantCode: http.StatusOK,
			want:     Report{Status: Ready},
		},
		{
			name:     "all pass",
			checks:   []Check{{Name: "database", Run: ok}, {Name: "slack", Run: ok}},
			wantCode: http.StatusOK,
			want:     Report{Status: Ready, Checks: []Result{{Name: "database", Status: StatusOK}, {Name: "slack", Status: StatusOK}}},
		},
		{
			name: "one fails",
			checks: []Check{
				{Name: "database", Run: func(context.Context) error { return secret }},
				{Name: "slack", Run: ok},
			},
			wantCode: http.StatusServiceUnavailable,
			want:     Report{Status: Unready, Checks: []Result{{Name: "database", Status: StatusFailing}, {Name: "slack", Status: StatusOK}}},
		},
		{
			name: "one ignores its timeout",
			checks: []Check{
				{Name: "database", Run: ok},
				{Name: "discord", Run: hang(release), Timeout: 20 * time.Millisecond},
			},
			wantCode: http.StatusServiceUnavailable,
			want:     Report{Status: Unready, Checks: []Result{{Name: "database", Status: StatusOK}, {Name: "discord", Status: StatusTimeout}}},
		},
		{
			name: "one returns its context's error",
			checks: []Check{{Name: "database", Timeout: 20 * time.Millisecond, Run: func(ctx context.Context) error {
				<-ctx.Done()
				return ctx.Err()
			}}},
			wantCode: http.StatusServiceUnavailable,
			want:     Report{Status: Unready, Checks: []Result{{Name: "database", Status: StatusTimeout}}},
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			New(Options{Timeout: 5 * time.Second}, tt.checks...).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/readyz", nil))
			if rec.Code != tt.wantCode {
				t.Errorf("status: got %d, want %d", rec.Code, tt.wantCode)
			}
			if strings.Contains(rec.Body.String(), "hunter2") || strings.Contains(rec.Body.String(), "db.internal") {
				t.Errorf("body shows the error: %s", rec.Body)
			}
			var got Report
			if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
				t.Fatalf("decoding %q: %v", rec.Body, err)
			}
			if diff := cmp.Diff(tt.want, got, cmpopts.IgnoreFields(Result{}, "DurationMS"), cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("report (-want +got):\n%s", diff)
			}
		})
	}
}

func TestChecksRunConcurrently(t *testing.T) {
	// Each check waits for the other to start: run one after the other,
	// they would both time out.
	a, b := make(chan struct{}), make(chan struct{})
	meet := func(mine, theirs chan struct{}) func(context.Context) error {
		return func(ctx context.Context) error {
			close(mine)
			select {
			case <-theirs:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		}
	}
	rep := New(Options{Timeout: 5 * time.Second},
		Check{Name: "a", Run: meet(a, b)}, Check{Name: "b", Run: meet(b, a)}).Run(context.Background())
	if rep.Status != Ready {
		t.Errorf("got %+v, want both checks ok", statuses(rep))
	}
}

func TestDurationIsReported(t *testing.T) {
	clock := time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)
	now := func() time.Time { clock = clock.Add(1250 * time.Microsecond); return clock }
	rep := New(Options{Now: now}, Check{Name: "database", Run: ok}).Run(context.Background())
	if got := rep.Checks[0].DurationMS; got != 1.25 {
		t.Errorf("duration_ms: got %v, want 1.25", got)
	}
}

type fakeDB struct {
	ping    error
	current bool
	err     error
}

func (f fakeDB) Ping(context.Context) error                      { return f.ping }
func (f fakeDB) MigrationsCurrent(context.Context) (bool, error) { return f.current, f.err }

func TestDatabaseChecks(t *testing.T) {
	down := errors.New("connection refused")
	for _, tt := range []struct {
		name string
		db   fakeDB
		want []statusOnly
	}{
		{"current", fakeDB{current: true}, []statusOnly{{"database", StatusOK}, {"migrations", StatusOK}}},
		{"pending", fakeDB{current: false}, []statusOnly{{"database", StatusOK}, {"migrations", StatusFailing}}},
		{"down", fakeDB{ping: down, err: down}, []statusOnly{{"database", StatusFailing}, {"migrations", StatusFailing}}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			rep := New(Options{}, DatabaseChecks(tt.db)...).Run(context.Background())
			if diff := cmp.Diff(tt.want, statuses(rep)); diff != "" {
				t.Errorf("checks (-want +got):\n%s", diff)
			}
		})
	}
	rep := New(Options{}, DatabaseChecks(fakeDB{current: false})...).Run(context.Background())
	if !errors.Is(rep.Checks[1].Err, ErrMigrationsPending) {
		t.Errorf("migrations pending: got error %v, want ErrMigrationsPending", rep.Checks[1].Err)
	}
}

func TestFailuresAreLoggedOncePerChange(t *testing.T) {
	var logs bytes.Buffer
	var fail error
	c := New(Options{Logger: slog.New(slog.NewJSONHandler(&logs, nil))},
		Check{Name: "database", Run: func(context.Context) error { return fail }})
	ctx := context.Background()
	c.Run(ctx) // ok at start: nothing to say
	fail = errors.New("dial tcp 10.0.0.5:5432: connection refused")
	c.Run(ctx)
	c.Run(ctx) // still failing: not logged again
	fail = nil
	c.Run(ctx)
	c.Run(ctx)

	type line struct {
		Level, Msg, Check, Err string
	}
	var got []line
	dec := json.NewDecoder(&logs)
	for dec.More() {
		var l line
		if err := dec.Decode(&l); err != nil {
			t.Fatalf("decoding log: %v", err)
		}
		got = append(got, l)
	}
	want := []line{
		{"WARN", "readiness check failing", "database", "dial tcp 10.0.0.5:5432: connection refused"},
		{"INFO", "readiness check recovered", "database", ""},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("log lines (-want +got):\n%s", diff)
	}
}

func TestLive(t *testing.T) {
	code, rep := get(t, Live(), "/healthz")
	if code != http.StatusOK || rep.Status != StatusOK {
		t.Errorf("GET /healthz: got %d %q, want 200 %q", code, rep.Status, StatusOK)
	}
}
