package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/countersign/countersign/approvals"
	"github.com/countersign/countersign/bot"
	"github.com/countersign/countersign/bot/console"
	"github.com/countersign/countersign/internal/app"
	"github.com/countersign/countersign/internal/config"
	"github.com/countersign/countersign/internal/digest"
	"github.com/countersign/countersign/internal/engine"
	"github.com/countersign/countersign/providers/msgraph/graphtest"
	"github.com/countersign/countersign/providers/tmcas/tmcastest"
	"golang.org/x/term"
)

// demoConfig is the demo's configuration; the %s are the fakes' addresses
// and credentials and the database path.
const demoConfig = `
store: { url: "sqlite:%s" }
audit: { key: "demo-only-audit-key-never-use-this-in-production" }
log: { level: error, format: text } # block-ip's warnings about the deprecated API it uses are no news in a demo
policy:
  approvals_required: 1
  request_ttl: 1h
  max_targets: 100
  require_reason: true
  protected_targets: ["ceo@contoso.com", "*@breakglass.contoso.com"]
  admins: [carol]
  actions: { "purge-mail:permanent": { approvals_required: 2 } }
people:
  - { name: alice, email: alice@contoso.com }
  - { name: bob, email: bob@contoso.com }
  - { name: carol, email: carol@contoso.com }
providers:
  tmcas: { base_url: "%s", token: "%s" }
  graph: { base_url: "%s", token_url: "%s", tenant_id: "%s", client_id: "%s", client_secret: "%s", enable_legacy_security_actions: true }
routes: { disable: tmcas, enable-mfa: tmcas, reset-password: graph, revoke-sessions: graph, purge-mail: graph }
engine: { poll_interval: 200ms, expiry_sweep: "@every 1s", workers: 4 }
`

// demoPeople are the console's people: alice responds, bob and carol approve.
var demoPeople = []console.Person{{Name: "alice"}, {Name: "bob", Approver: true}, {Name: "carol", Approver: true}}

// Seeded directory and mail of the fake providers.
const (
	demoMessageID  = "7a3c4f10-2b9e-4d1a-9c55-0e6f1a2b3c4d"
	demoInternetID = "<invoice-4711@billing.example.net>" // the same message's Internet Message-ID
	demoFailing    = "trent@contoso.com"                  // every TMCAS action on it fails
	demoDisabled   = "grace@contoso.com"                  // disabled already, so that /enable has someone to enable
)

var demoUsers = []struct{ email, name string }{
	{"mallory@contoso.com", "Mallory Doe"},
	{"eve@contoso.com", "Eve Smith"},
	{"trent@contoso.com", "Trent Black"},
	{"ceo@contoso.com", "Cee Eo"},
	{"dave@contoso.com", "Dave Lee"},
	{"erin@contoso.com", "Erin Park"},
	{"frank@contoso.com", "Frank Moss"},
}

const demoHint = `Countersign demo: SQLite in a temporary directory, fake Trend Micro and Microsoft Graph,
and three people: alice (responder), bob and carol (approvers). You are alice.

Try:
  /disable mallory@contoso.com --reason "phishing, INC-4711"
  /as bob
  /approve 1
  /purge-mail ` + demoMessageID + ` --reason "phishing wave" --dry-run
  /purge-mail ` + demoInternetID + ` --provider tmcas --reason "phishing wave"
  /enable ` + demoDisabled + ` --reason "back from leave"
  /block-ip 203.0.113.9 --reason "scanner" --dry-run
  /countersign explain disable ceo@contoso.com --reason test
  /countersign help
/as NAME switches person, /approve ID and /deny ID REASON press a card's buttons,
/wait 2h moves the clock forward, /digest shows the digest of the last day, /quit or Ctrl-C ends the demo.`

// clock is the demo's adjustable clock: /wait moves it forward.
type clock struct {
	mu     sync.Mutex
	base   time.Time // the demo's time at start
	start  time.Time // the wall clock at start; zero freezes time at base
	offset time.Duration
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := c.base.Add(c.offset)
	if !c.start.IsZero() {
		t = t.Add(time.Since(c.start))
	}
	return t
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.offset += d
}

// demoFlags: demo runs the bot in a terminal with an embedded
// configuration and fake providers; with --script it reads commands from a
// file and prints the transcript, on a frozen clock so the transcript is
// always the same.
func demoFlags(fs *flag.FlagSet) command {
	script := fs.String("script", "", "read commands from `FILE` and print the transcript, then exit")
	return command{run: func(ctx context.Context, c *call) error {
		if *script != "" {
			f, err := os.Open(*script)
			if err != nil {
				return fmt.Errorf("reading the script: %w", err) // a missing file is a failure, not a wrong call
			}
			defer f.Close()
			clk := &clock{base: time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)}
			return runDemo(ctx, c.env, clk, console.Scan(f), false)
		}
		clk := &clock{base: time.Now().UTC().Truncate(time.Second), start: time.Now()}
		if c.terminal != nil {
			rw, restore, err := c.terminal()
			if err != nil {
				return err
			}
			if rw != nil {
				defer restore()
				// Everything goes through the terminal, which keeps the
				// line being typed below what the bot prints meanwhile.
				t := term.NewTerminal(rw, "")
				e := c.env
				e.stdout, e.stderr = t, t
				return runDemo(ctx, e, clk, t, true)
			}
		}
		return runDemo(ctx, c.env, clk, console.Scan(c.stdin), true)
	}}
}

// runDemo runs the demo on lines: live, with the hint and the wall clock,
// or as a script's transcript on clk, frozen.
func runDemo(ctx context.Context, e env, clk *clock, in console.Lines, live bool) error {
	start := time.Now()
	d, err := startDemo(ctx, e, clk, live)
	if err != nil {
		return err
	}
	defer d.close()
	if live {
		fmt.Fprintln(e.stdout, demoHint)
		fmt.Fprintf(e.stdout, "(started in %s)\n", time.Since(start).Round(time.Millisecond))
	}
	err = d.console.Run(ctx, in, d.sys.Bot, consoleHooks(d), !live)
	if errors.Is(err, io.EOF) || errors.Is(err, context.Canceled) {
		err = nil
	}
	if p, ok := in.(console.Prompter); ok {
		p.SetPrompt("") // a terminal would draw the prompt again after the last words
	}
	fmt.Fprintln(e.stdout)
	if live && err == nil {
		// Ctrl-C, Ctrl-D, /quit or the end of the input: say so, rather
		// than leave the shell's prompt after the demo's.
		fmt.Fprintln(e.stdout, "Demo ended; its temporary database and fake providers are gone.")
	}
	return err
}

// consoleHooks are the demo's additions to the console.
func consoleHooks(d *demo) console.Hooks { return console.Hooks{Settle: d.settle, Extra: d.extra} }

// demo is a running demo system.
type demo struct {
	clock   *clock
	dir     string
	sys     *app.System
	render  engine.Notifier // the bot
	console *console.Console
	tmcas   *tmcastest.Server
	graph   *graphtest.Server
	log     *slog.Logger
	out     io.Writer

	closing atomic.Bool

	mu    sync.Mutex
	final map[int64]bool // requests whose final state has been rendered
}

func startDemo(ctx context.Context, e env, clk *clock, live bool) (_ *demo, err error) {
	dir, err := os.MkdirTemp("", "countersign-demo-")
	if err != nil {
		return nil, fmt.Errorf("creating the demo directory: %w", err)
	}
	d := &demo{clock: clk, dir: dir, final: map[int64]bool{}, out: e.stdout}
	defer func() {
		if err != nil {
			d.close()
		}
	}()
	d.tmcas = tmcastest.New(tmcastest.Options{Now: clk.Now, Limit: -1, Seed: 1, Faults: tmcastest.Faults{FailTargets: []string{demoFailing}}})
	d.graph = graphtest.New(graphtest.Options{Now: clk.Now, Seed: 1})
	d.graph.SetBehavior(graphtest.Behavior{DerivedFilter: true})
	for _, u := range demoUsers {
		d.tmcas.AddAccount(u.email)
		d.graph.AddUser(graphtest.User{DisplayName: u.name, UPN: u.email, Email: u.email, Enabled: true, Accounts: []graphtest.Account{{
			Provider: "activeDirectory",
			Actions:  []string{"disable", "forcePasswordReset", "revokeAllSessions", "requireUserToSignInAgain", "markUserAsCompromised"},
		}}})
	}
	d.graph.AddUser(graphtest.User{DisplayName: "Grace Hall", UPN: demoDisabled, Email: demoDisabled, Accounts: []graphtest.Account{{
		Provider: "activeDirectory",
		Actions:  []string{"enable", "forcePasswordReset", "revokeAllSessions", "requireUserToSignInAgain", "markUserAsCompromised"},
	}}})
	for _, to := range []string{"dave@contoso.com", "erin@contoso.com", "frank@contoso.com"} {
		d.graph.AddEmail(graphtest.Email{NetworkMessageID: demoMessageID, InternetMessageID: demoInternetID,
			Recipient: to, Subject: "Overdue invoice 4711", Sender: "billing@example.net", Logged: clk.Now().Add(-2 * time.Hour)})
		// The same message as TMCAS sees it, for purge-mail --provider tmcas.
		d.tmcas.AddMail(tmcastest.Mail{Mailbox: to, MessageID: demoInternetID, Subject: "Overdue invoice 4711",
			Sender: "billing@example.net", Delivered: clk.Now().Add(-2 * time.Hour)})
	}
	tenant, client, secret := d.graph.Credentials()
	yaml := fmt.Sprintf(demoConfig, filepath.ToSlash(filepath.Join(dir, "demo.db")), d.tmcas.URL(), d.tmcas.Token(),
		d.graph.URL(), d.graph.TokenURL(), tenant, client, secret)
	cfg, err := config.Parse([]byte(yaml), nil)
	if err != nil {
		return nil, fmt.Errorf("demo configuration: %w", err)
	}
	// River reports its own shutdown as errors; once the demo is closing
	// nothing it logs is news.
	d.log = slog.New(quietHandler{Handler: cfg.Log.Handler(e.stderr), closing: &d.closing})
	if d.console, err = console.New(e.stdout, demoPeople, live); err != nil {
		return nil, err
	}
	refs := 0
	d.sys, err = app.New(ctx, cfg, app.Options{
		Logger: d.log, Version: version, Migrate: true, Now: clk.Now,
		Platforms: []app.Platform{{Name: bot.PlatformConsole, Chat: d.console, Access: d.console}},
		NewRef:    func() string { refs++; return fmt.Sprintf("demo%04d", refs) },
		Notifier:  func(b engine.Notifier) engine.Notifier { d.render = b; return d },
		Tuning:    app.Tuning{FetchPollInterval: 50 * time.Millisecond, NotifyInterval: 100 * time.Millisecond},
	})
	if err != nil {
		return nil, err
	}
	if err := d.sys.Start(ctx); err != nil {
		return nil, err
	}
	return d, nil
}

// Changed implements engine.Notifier: render, then note final renders so
// settle knows when a request's story is complete.
func (d *demo) Changed(ctx context.Context, id int64) {
	// The state is read before rendering: a render only counts as final
	// when the state it could see was already final.
	r, err := d.sys.Store.Get(ctx, id)
	d.render.Changed(ctx, id)
	if err == nil && r.State.Terminal() {
		d.mu.Lock()
		d.final[id] = true
		d.mu.Unlock()
	}
}

// settle waits until nothing is left to happen without new input: no
// background work in the bot, no request approved or running, every finished
// request rendered in its final state, no pending request past its expiry.
func (d *demo) settle(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		d.sys.Bot.Wait()
		busy, err := d.busy(ctx)
		if err != nil {
			return err
		}
		if !busy {
			d.sys.Bot.Wait()
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("the demo did not settle: %w", ctx.Err())
		case <-tick.C:
		}
	}
}

func (d *demo) busy(ctx context.Context) (bool, error) {
	rs, err := d.sys.Store.List(ctx, approvals.Filter{})
	if err != nil {
		return false, err
	}
	now := d.clock.Now()
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, r := range rs {
		switch {
		case r.State == approvals.StateApproved || r.State == approvals.StateRunning:
			return true, nil
		case r.State == approvals.StatePending && !now.Before(r.ExpiresAt):
			return true, nil
		case r.State.Terminal() && (!r.ApprovedAt.IsZero() || r.State == approvals.StateExpired) && !d.final[r.ID]:
			return true, nil
		}
	}
	return false, nil
}

// extra handles the demo's own commands.
func (d *demo) extra(ctx context.Context, name, args string) (bool, error) {
	switch name {
	case "wait":
		d.wait(args)
		return true, nil
	case "digest":
		return true, d.digest(ctx, args)
	}
	return false, nil
}

// digest posts the digest of the last DURATION (default 24h) in the
// console, as serve posts it to the digest channel on its schedule.
func (d *demo) digest(ctx context.Context, args string) error {
	since := 24 * time.Hour
	if args != "" {
		dur, err := parseDuration(args)
		if err != nil || dur <= 0 {
			fmt.Fprintln(d.out, "Usage: /digest [DURATION], such as /digest 24h or /digest 7d")
			return nil
		}
		since = dur
	}
	now := d.clock.Now()
	w, err := digest.Committed(ctx, d.sys.Store, now.Add(-since), now)
	if err != nil {
		return err
	}
	dg, err := digest.Build(ctx, d.sys.Store, w, time.UTC)
	if err != nil {
		return err
	}
	_, err = d.console.Post(ctx, console.Channel, dg.Message())
	return err
}

// wait moves the demo clock forward.
func (d *demo) wait(args string) {
	dur, err := parseDuration(args)
	if err != nil || dur <= 0 {
		fmt.Fprintln(d.out, "Usage: /wait DURATION, such as /wait 2h or /wait 1d")
		return
	}
	d.clock.advance(dur)
}

func (d *demo) close() {
	d.closing.Store(true)
	if d.sys != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		if err := d.sys.Close(ctx); err != nil {
			d.log.Warn("stopping the demo", "err", err)
		}
	}
	if d.tmcas != nil {
		d.tmcas.Close()
	}
	if d.graph != nil {
		d.graph.Close()
	}
	os.RemoveAll(d.dir)
}

// quietHandler drops every record once closing is set.
type quietHandler struct {
	slog.Handler
	closing *atomic.Bool
}

func (h quietHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return !h.closing.Load() && h.Handler.Enabled(ctx, l)
}

func (h quietHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return quietHandler{Handler: h.Handler.WithAttrs(as), closing: h.closing}
}

func (h quietHandler) WithGroup(name string) slog.Handler {
	return quietHandler{Handler: h.Handler.WithGroup(name), closing: h.closing}
}
