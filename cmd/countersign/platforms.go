package main

import (
	"context"
	"errors"
	"flag"
	"fmt"

	slackbot "github.com/countersign/countersign/bot/slack"
	"github.com/countersign/countersign/internal/app"
)

// slackManifestFlags: slack manifest prints the Slack app manifest.
func slackManifestFlags(fs *flag.FlagSet) command {
	u := fs.String("url", "", "public base URL of serve (HTTP mode: commands and interactivity point at URL/slack/…); empty: Socket Mode")
	name := fs.String("name", "Countersign", "the app's name in Slack (at most 35 characters)")
	return command{run: func(_ context.Context, c *call) error {
		m, err := slackbot.Manifest(*name, *u)
		if err != nil {
			return fmt.Errorf("%w: %v", errUsage, err)
		}
		_, err = fmt.Fprintf(c.stdout, "%s\n", m)
		return err
	}}
}

// discordRegisterFlags: discord register registers the guild's slash
// commands (bulk overwrite; serve also does it at start-up).
func discordRegisterFlags(*flag.FlagSet) command {
	return command{run: func(ctx context.Context, c *call) error {
		if !c.cfg.DiscordEnabled() {
			return errors.New("discord: is not configured")
		}
		p, err := app.Discord(c.cfg, c.log, nil, nil)
		if err != nil {
			return err
		}
		if err := p.Start(ctx); err != nil {
			return fmt.Errorf("registering discord commands: %w", err)
		}
		fmt.Fprintf(c.stdout, "discord commands registered in guild %s\n", c.cfg.Discord.GuildID)
		return nil
	}}
}
