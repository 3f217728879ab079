package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"

	"github.com/countersign/countersign/bot"
	"github.com/countersign/countersign/bot/discord"
	slackbot "github.com/countersign/countersign/bot/slack"
	"github.com/countersign/countersign/internal/config"
	"github.com/countersign/countersign/internal/metrics"
	"github.com/countersign/countersign/internal/store"
)

// adapter is one chat platform as serve runs it.
type adapter struct {
	name   string
	chat   bot.Chat
	access bot.Access
	// digest is the channel the digest is posted to ("": none).
	digest string
	// mount adds the platform's HTTP endpoints (nil: none).
	mount func(mux *http.ServeMux, h bot.Handler)
	// run keeps an outgoing connection (Socket Mode, Gateway) until ctx
	// ends (nil: none).
	run func(ctx context.Context, h bot.Handler) error
	// start does one-off work at start-up, such as registering commands
	// (nil: none).
	start func(ctx context.Context) error
	// ready reports whether the platform is reachable, for /readyz (nil:
	// always).
	ready func(ctx context.Context) error
	// wait waits for the adapter's background sends (nil: none).
	wait func()
}

// newAdapters builds the adapters of the configured chat platforms.
func newAdapters(cfg *config.Config, log *slog.Logger, m *metrics.Metrics, st *store.Store) ([]adapter, error) {
	var out []adapter
	if cfg.SlackEnabled() {
		a, err := newSlack(cfg, log, m, st)
		if err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	if cfg.DiscordEnabled() {
		a, err := newDiscord(cfg, log, m, st)
		if err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, nil
}

func newSlack(cfg *config.Config, log *slog.Logger, m *metrics.Metrics, st *store.Store) (adapter, error) {
	s := cfg.Slack
	a, err := slackbot.New(slackbot.Config{
		BotToken: s.BotToken, SigningSecret: s.SigningSecret, AppToken: s.AppToken, APIURL: s.APIURL,
		Channels: s.Channels, Requesters: s.Requesters, Approvers: s.Approvers,
		People: cfg.PeopleList(), Seen: st,
		Transport: m.Transport(metrics.KindChat, bot.PlatformSlack, nil),
		Logger:    log,
	})
	if err != nil {
		return adapter{}, fmt.Errorf("configuring slack: %w", err)
	}
	out := adapter{name: bot.PlatformSlack, chat: a, access: a, digest: s.DigestChannel, ready: a.Ready, wait: a.Wait}
	if a.SocketMode() {
		out.run = a.Run
	} else {
		out.mount = a.Mount
	}
	return out, nil
}

func newDiscord(cfg *config.Config, log *slog.Logger, m *metrics.Metrics, st *store.Store) (adapter, error) {
	d := cfg.Discord
	a, err := discord.New(discord.Config{
		BotToken: d.BotToken, ApplicationID: d.ApplicationID, PublicKey: d.PublicKey, GuildID: d.GuildID,
		APIURL: d.APIURL, Channels: d.Channels, RequesterRoles: d.RequesterRoles, ApproverRoles: d.ApproverRoles,
		People: cfg.PeopleList(), Seen: st,
		Transport: m.Transport(metrics.KindChat, bot.PlatformDiscord, nil),
		Logger:    log.With("platform", bot.PlatformDiscord),
	})
	if err != nil {
		return adapter{}, fmt.Errorf("configuring discord: %w", err)
	}
	out := adapter{name: bot.PlatformDiscord, chat: a, access: a, digest: d.DigestChannel, ready: a.Ready, start: a.Register, wait: a.Wait}
	if d.PublicKey != "" {
		out.mount = func(mux *http.ServeMux, h bot.Handler) { mux.Handle("POST /discord/interactions", a.Interactions(h)) }
	} else {
		out.run = a.Run
	}
	return out, nil
}
