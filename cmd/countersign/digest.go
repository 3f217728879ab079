package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/countersign/countersign/bot/chat"
	"github.com/countersign/countersign/internal/config"
	"github.com/countersign/countersign/internal/digest"
	"github.com/countersign/countersign/internal/engine"
	"github.com/countersign/countersign/internal/metrics"
	"github.com/countersign/countersign/internal/store"
)

// digestPoster posts a digest to every adapter's digest channel. It tries
// them all and reports every failure.
func digestPoster(adapters []adapter) (func(ctx context.Context, m chat.Message) error, bool) {
	var targets []adapter
	for _, a := range adapters {
		if a.digest != "" {
			targets = append(targets, a)
		}
	}
	post := func(ctx context.Context, m chat.Message) error {
		var errs []error
		for _, a := range targets {
			if _, err := a.chat.Post(ctx, a.digest, m); err != nil {
				errs = append(errs, fmt.Errorf("posting the digest to %s: %w", a.name, err))
			}
		}
		return errors.Join(errs...)
	}
	return post, len(targets) > 0
}

// digestJobs returns the digest's periodic job when a digest channel is
// configured.
func digestJobs(cfg *config.Config, log *slog.Logger, st *store.Store, adapters []adapter) ([]engine.Periodic, error) {
	post, ok := digestPoster(adapters)
	if !ok {
		return nil, nil
	}
	loc, err := time.LoadLocation(cfg.Digest.Timezone)
	if err != nil {
		return nil, fmt.Errorf("digest.timezone: %w", err)
	}
	return []engine.Periodic{{
		Name: "digest", Schedule: cfg.Digest.Schedule, Location: loc,
		Run: digest.Job(digest.JobConfig{Source: st, Post: post, Location: loc, Logger: log.With("periodic", "digest"),
			Posted: func(ctx context.Context, d digest.Digest) error { return auditDigest(ctx, st, d) }}),
	}}, nil
}

// auditDigest records a posted digest in the audit log, so the auditor can
// see which windows were reported and when.
func auditDigest(ctx context.Context, st *store.Store, d digest.Digest) error {
	return st.AppendAudit(ctx, time.Now(), 0, "digest_posted", "system", map[string]any{
		"from": d.From, "to": d.To, "after_seq": d.AfterSeq, "through_seq": d.ThroughSeq, "late": d.Late,
		"requests": d.Total, "problems": len(d.Problems), "pending": len(d.Pending),
	})
}

// runDigest prints (or posts) the digest of the last --since.
func runDigest(ctx context.Context, e env, args []string) error {
	fs := newFlags("digest", e)
	path := configFlag(fs)
	since := fs.Duration("since", 24*time.Hour, "how far back the digest reaches, e.g. 24h or 168h")
	format := fs.String("format", "text", "output format: text or json")
	post := fs.Bool("post", false, "post the digest to slack.digest_channel and discord.digest_channel instead of printing it")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *since <= 0 {
		return fmt.Errorf("%w: --since must be positive", errUsage)
	}
	if *format != "text" && *format != "json" {
		return fmt.Errorf("%w: --format must be text or json", errUsage)
	}
	cfg, err := loadConfig(*path, e)
	if err != nil {
		return err
	}
	log := newLogger(cfg, e.stderr)
	loc, err := time.LoadLocation(cfg.Digest.Timezone)
	if err != nil {
		return fmt.Errorf("digest.timezone: %w", err)
	}
	st, err := openCurrentStore(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer st.Close()
	now := time.Now()
	w, err := digest.Committed(ctx, st, now.Add(-*since), now)
	if err != nil {
		return err
	}
	d, err := digest.Build(ctx, st, w, loc)
	if err != nil {
		return fmt.Errorf("building the digest: %w", err)
	}
	if *post {
		adapters, err := newAdapters(cfg, log, metrics.New(metrics.Options{Version: version, Logger: log}), st)
		if err != nil {
			return err
		}
		send, ok := digestPoster(adapters)
		if !ok {
			return errors.New("no digest channel is configured: set slack.digest_channel or discord.digest_channel")
		}
		if err := send(ctx, d.Message()); err != nil {
			return err
		}
		if err := auditDigest(ctx, st, d); err != nil {
			return fmt.Errorf("the digest was posted, but recording it in the audit log failed: %w", err)
		}
		fmt.Fprintf(e.stdout, "digest of %s – %s posted\n", d.From.In(loc).Format(time.RFC3339), d.To.In(loc).Format(time.RFC3339))
		return nil
	}
	if *format == "json" {
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(d)
	}
	_, err = fmt.Fprint(e.stdout, d.Text())
	return err
}
