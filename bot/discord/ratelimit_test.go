package discord

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/bwmarrin/discordgo"

	"github.com/countersign/countersign/bot/discord/discordtest"
	"github.com/countersign/countersign/commands"
)

const routePost = "POST /channels/{channel}/messages"

func routeRequests(f *discordtest.Server, route string) []discordtest.Request {
	var out []discordtest.Request
	for _, r := range f.Requests() {
		if r.Route == route {
			out = append(out, r)
		}
	}
	return out
}

func TestRateLimitHonoured(t *testing.T) {
	e := newEnv(t, false)
	const retry = 250 * time.Millisecond
	e.fake.RateLimit(routePost, 2, retry)
	start := time.Now()
	if _, err := e.a.Post(e.ctx(), channel, card(7)); err != nil {
		t.Fatal(err)
	}
	elapsed := time.Since(start)
	reqs := routeRequests(e.fake, routePost)
	if len(reqs) != 3 || reqs[0].Status != 429 || reqs[1].Status != 429 || reqs[2].Status != 200 {
		t.Fatalf("requests %+v", reqs)
	}
	for i := 1; i < len(reqs); i++ {
		if gap := reqs[i].At.Sub(reqs[i-1].At); gap < retry {
			t.Errorf("retry %d came %v after the 429, want at least %v", i, gap, retry)
		}
	}
	t.Logf("two 429s of %v: Post took %v", retry, elapsed)
	if got := len(e.fake.Messages(channel)); got != 1 {
		t.Errorf("%d messages posted, want 1", got)
	}
}

func TestRateLimitBounded(t *testing.T) {
	e := newEnv(t, false)
	// More 429s than attempts: the call fails after maxAttempts requests.
	e.fake.RateLimit(routePost, 100, 20*time.Millisecond)
	_, err := e.a.Post(e.ctx(), channel, card(7))
	var rl *discordgo.RateLimitError
	if !errors.As(err, &rl) {
		t.Fatalf("got %v, want a RateLimitError", err)
	}
	if n := len(routeRequests(e.fake, routePost)); n != maxAttempts {
		t.Errorf("%d requests, want %d", n, maxAttempts)
	}
	// A retry_after beyond the bound fails at once.
	e.fake.RateLimit(routePost, 1, time.Hour)
	start := time.Now()
	if _, err := e.a.Post(e.ctx(), channel, card(7)); !errors.As(err, &rl) || time.Since(start) > 5*time.Second {
		t.Errorf("hour-long retry_after: %v after %v", err, time.Since(start))
	}
	// Cancelling the context ends the wait.
	e.fake.RateLimit(routePost, 1, 20*time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start = time.Now()
	if _, err := e.a.Post(ctx, channel, card(7)); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("cancelled wait: %v", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("cancelled wait took %v", d)
	}
}

func TestRegister(t *testing.T) {
	e := newEnv(t, false)
	for range 2 {
		if err := e.a.Register(e.ctx()); err != nil {
			t.Fatal(err)
		}
	}
	cmds, puts := e.fake.Commands()
	if puts != 2 {
		t.Errorf("%d bulk overwrites, want 2", puts)
	}
	names := []string{}
	byName := map[string]map[string]any{}
	for _, c := range cmds {
		n := c["name"].(string)
		names = append(names, n)
		byName[n] = c
	}
	want := []string{"disable", "enable", "reset-password", "enable-mfa", "revoke-sessions", "require-signin",
		"mark-compromised", "purge-mail", "block-ip", "help", "status", "pending", "cancel", "explain"}
	if !slices.Equal(names, want) {
		t.Errorf("registered %v, want %v", names, want)
	}
	opt := func(cmd, name string) map[string]any {
		for _, o := range byName[cmd]["options"].([]any) {
			if m := o.(map[string]any); m["name"] == name {
				return m
			}
		}
		t.Fatalf("%s has no option %s", cmd, name)
		return nil
	}
	if o := opt("disable", "targets"); o["type"] != 3.0 || o["required"] != true || o["max_length"] != 4000.0 {
		t.Errorf("disable targets %v", o)
	}
	if o := opt("disable", "reason"); o["type"] != 3.0 || o["required"] != false || o["max_length"] != 500.0 {
		t.Errorf("disable reason %v", o)
	}
	if o := opt("disable", "dry-run"); o["type"] != 5.0 {
		t.Errorf("disable dry-run %v", o)
	}
	if o := opt("disable", "provider"); len(o["choices"].([]any)) != 2 {
		t.Errorf("disable provider %v", o)
	}
	if o := opt("purge-mail", "action"); len(o["choices"].([]any)) != 7 {
		t.Errorf("purge-mail action %v", o)
	}
	if c := byName["disable"]; c["type"] != 1.0 || c["contexts"] == nil {
		t.Errorf("disable %v", c)
	}
	e.noViolations()
}

// TestCommandTextRoundTrip checks that every registered option is read
// back into the command line.
func TestCommandTextRoundTrip(t *testing.T) {
	e := newEnv(t, false)
	tests := []struct {
		name string
		opts []discordtest.Option
		want string
	}{
		{"purge-mail", []discordtest.Option{discordtest.String("message-id", "<abc@mail.contoso.com>"),
			discordtest.String("action", "delete"), discordtest.String("recipient", "a@x.com b@x.com"),
			discordtest.Bool("dry-run", false),
			discordtest.String("reason", `say "hi" --provider graph`)},
			`<abc@mail.contoso.com> --action delete --recipient a@x.com --recipient b@x.com --reason "say "hi&#34; --provider graph"`},
		{"disable", []discordtest.Option{discordtest.String("targets", "--provider graph")}, `"--provider" graph`},
		{"status", []discordtest.Option{discordtest.String("id", "#42")}, `#42`},
		{"help", []discordtest.Option{discordtest.String("command", "purge-mail")}, `purge-mail`},
		{"explain", []discordtest.Option{discordtest.String("command-line", "disable a@x.com --dry-run")}, `disable a@x.com --dry-run`},
		{"pending", nil, ``},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := e.fake.NewCommand(alice, discordtest.Where{Channel: channel}, tt.name, tt.opts...)
			if res := e.deliver(in); res.Status != 200 {
				t.Fatalf("got %d", res.Status)
			}
			cmds := e.h.Commands()
			got := cmds[len(cmds)-1].Text
			if got != tt.want {
				t.Errorf("got %s\nwant %s", got, tt.want)
			}
			if tt.name != "purge-mail" {
				return
			}
			// The reason's quotes and flag-like words stay inside it.
			cmd, err := commands.Parse(tt.name, got)
			if err != nil {
				t.Fatal(err)
			}
			if cmd.Spec.Reason != `say "hi" --provider graph` || cmd.Spec.Provider != "" || len(cmd.Spec.Mail.Recipients) != 2 {
				t.Errorf("parsed %+v (mail %+v)", cmd.Spec, cmd.Spec.Mail)
			}
		})
	}
}
