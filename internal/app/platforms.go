package app

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/countersign/countersign/bot"
	"github.com/countersign/countersign/bot/discord"
	slackbot "github.com/countersign/countersign/bot/slack"
	"github.com/countersign/countersign/internal/config"
	"github.com/countersign/countersign/internal/metrics"
)

// Platform is one chat platform as the system runs it. Only Name, Chat and
// Access are required; a nil function is a step the platform does not have.
type Platform struct {
	Name   string
	Chat   bot.Chat
	Access bot.Access
	// Digest is the channel the digest is posted to ("": none).
	Digest string
	// Mount adds the platform's HTTP endpoints.
	Mount func(mux *http.ServeMux, h bot.Handler)
	// Run keeps an outgoing connection (Socket Mode, Gateway) until ctx
	// ends.
	Run func(ctx context.Context, h bot.Handler) error
	// Start does one-off work at start-up, such as registering commands.
	Start func(ctx context.Context) error
	// Ready reports whether the platform is reachable, for /readyz.
	Ready func(ctx context.Context) error
	// Wait waits for the platform's background sends.
	Wait func()
}

// Seen remembers keys for the adapters' replay protection; *store.Store
// implements it.
type Seen interface {
	FirstSeen(ctx context.Context, key string, ttl time.Duration, now time.Time) (bool, error)
}

// Platforms builds the configured chat platforms. Their API calls are
// counted in m (nil: not counted).
func Platforms(cfg *config.Config, log *slog.Logger, m *metrics.Metrics, seen Seen) ([]Platform, error) {
	var out []Platform
	for _, p := range []struct {
		enabled bool
		build   func(*config.Config, *slog.Logger, *metrics.Metrics, Seen) (Platform, error)
	}{
		{cfg.SlackEnabled(), Slack},
		{cfg.DiscordEnabled(), Discord},
	} {
		if !p.enabled {
			continue
		}
		pl, err := p.build(cfg, log, m, seen)
		if err != nil {
			return nil, err
		}
		out = append(out, pl)
	}
	return out, nil
}

// Slack builds the Slack platform of cfg: HTTP endpoints, or Socket Mode
// when slack.app_token is set.
func Slack(cfg *config.Config, log *slog.Logger, m *metrics.Metrics, seen Seen) (Platform, error) {
	s := cfg.Slack
	a, err := slackbot.New(slackbot.Config{
		BotToken: s.BotToken, SigningSecret: s.SigningSecret, AppToken: s.AppToken, APIURL: s.APIURL,
		Channels: s.Channels, Requesters: s.Requesters, Approvers: s.Approvers,
		CommandPrefix: s.CommandPrefix, People: cfg.PeopleList(), Seen: seen,
		Transport: m.Transport(metrics.KindChat, bot.PlatformSlack, nil),
		Logger:    log,
	})
	if err != nil {
		return Platform{}, fmt.Errorf("configuring slack: %w", err)
	}
	out := Platform{Name: bot.PlatformSlack, Chat: a, Access: a, Digest: s.DigestChannel, Ready: a.Ready, Wait: a.Wait}
	if a.SocketMode() {
		out.Run = a.Run
	} else {
		out.Mount = a.Mount
	}
	return out, nil
}

// Discord builds the Discord platform of cfg: HTTP interactions when
// discord.public_key is set, the Gateway otherwise. Start registers the
// guild's commands. A nil seen keeps interaction ids in memory.
func Discord(cfg *config.Config, log *slog.Logger, m *metrics.Metrics, seen Seen) (Platform, error) {
	d := cfg.Discord
	a, err := discord.New(discord.Config{
		BotToken: d.BotToken, ApplicationID: d.ApplicationID, PublicKey: d.PublicKey, GuildID: d.GuildID,
		APIURL: d.APIURL, Channels: d.Channels, RequesterRoles: d.RequesterRoles, ApproverRoles: d.ApproverRoles,
		People: cfg.PeopleList(), Seen: seen,
		Transport: m.Transport(metrics.KindChat, bot.PlatformDiscord, nil),
		Logger:    log.With("platform", bot.PlatformDiscord),
	})
	if err != nil {
		return Platform{}, fmt.Errorf("configuring discord: %w", err)
	}
	out := Platform{Name: bot.PlatformDiscord, Chat: a, Access: a, Digest: d.DigestChannel, Ready: a.Ready, Start: a.Register, Wait: a.Wait}
	if d.PublicKey != "" {
		out.Mount = func(mux *http.ServeMux, h bot.Handler) { mux.Handle("POST /discord/interactions", a.Interactions(h)) }
	} else {
		out.Run = a.Run
	}
	return out, nil
}

// Mount adds every platform's HTTP endpoints to mux, handled by the bot.
func (s *System) Mount(mux *http.ServeMux) {
	for _, p := range s.Platforms {
		if p.Mount != nil {
			p.Mount(mux, s.Bot)
		}
	}
}
