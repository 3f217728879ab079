// Package bottest runs the real bot for adapter tests: the system as
// internal/app assembles it for serve, on a store on a real database, with
// the TMCAS fake behind the real client and the adapters under test. Its scenario table is the approval story
// every chat adapter must pass, so the bot core is proven platform-neutral.
package bottest

import (
	"cmp"
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/countersign/countersign/approvals"
	"github.com/countersign/countersign/bot"
	"github.com/countersign/countersign/internal/app"
	"github.com/countersign/countersign/internal/changes"
	"github.com/countersign/countersign/internal/config"
	"github.com/countersign/countersign/internal/engine"
	"github.com/countersign/countersign/internal/store"
	"github.com/countersign/countersign/internal/testdb"
	"github.com/countersign/countersign/providers/tmcas/tmcastest"
)

// People of the scenarios. Alice files, Bob and Carol approve, Mallory is
// the account acted on, Dave is in people: but neither requester nor
// approver on the platform, Eve is not in people: at all.
var People = []approvals.Person{
	{Name: "alice", Email: "alice@contoso.com"},
	{Name: "bob", Email: "bob@contoso.com"},
	{Name: "carol", Email: "carol@contoso.com"},
	{Name: "dave", Email: "dave@contoso.com"},
}

// Accounts the TMCAS fake knows.
var Accounts = []string{"mallory@contoso.com", "trent@contoso.com"}

// Failing is an account whose actions fail at the provider.
const Failing = "broken@contoso.com"

// Policy is the scenarios' approval policy: one approval, and a protected
// account.
var Policy = config.PolicySettings{
	ApprovalsRequired: 1, RequestTTL: time.Hour, MaxTargets: 2000, RequireReason: true,
	ProtectedTargets: []string{"ceo@contoso.com"},
}

// System is a running bot with its store, provider fake and engine, built
// by the assembly serve uses.
type System struct {
	Store  *store.Store
	TMCAS  *tmcastest.Server
	Bot    *bot.Bot
	Engine *engine.Engine

	sys     *app.System
	changes *changes.Signal
}

// Changes is told after each time the engine told the bot that a
// request's stored state changed: waits on the store wait on it.
func (s *System) Changes() *changes.Signal { return s.changes }

// notifying is the engine's Notifier: the bot, and then a signal.
type notifying struct {
	engine.Notifier
	changes *changes.Signal
}

func (n notifying) Changed(ctx context.Context, requestID int64) {
	n.Notifier.Changed(ctx, requestID)
	n.changes.Notify()
}

// OpenStore opens a migrated SQLite store that lives as long as the test;
// adapters need it (for replay protection) before the bot exists.
func OpenStore(t testing.TB) *store.Store {
	t.Helper()
	return testdb.Store(t, testdb.SQLite(t))
}

// Options configure Start.
type Options struct {
	Chats  map[string]bot.Chat
	Access map[string]bot.Access
	Logger *slog.Logger
	// PollInterval is how often the engine polls the provider; 0 is 50 ms.
	PollInterval time.Duration
	// TMCASLimit is the fake's requests per minute; 0 is unlimited.
	TMCASLimit int
	// MaxItemsPerCall caps targets per TMCAS call; 0 is the client default.
	MaxItemsPerCall int
	// TMCASFaults are the fake's switches (Failing always fails).
	TMCASFaults tmcastest.Faults
	// NotifyInterval is the engine's least time between two renders of one
	// request; 0 is 100 ms, which keeps tests fast (production: 1 s).
	NotifyInterval time.Duration
}

// Start starts the bot, engine and TMCAS fake on st, stopped when the test
// ends.
func Start(t testing.TB, st *store.Store, opts Options) *System {
	t.Helper()
	sys, err := New(context.Background(), st, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := sys.Close(); err != nil {
			t.Errorf("stopping the system: %v", err)
		}
	})
	return sys
}

// New starts the bot, engine and TMCAS fake on st; Close stops them. The
// load tool uses it outside tests.
func New(ctx context.Context, st *store.Store, opts Options) (*System, error) {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	limit := opts.TMCASLimit
	if limit == 0 {
		limit = -1
	}
	faults := opts.TMCASFaults
	faults.FailTargets = append(faults.FailTargets, Failing)
	fake := tmcastest.New(tmcastest.Options{Limit: limit, Faults: faults})
	for _, a := range append(Accounts, Failing) {
		fake.AddAccount(a)
	}
	cfg := config.Default()
	cfg.Audit.Key = testdb.AuditKey
	cfg.PolicySettings = Policy
	t := &cfg.Providers.TMCAS
	t.BaseURL, t.Token, t.RequestsPerMinute = fake.URL(), fake.Token(), 6000
	if opts.TMCASLimit > 0 {
		t.RequestsPerMinute = opts.TMCASLimit
	}
	t.MaxItemsPerCall = cmp.Or(opts.MaxItemsPerCall, t.MaxItemsPerCall)
	cfg.Engine.PollInterval = cmp.Or(opts.PollInterval, 50*time.Millisecond)
	cfg.Engine.Workers = 4
	fail := func(err error) (*System, error) {
		fake.Close()
		return nil, err
	}
	if err := cfg.Validate(); err != nil {
		return fail(err)
	}
	var platforms []app.Platform
	for name, c := range opts.Chats {
		platforms = append(platforms, app.Platform{Name: name, Chat: c, Access: opts.Access[name]})
	}
	sig := &changes.Signal{}
	sys, err := app.New(ctx, cfg, app.Options{
		Logger: log, Store: st, Platforms: platforms,
		Notifier: func(b engine.Notifier) engine.Notifier { return notifying{b, sig} },
		Tuning:   app.Tuning{FetchPollInterval: 20 * time.Millisecond, NotifyInterval: cmp.Or(opts.NotifyInterval, 100*time.Millisecond)},
	})
	if err != nil {
		return fail(err)
	}
	if err := sys.Start(ctx); err != nil {
		return fail(err)
	}
	return &System{Store: st, TMCAS: fake, Bot: sys.Bot, Engine: sys.Engine, sys: sys, changes: sig}, nil
}

// Close stops the engine, waits for the bot's background work and closes
// the TMCAS fake.
func (s *System) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := s.sys.Close(ctx)
	s.TMCAS.Close()
	return err
}

// Await waits until cond holds, checking it now and again whenever one of
// signals tells of a change (a fake's Changes, System.Changes), and fails
// the test when timeout passes first. cond must depend only on state whose
// changes those signals tell of.
func Await(t testing.TB, timeout time.Duration, what string, cond func() bool, signals ...*changes.Signal) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := changes.Wait(ctx, cond, signals...); err != nil {
		t.Fatalf("waiting %s for %s: %v", timeout, what, err)
	}
}
