package main

import (
	"context"
	"errors"
	"log/slog"
	"net/http"

	"github.com/countersign/countersign/bot"
	"github.com/countersign/countersign/internal/config"
	"github.com/countersign/countersign/internal/metrics"
	"github.com/countersign/countersign/internal/store"
)

// adapter is one chat platform as serve runs it.
type adapter struct {
	name   string
	chat   bot.Chat
	access bot.Access
	// mount adds the platform's HTTP endpoints (nil: none).
	mount func(mux *http.ServeMux, h bot.Handler)
	// run keeps an outgoing connection (Socket Mode, Gateway) until ctx
	// ends (nil: none).
	run func(ctx context.Context, h bot.Handler) error
	// ready reports whether the platform is reachable, for /readyz (nil:
	// always).
	ready func(ctx context.Context) error
}

// newAdapters builds the adapters of the configured chat platforms.
func newAdapters(cfg *config.Config, log *slog.Logger, m *metrics.Metrics, st *store.Store) ([]adapter, error) {
	var out []adapter
	if cfg.SlackEnabled() {
		return nil, errors.New("slack: is configured, but this build has no Slack adapter yet; remove the slack: section")
	}
	if cfg.DiscordEnabled() {
		return nil, errors.New("discord: is configured, but this build has no Discord adapter yet; remove the discord: section")
	}
	return out, nil
}
