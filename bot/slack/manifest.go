package slackbot

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/countersign/countersign/commands"
)

// The app manifest, as the versioned schema (slackapi/manifest-schema
// manifest.schema.1.0.0.json) names its keys. Only keys Countersign sets
// are modelled; the schema allows no others.
type manifest struct {
	Metadata    manifestMeta    `json:"_metadata"`
	Display     manifestDisplay `json:"display_information"`
	Features    features        `json:"features"`
	OAuthConfig oauthConfig     `json:"oauth_config"`
	Settings    settings        `json:"settings"`
}

type manifestMeta struct {
	MajorVersion int `json:"major_version"`
	MinorVersion int `json:"minor_version"`
}

type manifestDisplay struct {
	Name            string `json:"name"`
	Description     string `json:"description"`
	BackgroundColor string `json:"background_color"`
}

type features struct {
	BotUser       botUser        `json:"bot_user"`
	SlashCommands []slashCommand `json:"slash_commands"`
}

type botUser struct {
	DisplayName  string `json:"display_name"`
	AlwaysOnline bool   `json:"always_online"`
}

type slashCommand struct {
	Command      string `json:"command"`
	URL          string `json:"url,omitempty"`
	Description  string `json:"description"`
	UsageHint    string `json:"usage_hint,omitempty"`
	ShouldEscape bool   `json:"should_escape"`
}

type oauthConfig struct {
	Scopes scopes `json:"scopes"`
}

type scopes struct {
	Bot []string `json:"bot"`
}

type settings struct {
	Interactivity        interactivity `json:"interactivity"`
	OrgDeployEnabled     bool          `json:"org_deploy_enabled"`
	SocketModeEnabled    bool          `json:"socket_mode_enabled"`
	TokenRotationEnabled bool          `json:"token_rotation_enabled"`
}

type interactivity struct {
	IsEnabled  bool   `json:"is_enabled"`
	RequestURL string `json:"request_url,omitempty"`
}

// BotScopes are the OAuth scopes the bot needs: commands, posting and
// editing (chat:write), posting in public channels it was not invited to,
// and reading users, their e-mail and user groups for authorization.
var BotScopes = []string{"commands", "chat:write", "chat:write.public", "users:read", "users:read.email", "usergroups:read"}

// ManifestOptions choose what Manifest describes.
type ManifestOptions struct {
	// Name is the app's name in Slack, at most 35 characters ("":
	// Countersign).
	Name string
	// PublicURL is the base URL Slack reaches serve at: every command and
	// interactivity point at PublicURL/slack/…. Required unless SocketMode.
	PublicURL string
	// SocketMode describes an app that receives everything over a Socket
	// Mode connection (slack.app_token) and needs no request URLs.
	SocketMode bool
	// CommandPrefix is put before every action command's name ("cs-":
	// /cs-disable), so that they clash with no other app's commands;
	// /countersign keeps its name. Configuration validates it
	// (slack.command_prefix); Manifest refuses a command Slack would.
	CommandPrefix string
}

// MaxCommandLength is the longest slash command Slack's manifest schema
// allows, "/" included.
const MaxCommandLength = 32

// CommandName returns the slash command, without "/", under which an
// action is registered with prefix; the root command keeps its name.
func CommandName(prefix string, name commands.Name) string {
	if name == commands.Root {
		return string(name)
	}
	return prefix + string(name)
}

// Manifest returns the Slack app manifest (JSON, which Slack's "From an app
// manifest" dialog and apps.manifest.create accept). In HTTP mode every
// command and interactivity point at PublicURL/slack/…; in Socket Mode there
// are no request URLs. An app with neither is refused rather than guessed.
func Manifest(o ManifestOptions) ([]byte, error) {
	base := ""
	switch {
	case o.SocketMode && o.PublicURL != "":
		return nil, errors.New("slack manifest: choose a public URL (HTTP mode) or Socket Mode, not both")
	case o.PublicURL != "":
		u, err := url.Parse(o.PublicURL)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return nil, fmt.Errorf("slack manifest: %q is not an http(s) URL", o.PublicURL)
		}
		base = strings.TrimSuffix(u.String(), "/")
	case !o.SocketMode:
		return nil, errors.New("slack manifest: no public URL for the request URLs, and Socket Mode was not asked for")
	}
	name := o.Name
	if name == "" {
		name = "Countersign"
	}
	if n := len([]rune(name)); n > 35 {
		return nil, fmt.Errorf("slack manifest: the app name has %d characters; Slack allows 35", n)
	}
	m := manifest{
		Metadata: manifestMeta{MajorVersion: 1, MinorVersion: 1},
		Display: manifestDisplay{
			Name:            name,
			Description:     "Two-person approval for security response actions",
			BackgroundColor: "#1d3557",
		},
		Features:    features{BotUser: botUser{DisplayName: strings.ToLower(strings.ReplaceAll(name, " ", "-")), AlwaysOnline: true}},
		OAuthConfig: oauthConfig{Scopes: scopes{Bot: BotScopes}},
		Settings: settings{
			Interactivity:     interactivity{IsEnabled: true},
			SocketModeEnabled: base == "",
		},
	}
	commandURL := ""
	if base != "" {
		commandURL = base + "/slack/commands"
		m.Settings.Interactivity.RequestURL = base + "/slack/interactions"
	}
	m.Features.SlashCommands = append(m.Features.SlashCommands, slashCommand{
		Command: "/" + string(commands.Root), URL: commandURL,
		Description: "Countersign: help, status, pending, cancel, explain, or any action",
		UsageHint:   "help | status <id> | pending | cancel <id> | explain <command line> | <action> …",
	})
	for _, d := range commands.Registry() {
		if !d.IsAction() {
			continue
		}
		cmd := "/" + CommandName(o.CommandPrefix, d.Name)
		if len(cmd) > MaxCommandLength || cmd != strings.ToLower(cmd) {
			return nil, fmt.Errorf("slack manifest: Slack refuses the command %q: at most %d characters, in lower case", cmd, MaxCommandLength)
		}
		m.Features.SlashCommands = append(m.Features.SlashCommands, slashCommand{
			Command: cmd, URL: commandURL,
			Description: "Request: " + d.Summary,
			UsageHint:   strings.TrimPrefix(commands.Usage(d), "/"+string(d.Name)+" "),
		})
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(m); err != nil {
		return nil, err
	}
	return bytes.TrimSpace(b.Bytes()), nil
}
