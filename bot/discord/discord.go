// Package discord is Countersign's Discord adapter: it receives slash
// commands, button clicks and modal submissions either at an HTTP
// interactions endpoint (Ed25519-signed, /discord/interactions) or over the
// Gateway, hands them to a bot.Handler as neutral events, and draws the
// bot's neutral messages as embeds with buttons (bot.Chat). It also answers
// who may request and approve from guild role ids (bot.Access) and
// registers the guild's slash commands.
//
// Every REST call goes through discordgo with its own rate-limit retry
// turned off: a 429 is waited out here, bounded and cancellable, a few
// times at most. Every message, edit and interaction response carries
// allowed_mentions {"parse": []}, so nothing the bot writes can ping.
package discord

import (
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/bwmarrin/discordgo"

	"github.com/countersign/countersign/approvals"
	"github.com/countersign/countersign/bot"
)

// Retry bounds for rate-limited calls.
const (
	maxAttempts  = 4                // one call plus three retries after a 429
	maxRetryWait = 30 * time.Second // a longer retry_after fails the call instead of blocking it
	minRetryWait = 10 * time.Millisecond
)

// Seen records keys and reports whether each is new; *store.Store
// implements it. The adapter uses it to refuse duplicate interaction ids
// across replicas.
type Seen interface {
	FirstSeen(ctx context.Context, key string, ttl time.Duration, now time.Time) (bool, error)
}

// Config configures an Adapter. BotToken, ApplicationID and GuildID are
// required; PublicKey selects HTTP interactions (set) or the Gateway
// (empty).
type Config struct {
	BotToken      string
	ApplicationID string
	// PublicKey is the application's Ed25519 public key in hex; empty means
	// Gateway mode.
	PublicKey string
	GuildID   string
	// APIURL is the REST base URL, such as https://discord.com/api/v10; only
	// its scheme and host are used (the version prefix stays discordgo's).
	// Empty means Discord itself.
	APIURL string
	// Channels are the channel ids where commands are accepted; empty means
	// any channel of the guild.
	Channels []string
	// RequesterRoles may file requests; empty means anyone in People.
	RequesterRoles []string
	// ApproverRoles may approve and deny.
	ApproverRoles []string
	// People are the configured people; their Discord user ids map
	// accounts to names.
	People []approvals.Person
	// Seen refuses duplicate interaction ids; nil keeps them in memory,
	// which only protects one replica.
	Seen Seen
	// Transport carries every REST call; nil means http.DefaultTransport.
	Transport http.RoundTripper
	Logger    *slog.Logger
	Now       func() time.Time
}

// Adapter is a Discord connection for one guild. It implements bot.Chat and
// bot.Access.
type Adapter struct {
	cfg     Config
	s       *discordgo.Session
	key     ed25519.PublicKey // nil in Gateway mode
	log     *slog.Logger
	now     func() time.Time
	seen    Seen
	people  map[string]string // Discord user id → people: name
	members *memberCache
	// inflight counts private follow-ups sent in the background.
	inflight sync.WaitGroup
}

// New checks cfg and returns an adapter. It makes no network call.
func New(cfg Config) (*Adapter, error) {
	if cfg.BotToken == "" || cfg.ApplicationID == "" || cfg.GuildID == "" {
		return nil, errors.New("discord: bot_token, application_id and guild_id are required")
	}
	if len(cfg.ApproverRoles) == 0 {
		return nil, errors.New("discord: approver_roles is empty, so nobody could approve")
	}
	a := &Adapter{cfg: cfg, log: cfg.Logger, now: cfg.Now, seen: cfg.Seen, people: map[string]string{}}
	if a.log == nil {
		a.log = slog.New(slog.DiscardHandler)
	}
	if a.now == nil {
		a.now = time.Now
	}
	if a.seen == nil {
		a.seen = &memorySeen{keys: map[string]time.Time{}}
	}
	if cfg.PublicKey != "" {
		k, err := hex.DecodeString(cfg.PublicKey)
		if err != nil || len(k) != ed25519.PublicKeySize {
			return nil, errors.New("discord: public_key must be 64 hex digits")
		}
		a.key = ed25519.PublicKey(k)
	}
	for _, p := range cfg.People {
		if p.Discord != "" {
			a.people[p.Discord] = p.Name
		}
	}
	next := cfg.Transport
	if next == nil {
		next = http.DefaultTransport
	}
	if cfg.APIURL != "" {
		base, err := url.Parse(cfg.APIURL)
		if err != nil || base.Scheme == "" || base.Host == "" {
			return nil, fmt.Errorf("discord: api_url %q is not an absolute URL", cfg.APIURL)
		}
		next = rewrite{base: base, next: next}
	}
	s, err := discordgo.New("Bot " + cfg.BotToken)
	if err != nil {
		return nil, fmt.Errorf("discord: session: %w", err)
	}
	s.Client = &http.Client{Transport: hideLimits{next}, Timeout: 20 * time.Second}
	s.ShouldRetryOnRateLimit = false
	s.ShouldReconnectOnError = true
	s.MaxRestRetries = 0 // a retried POST after a 502 can post a card twice
	s.Identify.Intents = discordgo.IntentsNone
	s.StateEnabled = false
	a.s = s
	a.members = &memberCache{ttl: time.Minute, entries: map[string]memberEntry{}}
	return a, nil
}

// rewrite sends discordgo's requests, which always name discord.com, to
// the configured API host (reference §24).
type rewrite struct {
	base *url.URL
	next http.RoundTripper
}

// RoundTrip implements http.RoundTripper.
func (t rewrite) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.URL.Scheme, r.URL.Host, r.Host = t.base.Scheme, t.base.Host, t.base.Host
	return t.next.RoundTrip(r)
}

// hideLimits removes the rate-limit headers from responses before
// discordgo sees them: its bucket limiter sleeps until a bucket resets
// with time.Sleep, unbounded and deaf to ctx, which would let one long
// X-RateLimit-Reset-After stall every later call on the route. Countersign
// sends few requests; it waits out each 429 itself in call, bounded and
// cancellable.
type hideLimits struct{ next http.RoundTripper }

// RoundTrip implements http.RoundTripper.
func (t hideLimits) RoundTrip(r *http.Request) (*http.Response, error) {
	res, err := t.next.RoundTrip(r)
	if res != nil {
		for _, h := range []string{"X-RateLimit-Remaining", "X-RateLimit-Reset", "X-RateLimit-Reset-After", "X-RateLimit-Global", "X-RateLimit-Limit"} {
			res.Header.Del(h)
		}
	}
	return res, err
}

// call runs fn, waiting out 429 answers itself: discordgo's own retry
// sleeps without a bound and ignores ctx.
func (a *Adapter) call(ctx context.Context, what string, fn func(opts ...discordgo.RequestOption) error) error {
	limits := bot.Backoff{Attempts: maxAttempts, Min: minRetryWait, Max: maxRetryWait, Limited: retryAfter}
	return limits.Do(ctx, a.log, "discord "+what, func() error { return fn(discordgo.WithContext(ctx)) })
}

// retryAfter is the wait a 429 from Discord asks for.
func retryAfter(err error) (time.Duration, bool) {
	var rl *discordgo.RateLimitError
	if !errors.As(err, &rl) || rl.RateLimit == nil || rl.TooManyRequests == nil {
		return 0, false
	}
	return rl.RetryAfter, true
}

// Ready checks that the API answers and the token is valid (GET
// /users/@me), for /readyz.
func (a *Adapter) Ready(ctx context.Context) error {
	return a.call(ctx, "ready check", func(opts ...discordgo.RequestOption) error {
		_, err := a.s.User("@me", opts...)
		return err
	})
}

// apiCode returns the Discord JSON error code of err, 0 if none.
func apiCode(err error) int {
	var re *discordgo.RESTError
	if errors.As(err, &re) && re.Message != nil {
		return re.Message.Code
	}
	return 0
}

// apiStatus returns the HTTP status of a REST error, 0 if none.
func apiStatus(err error) int {
	var re *discordgo.RESTError
	if errors.As(err, &re) && re.Response != nil {
		return re.Response.StatusCode
	}
	return 0
}

// memorySeen is the single-replica fallback for Config.Seen.
type memorySeen struct {
	mu   sync.Mutex
	keys map[string]time.Time
}

func (m *memorySeen) FirstSeen(_ context.Context, key string, ttl time.Duration, now time.Time) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for k, exp := range m.keys {
		if exp.Before(now) {
			delete(m.keys, k)
		}
	}
	if _, ok := m.keys[key]; ok {
		return false, nil
	}
	m.keys[key] = now.Add(ttl)
	return true, nil
}
