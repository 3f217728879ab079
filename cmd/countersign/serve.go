package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/countersign/countersign/internal/app"
	"github.com/countersign/countersign/internal/config"
	"github.com/countersign/countersign/internal/health"
	"github.com/countersign/countersign/internal/metrics"
)

// listenTCP is how serve listens outside tests.
func listenTCP(addr string) (net.Listener, error) { return net.Listen("tcp", addr) }

// serve runs the serve subcommand with the listener supplied, so tests can
// learn the port.
func serve(ctx context.Context, e env, args []string, listen func(addr string) (net.Listener, error)) error {
	sc := subcommands()["serve"]
	sc.flags = serveFlags(listen)
	return invoke(ctx, e, "serve", sc, args)
}

// serveFlags: serve runs the bot until ctx is cancelled (SIGINT or
// SIGTERM), then shuts down gracefully: in-flight HTTP requests finish,
// workers stop and their jobs resume on another replica or after restart.
func serveFlags(listen func(addr string) (net.Listener, error)) func(fs *flag.FlagSet) command {
	return func(fs *flag.FlagSet) command {
		migrate := fs.Bool("migrate", true, "apply database migrations at start-up")
		return command{run: func(ctx context.Context, c *call) error {
			sys, err := app.New(ctx, c.cfg, app.Options{Logger: c.log, Version: version, Store: c.st, Migrate: *migrate})
			if err != nil {
				return err
			}
			defer func() {
				sctx, cancel := context.WithTimeout(context.Background(), c.cfg.HTTP.ShutdownTimeout)
				defer cancel()
				if err := sys.Close(sctx); err != nil {
					c.log.Warn("stopping the engine", "err", err)
				}
			}()
			mux := http.NewServeMux()
			sys.Mount(mux)
			checks := health.DatabaseChecks(sys.Store)
			for _, p := range sys.Platforms {
				if p.Ready != nil {
					checks = append(checks, health.Check{Name: p.Name, Run: p.Ready})
				}
			}
			ln, err := listen(c.cfg.HTTP.Listen)
			if err != nil {
				return fmt.Errorf("listening on %s: %w", c.cfg.HTTP.Listen, err)
			}
			if err := sys.Start(ctx); err != nil {
				ln.Close()
				return err
			}
			ready := health.New(health.Options{Logger: c.log}, checks...)
			return serveHTTP(ctx, c.cfg, c.log, ln, routes(c.log, sys.Metrics, ready, mux))
		}}
	}
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
