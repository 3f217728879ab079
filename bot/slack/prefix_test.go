package slackbot

import "testing"

// TestCommandName: with slack.command_prefix the action commands arrive
// prefixed and reach the bot under the action's name; /countersign keeps
// its name whatever the prefix.
func TestCommandName(t *testing.T) {
	for _, tc := range []struct{ prefix, slash, want string }{
		{"", "/disable", "disable"},
		{"", "/countersign", "countersign"},
		{"cs-", "/cs-disable", "disable"},
		{"cs-", "/cs-purge-mail", "purge-mail"},
		{"cs-", "/countersign", "countersign"},
		{"cs-", "/disable", "disable"},
	} {
		a := &Adapter{cfg: Config{CommandPrefix: tc.prefix}}
		if got := a.commandName(tc.slash); got != tc.want {
			t.Errorf("prefix %q, %s: got %q, want %q", tc.prefix, tc.slash, got, tc.want)
		}
	}
}
