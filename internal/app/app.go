// Package app assembles Countersign from its configuration: the store, the
// metrics, the provider router, the chat platforms, the workflow, the bot,
// the engine and its periodic jobs (digest, audit checkpoints). serve, the
// demo, the scenario tests and the load tool all build the system here, so
// that what they run is wired the same way; each adds only what is its own
// (an HTTP listener, a console, test platforms, a load driver).
package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/countersign/countersign/bot"
	"github.com/countersign/countersign/internal/config"
	"github.com/countersign/countersign/internal/engine"
	"github.com/countersign/countersign/internal/metrics"
	"github.com/countersign/countersign/internal/store"
	"github.com/countersign/countersign/providers"
	"github.com/countersign/countersign/workflow"
)

// Options are what callers vary around the configuration. The zero value
// is production: serve passes only its logger and version.
type Options struct {
	// Logger receives the system's log; nil discards it.
	Logger *slog.Logger
	// Version is reported by countersign_build_info.
	Version string
	// Store is the store to run on, which the caller keeps and closes;
	// nil opens store.url (Close closes it then).
	Store *store.Store
	// Migrate applies the migrations to the store at start.
	Migrate bool
	// Now is the clock of requests, messages and checkpoints; nil means
	// time.Now. The demo's /wait moves it.
	Now func() time.Time
	// Platforms are chat platforms besides the configured ones: the demo's
	// console, the adapters under test, the load tool's Slack adapter.
	Platforms []Platform
	// NewRef makes the reference ids shown with errors; nil means random.
	NewRef func() string
	// Notifier, when set, wraps the bot as the engine's notifier, so that a
	// caller learns of every render (the demo's settle, the tests' signal).
	// It is given nil when no chat platform is configured.
	Notifier func(bot engine.Notifier) engine.Notifier
	// Tuning are test-only engine knobs; the zero value is production.
	Tuning Tuning
}

// Tuning makes the engine react faster than production needs, so that
// tests and the demo do not wait for it. Zero fields keep the engine's
// defaults.
type Tuning struct {
	// FetchPollInterval is how often idle workers look for jobs.
	FetchPollInterval time.Duration
	// NotifyInterval is the least time between two renders of one request.
	NotifyInterval time.Duration
}

// System is Countersign assembled. New builds it, Start runs it, Close
// stops it.
type System struct {
	Config   *config.Config
	Log      *slog.Logger
	Store    *store.Store
	Metrics  *metrics.Metrics
	Router   *providers.Router
	Workflow *workflow.Service
	// Bot is nil when no chat platform is configured: the replica then
	// only executes approved requests and runs periodic jobs.
	Bot       *bot.Bot
	Engine    *engine.Engine
	Platforms []Platform

	ownStore bool
	started  bool
}

// New builds the system of cfg. Nothing runs until Start; on an error
// everything New opened is closed again.
func New(ctx context.Context, cfg *config.Config, opts Options) (_ *System, err error) {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &System{Config: cfg, Log: log, Store: opts.Store}
	if s.Store == nil {
		if s.Store, err = OpenStore(ctx, cfg, log); err != nil {
			return nil, err
		}
		s.ownStore = true
		defer func() {
			if err != nil {
				s.Store.Close()
			}
		}()
	}
	if opts.Migrate {
		if err := s.Store.Migrate(ctx); err != nil {
			return nil, fmt.Errorf("migrating: %w", err)
		}
	}
	s.Metrics = metrics.New(metrics.Options{Source: s.Store, Version: opts.Version, Logger: log})
	if s.Router, err = Router(cfg, log, s.Metrics); err != nil {
		return nil, err
	}
	configured, err := Platforms(cfg, log, s.Metrics, s.Store)
	if err != nil {
		return nil, err
	}
	s.Platforms = append(configured, opts.Platforms...)
	s.Workflow, err = workflow.New(workflow.Config{Store: s.Store, Providers: s.Router, Policy: cfg.Policy(),
		Admin: cfg.IsAdmin, Logger: log, Now: opts.Now, Metrics: s.Metrics})
	if err != nil {
		return nil, err
	}
	var notifier engine.Notifier
	if len(s.Platforms) > 0 {
		chats, access := map[string]bot.Chat{}, map[string]bot.Access{}
		for _, p := range s.Platforms {
			chats[p.Name], access[p.Name] = p.Chat, p.Access
		}
		s.Bot, err = bot.New(bot.Config{Workflow: s.Workflow, Store: s.Store, Chats: chats, Access: access,
			Logger: log, Now: opts.Now, NewRef: opts.NewRef})
		if err != nil {
			return nil, err
		}
		notifier = s.Bot
	} else {
		log.Warn("no chat platform is configured: this replica only executes approved requests and runs periodic jobs")
	}
	if opts.Notifier != nil {
		notifier = opts.Notifier(notifier)
	}
	periodic, err := s.periodic(opts.Now)
	if err != nil {
		return nil, err
	}
	s.Engine, err = engine.New(engine.Config{
		Store: s.Store, Providers: s.Router, Notifier: notifier, Expirer: s.Workflow, Logger: log, Now: opts.Now,
		PollInterval: cfg.Engine.PollInterval, PollDeadline: cfg.Engine.PollDeadline,
		Workers: cfg.Engine.Workers, ExpirySweep: cfg.Engine.ExpirySweep,
		FetchPollInterval: opts.Tuning.FetchPollInterval, NotifyInterval: opts.Tuning.NotifyInterval,
		Metrics: s.Metrics, ID: replicaID(s.Store), Periodic: periodic, Protected: cfg.Policy().Protected,
	})
	if err != nil {
		return nil, fmt.Errorf("configuring the engine: %w", err)
	}
	return s, nil
}

// Start runs the platforms' start-up steps (such as registering Discord's
// commands), the engine, and the platforms' outgoing connections (Socket
// Mode, the Gateway), which end with ctx. A failed start-up step is logged:
// commands registered before still work.
func (s *System) Start(ctx context.Context) error {
	for _, p := range s.Platforms {
		if p.Start != nil {
			if err := p.Start(ctx); err != nil {
				s.Log.Error("chat platform start-up step failed", "platform", p.Name, "err", err)
			}
		}
	}
	if err := s.Engine.Start(ctx); err != nil {
		return fmt.Errorf("starting the engine: %w", err)
	}
	s.started = true
	for _, p := range s.Platforms {
		if p.Run != nil {
			go func() {
				if err := p.Run(ctx, s.Bot); err != nil && ctx.Err() == nil {
					s.Log.Error("chat connection ended", "platform", p.Name, "err", err)
				}
			}()
		}
	}
	return nil
}

// Close stops the engine within ctx (jobs still running are handed back,
// to resume on another replica or after a restart), waits for the bot's
// and the platforms' background work, and closes the store if New opened
// it.
func (s *System) Close(ctx context.Context) error {
	var err error
	if s.started {
		err = s.Engine.Stop(ctx)
		s.started = false
	}
	if s.Bot != nil {
		s.Bot.Wait()
	}
	for _, p := range s.Platforms {
		if p.Wait != nil {
			p.Wait()
		}
	}
	if s.ownStore {
		err = errors.Join(err, s.Store.Close())
	}
	return err
}

// replicaID names this replica to River. On SQLite there is one replica per
// database, so the host name is stable and unique, and a restart resumes
// its jobs at once instead of waiting for River's rescuer. On PostgreSQL
// several replicas may share a host name (two processes on one machine), so
// each start gets a random id and a dead replica's jobs are rescued after
// engine.DefaultRescueStuckJobsAfter.
func replicaID(st *store.Store) string {
	if st.Dialect() != store.SQLite {
		return ""
	}
	host, err := os.Hostname()
	if err != nil {
		return ""
	}
	return "countersign-" + host
}
