package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"slices"
	"strings"

	slackbot "github.com/countersign/countersign/bot/slack"
	"github.com/countersign/countersign/internal/app"
	"github.com/countersign/countersign/internal/config"
)

// slackManifestFlags: slack manifest prints the Slack app manifest. The
// configuration is optional here (a manifest is often made before any
// secret exists): it is read when --config is given, countersign.yaml
// exists or a COUNTERSIGN_ variable is set, for http.public_url and
// slack.command_prefix.
func slackManifestFlags(fs *flag.FlagSet) command {
	path := fs.String("config", "", "configuration file for http.public_url and slack.command_prefix (default "+defaultConfigPath+" if it exists)")
	u := fs.String("url", "", "public base URL of serve: commands and interactivity point at URL/slack/… (default http.public_url)")
	socket := fs.Bool("socket-mode", false, "Socket Mode: no request URLs; serve connects out with slack.app_token")
	name := fs.String("name", "Countersign", "the app's name in Slack (at most 35 characters)")
	return command{
		check: func(env) error {
			if *socket && *u != "" {
				return fmt.Errorf("%w: --url and --socket-mode exclude each other", errUsage)
			}
			return nil
		},
		run: func(_ context.Context, c *call) error {
			o := slackbot.ManifestOptions{Name: *name, PublicURL: *u, SocketMode: *socket}
			cfg, err := optionalConfig(*path, c.env)
			if err != nil {
				return err
			}
			if cfg != nil {
				o.CommandPrefix = cfg.Slack.CommandPrefix
				if o.PublicURL == "" && !o.SocketMode {
					o.PublicURL = cfg.HTTP.PublicURL
				}
			}
			if o.PublicURL == "" && !o.SocketMode {
				return fmt.Errorf("%w: no request URL: set http.public_url in the configuration (--config), pass --url https://…, or ask for --socket-mode", errUsage)
			}
			m, err := slackbot.Manifest(o)
			if err != nil {
				return fmt.Errorf("%w: %v", errUsage, err)
			}
			// serve picks the transport from slack.app_token; a manifest
			// for the other one would leave Slack sending where no one
			// listens.
			if cfg != nil && cfg.SlackEnabled() && (cfg.Slack.AppToken != "") != o.SocketMode {
				fmt.Fprintf(c.stderr, "countersign slack manifest: warning: serve will use %s (slack.app_token is %s), but this manifest is for %s\n",
					slackMode(!o.SocketMode), map[bool]string{true: "not set", false: "set"}[o.SocketMode], slackMode(o.SocketMode))
			}
			_, err = fmt.Fprintf(c.stdout, "%s\n", m)
			return err
		},
	}
}

// slackMode names Slack's transport.
func slackMode(socket bool) string {
	if socket {
		return "Socket Mode"
	}
	return "HTTP mode"
}

// optionalConfig loads the configuration when there is one to load: path
// given, countersign.yaml present, or a COUNTERSIGN_ variable set. It
// returns nil when there is none. Secret files are not read
// (config.UnreadSecretFiles): the manifest needs none, and is made before
// the tokens it leads to exist.
func optionalConfig(path string, e env) (*config.Config, error) {
	if path == "" {
		_, err := os.Stat(defaultConfigPath)
		switch {
		case err == nil:
			path = defaultConfigPath
		case !errors.Is(err, fs.ErrNotExist):
			return nil, fmt.Errorf("reading %s: %w", defaultConfigPath, err)
		case !slices.ContainsFunc(e.environ, func(kv string) bool { return strings.HasPrefix(kv, config.EnvPrefix) }):
			return nil, nil
		}
	}
	cfg, err := config.Load(path, e.environ, config.UnreadSecretFiles())
	if err != nil {
		return nil, fmt.Errorf("invalid configuration:\n%w", err)
	}
	return cfg, nil
}

// discordRegisterFlags: discord register registers the guild's slash
// commands (bulk overwrite; serve also does it at start-up) and says where
// interactions must be sent: http.public_url/discord/interactions when
// discord.public_key selects HTTP interactions, nowhere for the Gateway.
// Discord groups commands by application, so they need no prefix to stay
// apart from other bots'.
func discordRegisterFlags(*flag.FlagSet) command {
	return command{run: func(ctx context.Context, c *call) error {
		d := c.cfg.Discord
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
		fmt.Fprintf(c.stdout, "discord commands registered in guild %s\n", d.GuildID)
		switch {
		case d.PublicKey == "":
			fmt.Fprintln(c.stdout, "interactions arrive over the Gateway (discord.public_key is not set): leave the Interactions Endpoint URL empty")
		case c.cfg.HTTP.PublicURL != "":
			fmt.Fprintf(c.stdout, "Interactions Endpoint URL (developer portal, General Information): %s/discord/interactions\n",
				strings.TrimSuffix(c.cfg.HTTP.PublicURL, "/"))
		default:
			fmt.Fprintln(c.stdout, "set http.public_url: with discord.public_key set, Discord must reach serve at <public_url>/discord/interactions")
		}
		return nil
	}}
}
