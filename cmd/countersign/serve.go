package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/countersign/countersign/bot"
	"github.com/countersign/countersign/internal/config"
	"github.com/countersign/countersign/internal/engine"
	"github.com/countersign/countersign/internal/health"
	"github.com/countersign/countersign/internal/metrics"
	"github.com/countersign/countersign/internal/store"
	"github.com/countersign/countersign/workflow"
)

// runServe runs the bot until ctx is cancelled (SIGINT or SIGTERM), then
// shuts down gracefully: in-flight HTTP requests finish, workers stop and
// their jobs resume on another replica or after restart.
func runServe(ctx context.Context, e env, args []string) error {
	return serve(ctx, e, args, func(addr string) (net.Listener, error) { return net.Listen("tcp", addr) })
}

// serve is runServe with the listener supplied, so tests can learn the port.
func serve(ctx context.Context, e env, args []string, listen func(addr string) (net.Listener, error)) error {
	fs := newFlags("serve", e)
	path := configFlag(fs)
	migrate := fs.Bool("migrate", true, "apply database migrations at start-up")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	cfg, err := loadConfig(*path, e)
	if err != nil {
		return err
	}
	log := newLogger(cfg, e.stderr)
	st, err := openStore(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer st.Close()
	if *migrate {
		if err := st.Migrate(ctx); err != nil {
			return fmt.Errorf("migrating: %w", err)
		}
	}
	m := metrics.New(metrics.Options{Source: st, Version: version, Logger: log})
	router, err := newRouter(cfg, log, m)
	if err != nil {
		return err
	}
	adapters, err := newAdapters(cfg, log, m, st)
	if err != nil {
		return err
	}
	wf, err := workflow.New(workflow.Config{Store: st, Providers: router, Policy: cfg.Policy(), Admin: cfg.IsAdmin, Logger: log, Metrics: m})
	if err != nil {
		return err
	}
	checks := health.DatabaseChecks(st)
	mux := http.NewServeMux()
	var notifier engine.Notifier
	var b *bot.Bot
	if len(adapters) > 0 {
		chats, access := map[string]bot.Chat{}, map[string]bot.Access{}
		for _, a := range adapters {
			chats[a.name], access[a.name] = a.chat, a.access
		}
		b, err = bot.New(bot.Config{Workflow: wf, Store: st, Chats: chats, Access: access, Logger: log})
		if err != nil {
			return err
		}
		defer b.Wait()
		notifier = b
		for _, a := range adapters {
			if a.wait != nil {
				defer a.wait()
			}
			if a.start != nil {
				if err := a.start(ctx); err != nil {
					// Commands registered before still work; say so loudly.
					log.Error("chat platform start-up step failed", "platform", a.name, "err", err)
				}
			}
			if a.mount != nil {
				a.mount(mux, b)
			}
			if a.ready != nil {
				checks = append(checks, health.Check{Name: a.name, Run: a.ready})
			}
		}
	} else {
		log.Warn("no chat platform is configured: this replica only executes approved requests and runs periodic jobs")
	}
	periodic, err := digestJobs(cfg, log, st, adapters)
	if err != nil {
		return err
	}
	if f := cfg.Audit.CheckpointFile; f != "" {
		// Fail at start-up, not at the first checkpoint, when the file
		// cannot be written.
		file, err := openCheckpointFile(f)
		if err != nil {
			return err
		}
		file.Close()
	}
	periodic = append(periodic, checkpointJob(log, st, cfg.Audit.CheckpointFile))
	eng, err := engine.New(engine.Config{
		Store: st, Providers: router, Notifier: notifier, Expirer: wf, Logger: log,
		PollInterval: cfg.Engine.PollInterval, PollDeadline: cfg.Engine.PollDeadline,
		Workers: cfg.Engine.Workers, ExpirySweep: cfg.Engine.ExpirySweep,
		Metrics: m, ID: replicaID(st), Periodic: periodic, Protected: cfg.Policy().Protected,
	})
	if err != nil {
		return fmt.Errorf("configuring the engine: %w", err)
	}
	ln, err := listen(cfg.HTTP.Listen)
	if err != nil {
		return fmt.Errorf("listening on %s: %w", cfg.HTTP.Listen, err)
	}
	if err := eng.Start(ctx); err != nil {
		ln.Close()
		return fmt.Errorf("starting the engine: %w", err)
	}
	defer func() {
		// Jobs still running are handed back, to resume on another replica
		// or after restart.
		sctx, cancel := context.WithTimeout(context.Background(), cfg.HTTP.ShutdownTimeout)
		defer cancel()
		if err := eng.Stop(sctx); err != nil {
			log.Warn("stopping the engine", "err", err)
		}
	}()
	for _, a := range adapters {
		if a.run != nil {
			go func() {
				if err := a.run(ctx, b); err != nil && ctx.Err() == nil {
					log.Error("chat connection ended", "platform", a.name, "err", err)
				}
			}()
		}
	}
	ready := health.New(health.Options{Logger: log}, checks...)
	return serveHTTP(ctx, cfg, log, ln, routes(log, m, ready, mux))
}

// routes returns the HTTP routes of serve, wrapped in the request log and
// metrics middleware.
func routes(log *slog.Logger, m *metrics.Metrics, ready *health.Checker, mux *http.ServeMux) http.Handler {
	mux.Handle("GET /healthz", health.Live())
	mux.Handle("GET /readyz", ready)
	mux.Handle("GET /metrics", m.Handler())
	return m.Middleware(log, mux)
}

// serveHTTP serves h on ln until ctx ends, then drains in-flight requests
// for up to http.shutdown_timeout.
func serveHTTP(ctx context.Context, cfg *config.Config, log *slog.Logger, ln net.Listener, h http.Handler) error {
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       cfg.HTTP.ReadTimeout,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	log.InfoContext(ctx, "serving", "addr", ln.Addr().String())
	select {
	case err := <-errc:
		return fmt.Errorf("serving http: %w", err)
	case <-ctx.Done():
	}
	log.Info("shutting down", "timeout", cfg.HTTP.ShutdownTimeout)
	sctx, cancel := context.WithTimeout(context.Background(), cfg.HTTP.ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("shutting down http: %w", err)
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serving http: %w", err)
	}
	return nil
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
