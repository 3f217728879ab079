// Package engine runs approved requests to their final state (DESIGN §5).
//
// Each approved request has one River job (jobs.Execute, enqueued by the
// approving transaction). An attempt of that job claims the request with a
// new fence, resolves its targets again, submits the approved items to the
// provider in fenced steps, then polls once per attempt and snoozes until
// every item is terminal. A crash inside the submit window is never
// resubmitted: the request goes to needs_attention and an alert is raised.
// Every change of an item's status is stored, and a Notifier is told
// about it at most once per second per request.
//
// Leader-only periodic work (the expiry sweep, the digest) runs as River
// periodic jobs on cron schedules, at most once per schedule slot across
// replicas and restarts.
package engine

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/riverqueue/river"

	"github.com/countersign/countersign/internal/jobs"
	"github.com/countersign/countersign/internal/store"
	"github.com/countersign/countersign/providers"
)

// Defaults of Config.
const (
	DefaultPollInterval         = 15 * time.Second
	DefaultPollDeadline         = 2 * time.Hour
	DefaultWorkers              = 10
	DefaultExpirySweep          = "@every 1m"
	DefaultJobTimeout           = 10 * time.Second
	DefaultRescueStuckJobsAfter = 12 * time.Second
	DefaultFetchPollInterval    = time.Second
	DefaultNotifyInterval       = time.Second
	DefaultPeriodicTimeout      = 5 * time.Minute
)

// Providers finds a configured provider by name; *providers.Router
// satisfies it.
type Providers interface {
	Provider(name string) (providers.Provider, bool)
}

// Config configures an Engine. Store and Providers are required; zero
// values of the rest take the defaults above.
type Config struct {
	// Store holds the requests and River's jobs (store.NewRiverClient).
	Store *store.Store
	// Providers finds the provider a request was routed to.
	Providers Providers
	// Notifier is told when a request's stored state changed, through a
	// coalescer: at most once per NotifyInterval per request, with a
	// trailing call after a burst so the final state is always delivered.
	// Nil tells no one.
	Notifier Notifier
	// Logger receives one line per notable event; nil discards.
	Logger *slog.Logger
	// Now is the clock of request state (expiry, deadlines, audit times);
	// nil means time.Now. River schedules jobs on the wall clock.
	Now func() time.Time

	// PollInterval is the wait between polls of a submitted request.
	PollInterval time.Duration
	// PollDeadline is how long after approval a request may run before the
	// engine stops and marks it needs_attention.
	PollDeadline time.Duration
	// Workers is how many requests this process executes at once.
	Workers int
	// Expirer expires unanswered requests; the engine runs it on the
	// leader on the ExpirySweep schedule and tells the Notifier of every
	// request it expired. Nil runs no sweep.
	Expirer Expirer
	// ExpirySweep is the cron schedule (5 fields, or a descriptor such as
	// @hourly or @every 1m) of the sweep that expires unanswered requests.
	ExpirySweep string
	// Periodic are further leader-only jobs, such as the digest.
	Periodic []Periodic

	// ID is this replica's River client id. Set it to a name that is stable
	// across restarts of the same replica and unique among running ones
	// (a host or pod name): a restarted replica then resumes the jobs it
	// was running and its leadership at once, instead of waiting for the
	// rescuer. Empty means a random id per start.
	ID string
	// JobTimeout bounds one attempt (one submission step or one poll).
	JobTimeout time.Duration
	// RescueStuckJobsAfter is when a job whose replica died is given to
	// another one. With the defaults, polling resumes within about 50 s of
	// a replica being killed: this, plus up to 30 s until the leader's
	// rescuer runs (it also runs when a replica becomes leader, so killing
	// the leader is no slower), plus up to 7 s of retry and scheduling.
	RescueStuckJobsAfter time.Duration
	// FetchPollInterval is how often idle workers look for jobs that were
	// not announced (snoozed jobs coming due; every job on SQLite).
	FetchPollInterval time.Duration
	// NotifyInterval is the least time between two Notifier calls for one
	// request.
	NotifyInterval time.Duration
	// PeriodicTimeout bounds one run of a periodic job.
	PeriodicTimeout time.Duration

	// Metrics, when set, is told how long each request ran.
	Metrics ExecutionObserver

	// Protected are policy.protected_targets. They were checked when the
	// request was filed and are checked again, against each target's fresh
	// identity, right before it is acted on.
	Protected []string
}

// Engine executes approved requests and runs periodic jobs.
type Engine struct {
	store     *store.Store
	providers Providers
	log       *slog.Logger
	now       func() time.Time
	cfg       Config
	river     store.RiverClient
	notify    *coalescer
	periodic  map[string]*periodicJob
}

// Expirer expires the pending requests whose TTL has passed and returns
// their ids; *workflow.Service implements it.
type Expirer interface {
	ExpireDue(ctx context.Context) ([]int64, error)
}

// ExecutionObserver records execution times; *metrics.Metrics implements
// it.
type ExecutionObserver interface {
	ObserveExecution(action, provider, outcome string, d time.Duration)
}

// New checks cfg and builds an Engine; Start runs it.
func New(cfg Config) (*Engine, error) {
	if cfg.Store == nil {
		return nil, errors.New("engine: Store is required")
	}
	if cfg.Providers == nil {
		return nil, errors.New("engine: Providers is required")
	}
	cfg.Logger = cmp.Or(cfg.Logger, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	cfg.PollInterval = cmp.Or(cfg.PollInterval, DefaultPollInterval)
	cfg.PollDeadline = cmp.Or(cfg.PollDeadline, DefaultPollDeadline)
	cfg.Workers = cmp.Or(cfg.Workers, DefaultWorkers)
	cfg.ExpirySweep = cmp.Or(cfg.ExpirySweep, DefaultExpirySweep)
	cfg.JobTimeout = cmp.Or(cfg.JobTimeout, DefaultJobTimeout)
	cfg.RescueStuckJobsAfter = cmp.Or(cfg.RescueStuckJobsAfter, DefaultRescueStuckJobsAfter)
	cfg.FetchPollInterval = cmp.Or(cfg.FetchPollInterval, DefaultFetchPollInterval)
	cfg.NotifyInterval = cmp.Or(cfg.NotifyInterval, DefaultNotifyInterval)
	cfg.PeriodicTimeout = cmp.Or(cfg.PeriodicTimeout, DefaultPeriodicTimeout)
	switch {
	case cfg.PollInterval < 0, cfg.PollDeadline < 0, cfg.JobTimeout < 0, cfg.FetchPollInterval < 0,
		cfg.NotifyInterval < 0, cfg.PeriodicTimeout < 0:
		return nil, errors.New("engine: durations must not be negative")
	case cfg.Workers < 0:
		return nil, errors.New("engine: Workers must not be negative")
	case cfg.RescueStuckJobsAfter <= cfg.JobTimeout:
		return nil, fmt.Errorf("engine: RescueStuckJobsAfter (%s) must exceed JobTimeout (%s), or live attempts are rescued",
			cfg.RescueStuckJobsAfter, cfg.JobTimeout)
	}

	e := &Engine{
		store:     cfg.Store,
		providers: cfg.Providers,
		log:       cfg.Logger,
		now:       cfg.Now,
		cfg:       cfg,
		periodic:  map[string]*periodicJob{},
	}
	e.notify = newCoalescer(cfg.Notifier, cfg.NotifyInterval, realClock{}, cfg.Logger)

	all := cfg.Periodic
	if cfg.Expirer != nil {
		sweep := Periodic{Name: expirySweepName, Schedule: cfg.ExpirySweep, Location: time.UTC, Run: e.sweepExpired}
		all = append([]Periodic{sweep}, all...)
	}
	var periodic []*river.PeriodicJob
	for _, p := range all {
		pj, err := newPeriodicJob(p)
		if err != nil {
			return nil, err
		}
		if _, dup := e.periodic[p.Name]; dup {
			return nil, fmt.Errorf("engine: periodic job %q is defined twice", p.Name)
		}
		e.periodic[p.Name] = pj
		periodic = append(periodic, river.NewPeriodicJob(pj.schedule, e.periodicConstructor(pj), &river.PeriodicJobOpts{RunOnStart: true}))
	}

	workers := river.NewWorkers()
	river.AddWorker(workers, &executeWorker{e: e})
	river.AddWorker(workers, &periodicWorker{e: e})
	rc, err := cfg.Store.NewRiverClient(&river.Config{
		ID:     cfg.ID,
		Logger: cfg.Logger.With("component", "river"),
		Queues: map[string]river.QueueConfig{
			jobs.QueueExecute:  {MaxWorkers: cfg.Workers},
			jobs.QueuePeriodic: {MaxWorkers: 2},
		},
		Workers:              workers,
		PeriodicJobs:         periodic,
		JobTimeout:           cfg.JobTimeout,
		RescueStuckJobsAfter: cfg.RescueStuckJobsAfter,
		FetchPollInterval:    cfg.FetchPollInterval,
		FetchCooldown:        min(cfg.FetchPollInterval, 100*time.Millisecond),
	})
	if err != nil {
		return nil, fmt.Errorf("engine: %w", err)
	}
	e.river = rc
	return e, nil
}

// Start releases what an earlier run of this replica (same ID) left
// behind, then starts working jobs. Cancelling ctx stops the engine softly,
// as Stop does without a deadline.
func (e *Engine) Start(ctx context.Context) error {
	n, err := e.store.ReleaseRiverClient(ctx, e.cfg.ID)
	if err != nil {
		return fmt.Errorf("engine: %w", err)
	}
	if n > 0 {
		e.log.InfoContext(ctx, "resuming jobs this replica was running when it stopped", "replica", e.cfg.ID, "jobs", n)
	}
	if err := e.river.Start(ctx); err != nil {
		return fmt.Errorf("engine: starting river: %w", err)
	}
	return nil
}

// Stop stops fetching jobs and waits for the attempts in progress, which
// are short, until ctx is done. It then cancels the rest: each stores what
// it learned and gives its job back at once, and a job that cannot is
// rescued by another replica. Notifications still pending are delivered
// before Stop returns, within ctx or, once ctx is done, within 5 s.
func (e *Engine) Stop(ctx context.Context) error {
	err := e.river.Stop(ctx)
	if ctx.Err() != nil {
		// Out of patience: cancel what runs, and give the cancelled
		// attempts and the last notifications a few seconds of their own.
		hard, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if err != nil {
			err = e.river.StopAndCancel(hard)
		}
		ctx = hard
	}
	if err != nil {
		err = fmt.Errorf("engine: stopping river: %w", err)
	}
	return errors.Join(err, e.notify.close(ctx))
}

// detached returns a context for the store writes that must follow a
// provider call even when the attempt's context has just ended: what the
// provider did must be recorded.
func detached(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
}
