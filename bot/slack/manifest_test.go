package slackbot_test

import (
	"encoding/json"
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"

	slackbot "github.com/countersign/countersign/bot/slack"
)

// schema is the part of slackapi/manifest-schema's
// manifest.schema.1.0.0.json that Countersign's manifest uses: allowed keys
// (the schema sets additionalProperties: false everywhere) and limits.
var schemaKeys = map[string][]string{
	"":                          {"_metadata", "display_information", "features", "oauth_config", "settings"},
	"_metadata":                 {"major_version", "minor_version"},
	"display_information":       {"name", "description", "background_color"},
	"features":                  {"bot_user", "slash_commands"},
	"features.bot_user":         {"display_name", "always_online"},
	"features.slash_commands[]": {"command", "url", "description", "usage_hint", "should_escape"},
	"oauth_config":              {"scopes"},
	"oauth_config.scopes":       {"bot"},
	"settings":                  {"interactivity", "org_deploy_enabled", "socket_mode_enabled", "token_rotation_enabled"},
	"settings.interactivity":    {"is_enabled", "request_url"},
}

func checkKeys(t *testing.T, path string, v any) {
	t.Helper()
	switch v := v.(type) {
	case map[string]any:
		allowed, ok := schemaKeys[path]
		if !ok {
			t.Fatalf("object at %q is not in the schema subset", path)
		}
		for k, e := range v {
			found := false
			for _, a := range allowed {
				found = found || a == k
			}
			if !found {
				t.Errorf("key %q not allowed at %q", k, path)
			}
			p := k
			if path != "" {
				p = path + "." + k
			}
			checkKeys(t, p, e)
		}
	case []any:
		for _, e := range v {
			checkKeys(t, path+"[]", e)
		}
	}
}

func TestManifest(t *testing.T) {
	for _, tc := range []struct{ url, mode, prefix string }{
		{"https://cs.example.com/", "http", ""},
		{"", "socket", ""},
		{"https://cs.example.com", "http", "cs-"},
	} {
		raw, err := slackbot.Manifest(slackbot.ManifestOptions{PublicURL: tc.url, SocketMode: tc.mode == "socket", CommandPrefix: tc.prefix})
		if err != nil {
			t.Fatal(err)
		}
		var doc map[string]any
		if err := json.Unmarshal(raw, &doc); err != nil {
			t.Fatal(err)
		}
		checkKeys(t, "", doc)
		var m struct {
			Display struct {
				Name            string
				Description     string
				BackgroundColor string `json:"background_color"`
			} `json:"display_information"`
			Features struct {
				BotUser struct {
					DisplayName string `json:"display_name"`
				} `json:"bot_user"`
				SlashCommands []struct {
					Command, URL, Description string
					UsageHint                 string `json:"usage_hint"`
				} `json:"slash_commands"`
			}
			OAuth struct {
				Scopes struct{ Bot []string }
			} `json:"oauth_config"`
			Settings struct {
				Interactivity struct {
					IsEnabled  bool   `json:"is_enabled"`
					RequestURL string `json:"request_url"`
				}
				Socket bool `json:"socket_mode_enabled"`
			}
		}
		if err := json.Unmarshal(raw, &m); err != nil {
			t.Fatal(err)
		}
		if n := utf8.RuneCountInString(m.Display.Name); n < 1 || n > 35 {
			t.Errorf("name of %d characters", n)
		}
		if n := utf8.RuneCountInString(m.Display.Description); n < 1 || n > 140 {
			t.Errorf("description of %d characters", n)
		}
		if !regexp.MustCompile(`^#[0-9a-fA-F]{3}([0-9a-fA-F]{3})?$`).MatchString(m.Display.BackgroundColor) {
			t.Errorf("background_color %q", m.Display.BackgroundColor)
		}
		if n := len(m.Features.SlashCommands); n < 2 || n > 50 {
			t.Fatalf("%d slash commands (schema: 1–50; Countersign has /countersign and one per action)", n)
		}
		seen := map[string]bool{}
		for _, c := range m.Features.SlashCommands {
			if seen[c.Command] {
				t.Errorf("command %q twice", c.Command)
			}
			seen[c.Command] = true
			if want := "/" + tc.prefix; c.Command != "/countersign" && !strings.HasPrefix(c.Command, want) {
				t.Errorf("command %q does not start with %q", c.Command, want)
			}
			if n := len(c.Command); n < 2 || n > 32 || !strings.HasPrefix(c.Command, "/") || c.Command != strings.ToLower(c.Command) {
				t.Errorf("command %q", c.Command)
			}
			if n := utf8.RuneCountInString(c.Description); n < 1 || n > 2000 {
				t.Errorf("%s: description of %d characters", c.Command, n)
			}
			if n := utf8.RuneCountInString(c.UsageHint); n < 1 || n > 1000 {
				t.Errorf("%s: usage hint of %d characters", c.Command, n)
			}
			wantURL := ""
			if tc.mode == "http" {
				wantURL = "https://cs.example.com/slack/commands"
			}
			if c.URL != wantURL {
				t.Errorf("%s: url %q, want %q", c.Command, c.URL, wantURL)
			}
		}
		if !m.Settings.Interactivity.IsEnabled || m.Settings.Socket != (tc.mode == "socket") {
			t.Errorf("%s mode: interactivity %+v, socket_mode_enabled %v", tc.mode, m.Settings.Interactivity, m.Settings.Socket)
		}
		if tc.mode == "http" && m.Settings.Interactivity.RequestURL != "https://cs.example.com/slack/interactions" {
			t.Errorf("request_url %q", m.Settings.Interactivity.RequestURL)
		}
		for _, s := range []string{"commands", "chat:write", "users:read", "users:read.email", "usergroups:read"} {
			found := false
			for _, b := range m.OAuth.Scopes.Bot {
				found = found || b == s
			}
			if !found {
				t.Errorf("bot scope %s missing", s)
			}
		}
		if !seen["/countersign"] {
			t.Errorf("/countersign missing")
		}
	}
	for _, tc := range []struct {
		name string
		o    slackbot.ManifestOptions
		want string
	}{
		{"non-HTTP URL", slackbot.ManifestOptions{PublicURL: "ftp://x"}, "not an http(s) URL"},
		// Regression: without a URL the manifest used to be a Socket Mode
		// one, silently.
		{"neither URL nor Socket Mode", slackbot.ManifestOptions{}, "Socket Mode was not asked for"},
		{"both", slackbot.ManifestOptions{PublicURL: "https://cs.example.com", SocketMode: true}, "not both"},
		{"command too long", slackbot.ManifestOptions{SocketMode: true, CommandPrefix: strings.Repeat("x", 20)}, "at most 32 characters"},
	} {
		if _, err := slackbot.Manifest(tc.o); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err %v, want %q", tc.name, err, tc.want)
		}
	}
}
