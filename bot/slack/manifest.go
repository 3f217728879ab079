package slackbot

import (
	"bytes"
	"encoding/json"
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

// Manifest returns the Slack app manifest (JSON, which Slack's "From an app
// manifest" dialog and apps.manifest.create accept). With publicURL set the
// app uses HTTP mode: every command and interactivity point at
// publicURL/slack/…; with publicURL empty it uses Socket Mode.
func Manifest(name, publicURL string) ([]byte, error) {
	base := ""
	if publicURL != "" {
		u, err := url.Parse(publicURL)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return nil, fmt.Errorf("slack manifest: %q is not an http(s) URL", publicURL)
		}
		base = strings.TrimSuffix(u.String(), "/")
	}
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
		Command: "/countersign", URL: commandURL,
		Description: "Countersign: help, status, pending, cancel, explain, or any action",
		UsageHint:   "help | status <id> | pending | cancel <id> | explain <command line> | <action> …",
	})
	for _, d := range commands.Registry() {
		if !d.IsAction() {
			continue
		}
		m.Features.SlashCommands = append(m.Features.SlashCommands, slashCommand{
			Command: "/" + string(d.Name), URL: commandURL,
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
