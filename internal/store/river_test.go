package store_test

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/countersign/countersign/internal/testdb"
)

// blockArgs is a job that runs until its context ends.
type blockArgs struct{}

func (blockArgs) Kind() string { return "test.block" }

type blockWorker struct {
	river.WorkerDefaults[blockArgs]
	started chan struct{}
}

func (w *blockWorker) Work(ctx context.Context, _ *river.Job[blockArgs]) error {
	w.started <- struct{}{}
	<-ctx.Done()
	return ctx.Err()
}

// scalar reads one value directly from the database; "" when no row.
func scalar(t *testing.T, url, q string) string {
	t.Helper()
	var v sql.NullString
	if err := testdb.QueryRow(context.Background(), url, q, nil, &v); err != nil && !errors.Is(err, sql.ErrNoRows) {
		t.Fatalf("%s: %v", q, err)
	}
	return v.String
}

func TestReleaseRiverClient(t *testing.T) {
	testdb.Each(t, func(t *testing.T, url string) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		s := testdb.Store(t, url)
		w := &blockWorker{started: make(chan struct{}, 1)}
		workers := river.NewWorkers()
		river.AddWorker(workers, w)
		c, err := s.NewRiverClient(&river.Config{
			ID:                "replica-dead",
			Queues:            map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: 1}},
			Workers:           workers,
			FetchPollInterval: 50 * time.Millisecond,
			FetchCooldown:     10 * time.Millisecond,
			TestOnly:          true,
		})
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Start(ctx); err != nil {
			t.Fatal(err)
		}
		defer func() { _ = c.StopAndCancel(context.Background()) }()
		res, err := c.Insert(ctx, blockArgs{}, nil)
		if err != nil {
			t.Fatal(err)
		}
		select {
		case <-w.started:
		case <-ctx.Done():
			t.Fatal("job never started")
		}
		const leaderQ = `SELECT leader_id || ' ' || CAST(elected_at AS TEXT) FROM river_leader`
		// Only the database knows when River elected the client: poll it.
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		var term string
		for !strings.HasPrefix(term, "replica-dead ") {
			select {
			case <-tick.C:
			case <-ctx.Done():
				t.Fatal("client never became leader")
			}
			term = scalar(t, url, leaderQ)
		}

		if n, err := s.ReleaseRiverClient(ctx, "replica-other"); err != nil || n != 0 {
			t.Fatalf("ReleaseRiverClient(other) = %d, %v; want 0, nil", n, err)
		}
		if got := scalar(t, url, leaderQ); got != term {
			t.Fatalf("leader after releasing another id = %q, want %q kept", got, term)
		}
		if n, err := s.ReleaseRiverClient(ctx, "replica-dead"); err != nil || n != 1 {
			t.Fatalf("ReleaseRiverClient(dead) = %d, %v; want 1, nil", n, err)
		}
		// The live client may win a new term at once; the old one is gone.
		if got := scalar(t, url, leaderQ); got == term {
			t.Fatalf("leader after release = %q, want the term %q ended", got, term)
		}
		list, err := c.JobList(ctx, river.NewJobListParams().States(rivertype.JobStateAvailable))
		if err != nil {
			t.Fatal(err)
		}
		if len(list.Jobs) != 1 || list.Jobs[0].ID != res.Job.ID {
			t.Fatalf("available jobs after release = %d, want the running job %d", len(list.Jobs), res.Job.ID)
		}
	})
}
