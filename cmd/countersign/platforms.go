package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/countersign/countersign/bot"
	"github.com/countersign/countersign/bot/discord"
	slackbot "github.com/countersign/countersign/bot/slack"
	"github.com/countersign/countersign/internal/metrics"
)

// runSlackManifest prints the Slack app manifest.
func runSlackManifest(_ context.Context, e env, args []string) error {
	fs := newFlags("slack manifest", e)
	u := fs.String("url", "", "public base URL of serve (HTTP mode: commands and interactivity point at URL/slack/…); empty: Socket Mode")
	name := fs.String("name", "Countersign", "the app's name in Slack (at most 35 characters)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	m, err := slackbot.Manifest(*name, *u)
	if err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	_, err = fmt.Fprintf(e.stdout, "%s\n", m)
	return err
}

// runDiscordRegister registers the guild's slash commands (bulk overwrite;
// serve also does it at start-up).
func runDiscordRegister(ctx context.Context, e env, args []string) error {
	fs := newFlags("discord register", e)
	path := configFlag(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	cfg, err := loadConfig(*path, e)
	if err != nil {
		return err
	}
	if !cfg.DiscordEnabled() {
		return errors.New("discord: is not configured")
	}
	log := newLogger(cfg, e.stderr)
	d := cfg.Discord
	a, err := discord.New(discord.Config{
		BotToken: d.BotToken, ApplicationID: d.ApplicationID, PublicKey: d.PublicKey, GuildID: d.GuildID,
		APIURL: d.APIURL, ApproverRoles: d.ApproverRoles, People: cfg.PeopleList(),
		Transport: metrics.New(metrics.Options{Version: version, Logger: log}).Transport(metrics.KindChat, bot.PlatformDiscord, nil),
		Logger:    log,
	})
	if err != nil {
		return fmt.Errorf("configuring discord: %w", err)
	}
	if err := a.Register(ctx); err != nil {
		return fmt.Errorf("registering discord commands: %w", err)
	}
	fmt.Fprintf(e.stdout, "discord commands registered in guild %s\n", d.GuildID)
	return nil
}
