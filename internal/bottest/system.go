// Package bottest runs the real bot for adapter tests: a store on a real
// database, the TMCAS fake behind the real client, the engine, and the bot
// with the adapters under test. Its scenario table is the approval story
// every chat adapter must pass, so the bot core is proven platform-neutral.
package bottest

import (
	"cmp"
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/countersign/countersign/approvals"
	"github.com/countersign/countersign/bot"
	"github.com/countersign/countersign/internal/changes"
	"github.com/countersign/countersign/internal/engine"
	"github.com/countersign/countersign/internal/store"
	"github.com/countersign/countersign/internal/testdb"
	"github.com/countersign/countersign/providers"
	"github.com/countersign/countersign/providers/tmcas"
	"github.com/countersign/countersign/providers/tmcas/tmcastest"
	"github.com/countersign/countersign/workflow"
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

// Policy is the scenarios' approval policy.
var Policy = approvals.Policy{
	ApprovalsRequired: 1, RequestTTL: time.Hour, MaxTargets: 2000, RequireReason: true,
	Protected: []string{"ceo@contoso.com"},
}

// System is a running bot with its store, provider fake and engine.
type System struct {
	Store  *store.Store
	TMCAS  *tmcastest.Server
	Bot    *bot.Bot
	Engine *engine.Engine

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
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
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
	rpm := 6000
	if opts.TMCASLimit > 0 {
		rpm = opts.TMCASLimit
	}
	fail := func(err error) (*System, error) {
		fake.Close()
		return nil, err
	}
	client, err := tmcas.New(tmcas.Config{BaseURL: fake.URL(), Token: fake.Token(), RequestsPerMinute: rpm,
		MaxItemsPerCall: opts.MaxItemsPerCall, Logger: log})
	if err != nil {
		return fail(err)
	}
	router, err := providers.NewRouter(nil, client)
	if err != nil {
		return fail(err)
	}
	wf, err := workflow.New(workflow.Config{Store: st, Providers: router, Policy: Policy, Logger: log})
	if err != nil {
		return fail(err)
	}
	b, err := bot.New(bot.Config{Workflow: wf, Store: st, Chats: opts.Chats, Access: opts.Access, Logger: log})
	if err != nil {
		return fail(err)
	}
	poll := opts.PollInterval
	if poll == 0 {
		poll = 50 * time.Millisecond
	}
	sig := &changes.Signal{}
	eng, err := engine.New(engine.Config{
		Store: st, Providers: router, Notifier: notifying{b, sig}, Expirer: wf, Logger: log,
		PollInterval: poll, Workers: 4,
		FetchPollInterval: 20 * time.Millisecond, NotifyInterval: cmp.Or(opts.NotifyInterval, 100*time.Millisecond),
		Protected: Policy.Protected,
	})
	if err != nil {
		return fail(err)
	}
	if err := eng.Start(ctx); err != nil {
		return fail(err)
	}
	return &System{Store: st, TMCAS: fake, Bot: b, Engine: eng, changes: sig}, nil
}

// Close stops the engine, waits for the bot's background work and closes
// the TMCAS fake.
func (s *System) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := s.Engine.Stop(ctx)
	s.Bot.Wait()
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
