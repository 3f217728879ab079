package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/countersign/countersign/internal/config"
	"github.com/countersign/countersign/internal/health"
	"github.com/countersign/countersign/internal/metrics"
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
	ln, err := listen(cfg.HTTP.Listen)
	if err != nil {
		return fmt.Errorf("listening on %s: %w", cfg.HTTP.Listen, err)
	}
	m := metrics.New(metrics.Options{Source: st, Version: version, Logger: log})
	ready := health.New(health.Options{Logger: log}, health.DatabaseChecks(st)...)
	return serveHTTP(ctx, cfg, log, ln, routes(log, m, ready))
}

// routes returns the HTTP routes of serve, wrapped in the request log and
// metrics middleware.
func routes(log *slog.Logger, m *metrics.Metrics, ready *health.Checker) http.Handler {
	mux := http.NewServeMux()
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
