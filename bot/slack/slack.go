// Package slackbot is the Slack adapter of Countersign (DESIGN §7): slash
// commands and button clicks arrive over HTTP (signed, /slack/commands and
// /slack/interactions) or Socket Mode; cards are posted with
// chat.postMessage, edited with chat.update and their progress kept in the
// card's thread; deny reasons are asked in a modal. It turns Slack payloads
// into neutral bot events and draws neutral messages as Block Kit, escaping
// every string.
package slackbot

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/slack-go/slack"
	"golang.org/x/time/rate"

	"github.com/countersign/countersign/approvals"
	"github.com/countersign/countersign/bot"
	"github.com/countersign/countersign/bot/chat"
)

// callbackDialog is the callback_id of Countersign's modals.
const callbackDialog = "countersign-dialog"

// Seen remembers keys for replay protection; *store.Store implements it.
type Seen interface {
	// FirstSeen reports whether key is new, remembering it for ttl.
	FirstSeen(ctx context.Context, key string, ttl time.Duration, now time.Time) (bool, error)
}

// Limits are the client-side rate limits the adapter keeps to, so that it
// stays under Slack's instead of running into 429s.
type Limits struct {
	// PostPerChannel is chat.postMessage per channel per second, with
	// PostBurst.
	PostPerChannel rate.Limit
	PostBurst      int
	// UpdatesPerMinute is chat.update per workspace per minute (Tier 3),
	// with UpdateBurst.
	UpdatesPerMinute int
	UpdateBurst      int
}

// SlackLimits keep about 10 % under Slack's documented limits (chat.md
// §10: one post per second per channel with short bursts, chat.update at
// Tier 3, 50 a minute): pacing at exactly Slack's rate would still meet
// 429s whenever network jitter bunches two calls together.
var SlackLimits = Limits{PostPerChannel: 0.9, PostBurst: 2, UpdatesPerMinute: 45, UpdateBurst: 8}

// Config configures the adapter; the keys mirror the slack: section.
type Config struct {
	BotToken      string
	SigningSecret string // HTTP mode
	AppToken      string // Socket Mode
	APIURL        string // Web API base URL ending in "/"; "" is Slack's
	Channels      []string
	Requesters    []string // user (U…, W…) or user-group (S…) ids; empty: anyone in people
	Approvers     []string // user or user-group ids
	// CommandPrefix is slack.command_prefix: the action commands arrive as
	// /<prefix><action> (see Manifest); /countersign always works.
	CommandPrefix string
	People        []approvals.Person
	Seen          Seen
	// Transport carries the Web API calls (metrics wrap it); nil is
	// http.DefaultTransport.
	Transport http.RoundTripper
	// Limits are the client-side rate limits; zero is SlackLimits.
	Limits Limits
	// CacheTTL is how long user profiles and user-group members are
	// cached; 0 is one minute.
	CacheTTL time.Duration
	Logger   *slog.Logger
	Now      func() time.Time
}

// Adapter is the Slack adapter. It implements bot.Chat and bot.Access.
type Adapter struct {
	cfg   Config
	api   *slack.Client
	http  *http.Client
	log   *slog.Logger
	users *cache[slack.User]
	group *cache[[]string]

	mu       sync.Mutex
	postLim  map[string]*rate.Limiter
	updLim   *rate.Limiter
	inflight sync.WaitGroup
}

// New returns an adapter for cfg.
func New(cfg Config) (*Adapter, error) {
	if cfg.BotToken == "" {
		return nil, errors.New("slack: a bot token is required")
	}
	if cfg.SigningSecret == "" && cfg.AppToken == "" {
		return nil, errors.New("slack: a signing secret (HTTP mode) or an app token (Socket Mode) is required")
	}
	if cfg.Seen == nil {
		return nil, errors.New("slack: a replay store is required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Transport == nil {
		cfg.Transport = http.DefaultTransport
	}
	if cfg.Limits == (Limits{}) {
		cfg.Limits = SlackLimits
	}
	if cfg.CacheTTL == 0 {
		cfg.CacheTTL = time.Minute
	}
	if cfg.APIURL == "" {
		cfg.APIURL = slack.APIURL
	}
	hc := &http.Client{Transport: cfg.Transport, Timeout: 30 * time.Second}
	opts := []slack.Option{slack.OptionHTTPClient(hc), slack.OptionAPIURL(cfg.APIURL)}
	if cfg.AppToken != "" {
		opts = append(opts, slack.OptionAppLevelToken(cfg.AppToken))
	}
	a := &Adapter{
		cfg:     cfg,
		api:     slack.New(cfg.BotToken, opts...),
		http:    hc,
		log:     cfg.Logger.With("platform", bot.PlatformSlack),
		users:   newCache[slack.User](cfg.CacheTTL, cfg.Now),
		group:   newCache[[]string](cfg.CacheTTL, cfg.Now),
		postLim: map[string]*rate.Limiter{},
	}
	if l := cfg.Limits; l.UpdatesPerMinute > 0 {
		a.updLim = rate.NewLimiter(rate.Limit(float64(l.UpdatesPerMinute)/60), max(l.UpdateBurst, 1))
	}
	return a, nil
}

// SocketMode reports whether the adapter receives events over Socket Mode.
func (a *Adapter) SocketMode() bool { return a.cfg.AppToken != "" }

// Wait waits for follow-up messages still being sent.
func (a *Adapter) Wait() { a.inflight.Wait() }

// Ready checks that the bot token works (auth.test), for /readyz.
func (a *Adapter) Ready(ctx context.Context) error {
	if _, err := a.api.AuthTestContext(ctx); err != nil {
		return fmt.Errorf("slack auth.test: %w", err)
	}
	return nil
}

// call runs fn, waiting as Slack asks when it answers 429: at least a
// second, as slack-go's own retry would, and five retries at most.
func (a *Adapter) call(ctx context.Context, method string, fn func() error) error {
	limits := bot.Backoff{Attempts: 6, Min: time.Second, Max: time.Minute, Limited: retryAfter}
	return limits.Do(ctx, a.log, "slack "+method, fn)
}

// retryAfter is the wait a 429 from Slack asks for.
func retryAfter(err error) (time.Duration, bool) {
	var rl *slack.RateLimitedError
	if !errors.As(err, &rl) {
		return 0, false
	}
	return rl.RetryAfter, true
}

func (a *Adapter) postLimiter(channel string) *rate.Limiter {
	l := a.cfg.Limits
	if l.PostPerChannel <= 0 {
		return nil
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	lim := a.postLim[channel]
	if lim == nil {
		lim = rate.NewLimiter(l.PostPerChannel, max(l.PostBurst, 1))
		a.postLim[channel] = lim
	}
	return lim
}

func wait(ctx context.Context, l *rate.Limiter) error {
	if l == nil {
		return nil
	}
	return l.Wait(ctx)
}

func msgOptions(m chat.Message) []slack.MsgOption {
	r := render(m)
	return []slack.MsgOption{slack.MsgOptionText(r.Text, false), slack.MsgOptionBlocks(r.Blocks...)}
}

func (a *Adapter) post(ctx context.Context, channel, thread string, m chat.Message) (string, error) {
	if err := wait(ctx, a.postLimiter(channel)); err != nil {
		return "", err
	}
	opts := msgOptions(m)
	if thread != "" {
		opts = append(opts, slack.MsgOptionTS(thread))
	}
	var ts string
	err := a.call(ctx, "chat.postMessage", func() error {
		var err error
		_, ts, err = a.api.PostMessageContext(ctx, channel, opts...)
		return err
	})
	return ts, err
}

// Post implements bot.Chat.
func (a *Adapter) Post(ctx context.Context, channel string, m chat.Message) (chat.Handle, error) {
	ts, err := a.post(ctx, channel, "", m)
	if err != nil {
		return chat.Handle{}, err
	}
	return chat.Handle{Platform: bot.PlatformSlack, Channel: channel, ID: ts}, nil
}

// Reply implements bot.Chat: replies go in the parent's thread, whose id is
// the parent's ts.
func (a *Adapter) Reply(ctx context.Context, parent chat.Handle, m chat.Message) (chat.Handle, error) {
	thread := parent.Thread
	if thread == "" {
		thread = parent.ID
	}
	ts, err := a.post(ctx, parent.Channel, thread, m)
	if err != nil {
		return chat.Handle{}, err
	}
	return chat.Handle{Platform: bot.PlatformSlack, Channel: parent.Channel, ID: ts, Thread: thread}, nil
}

// Update implements bot.Chat.
func (a *Adapter) Update(ctx context.Context, h chat.Handle, m chat.Message) error {
	if err := wait(ctx, a.updLim); err != nil {
		return err
	}
	opts := msgOptions(m)
	return a.call(ctx, "chat.update", func() error {
		_, _, _, err := a.api.UpdateMessageContext(ctx, h.Channel, h.ID, opts...)
		return err
	})
}
