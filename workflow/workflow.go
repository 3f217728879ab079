// Package workflow is everything that can happen to a request, in one
// place: filing (routing, resolving the targets, binding each to the
// identity it resolved to, protection and the policy), approval, denial,
// cancellation and expiry. It applies the rules of package approvals
// through a small Store and asks providers only to resolve targets; it
// never sees a chat platform. The chat front (package bot) turns commands,
// clicks and dialogs into these calls and renders what they return; the
// engine runs what was approved.
//
// The walk of one request goes one way: adapter → commands → workflow →
// (store, which enqueues the execution) → engine → providers; the engine
// tells the chat front what changed, and the chat front tells the adapter.
package workflow

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"time"

	"github.com/countersign/countersign/approvals"
	"github.com/countersign/countersign/providers"
)

// Store is the part of the request store the workflow changes requests
// through; *store.Store implements it. Apply runs approvals.Transition
// with compare-and-swap and, for the approval that reaches quorum, enqueues
// the execution in the same transaction.
type Store interface {
	Create(ctx context.Context, r approvals.Request, items []approvals.Item) (approvals.Request, error)
	Get(ctx context.Context, id int64) (approvals.Request, error)
	Apply(ctx context.Context, id int64, ev approvals.Event, now time.Time) (approvals.Request, error)
	DueForExpiry(ctx context.Context, now time.Time, limit int) ([]int64, error)
}

// Router picks the provider of a spec; *providers.Router implements it.
type Router interface {
	Route(spec approvals.Spec) (approvals.Spec, providers.Provider, error)
}

// Approvers lists the people eligible to approve requests filed from one
// chat platform; the platform adapters' access rules (bot.Access)
// implement it.
type Approvers interface {
	Approvers(ctx context.Context) ([]string, error)
}

// ApprovalObserver records how long requests waited for approval;
// *metrics.Metrics implements it.
type ApprovalObserver interface {
	ObserveApproval(action string, d time.Duration)
}

// Config configures a Service.
type Config struct {
	Store     Store
	Providers Router
	// Policy is the approval policy; its Approvers are filled per request
	// from the requester's platform.
	Policy approvals.Policy
	// Admin reports whether a person may cancel others' requests; nil
	// means nobody.
	Admin func(person string) bool
	// Now is the clock of every transition; nil means time.Now.
	Now func() time.Time
	// Logger receives one line per change of a request; nil discards.
	Logger *slog.Logger
	// Metrics, when set, is told of approvals.
	Metrics ApprovalObserver
}

// Service files requests and decides them.
type Service struct {
	cfg Config
	log *slog.Logger
}

// New checks cfg and returns a Service.
func New(cfg Config) (*Service, error) {
	if cfg.Store == nil || cfg.Providers == nil {
		return nil, errors.New("workflow: store and providers are required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Admin == nil {
		cfg.Admin = func(string) bool { return false }
	}
	return &Service{cfg: cfg, log: cfg.Logger}, nil
}
