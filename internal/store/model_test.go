package store_test

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/countersign/countersign/approvals"
	"github.com/countersign/countersign/internal/store"
	"github.com/countersign/countersign/internal/store/storetest"
	"github.com/countersign/countersign/internal/testdb"
)

var (
	modelSequences = flag.Int("model.sequences", 2000, "random event sequences per dialect in TestModel")
	modelSeed      = flag.Uint64("model.seed", 0, "seed for TestModel (0: time-based, printed)")
)

// model is the reference: a deliberately simple restatement of DESIGN §4,
// written without approvals.Transition.
type model struct {
	requester string
	approvers []string // eligible at filing, requester excluded
	required  int
	expires   time.Time
	hash      string

	state       approvals.State
	approved    []string
	transitions int // audited changes, "requested" included
}

// apply returns the error the real store must return for ev at now, and
// updates the model.
func (m *model) apply(ev approvals.Event, now time.Time) error {
	p := ev.Actor.Person
	if m.state != approvals.StatePending && m.state != approvals.StateApproved {
		return approvals.ErrAlreadyDecided
	}
	switch ev.Kind {
	case approvals.EventApprove, approvals.EventDeny:
		switch {
		case p == "":
			return approvals.ErrUnknownPerson
		case m.state != approvals.StatePending:
			return approvals.ErrAlreadyDecided
		case !now.Before(m.expires):
			m.state = approvals.StateExpired // the click discovers the expiry
			m.transitions++
			return approvals.ErrExpired
		case p == m.requester:
			return approvals.ErrSelfApproval
		case !slices.Contains(m.approvers, p):
			return approvals.ErrNotApprover
		case !approvals.MatchesHash(m.hash, ev.Hash):
			return approvals.ErrHashMismatch
		}
		if ev.Kind == approvals.EventDeny {
			m.state = approvals.StateDenied
			m.transitions++
			return nil
		}
		if slices.Contains(m.approved, p) {
			return approvals.ErrAlreadyApproved
		}
		m.approved = append(m.approved, p)
		if len(m.approved) >= m.required {
			m.state = approvals.StateApproved
		}
		m.transitions++
		return nil
	case approvals.EventCancel:
		if p == "" {
			return approvals.ErrUnknownPerson
		}
		if p != m.requester && !ev.Admin {
			return approvals.ErrNotAllowed
		}
		m.state = approvals.StateCancelled
		m.transitions++
		return nil
	case approvals.EventExpire:
		if m.state != approvals.StatePending {
			return approvals.ErrAlreadyDecided
		}
		if now.Before(m.expires) {
			return approvals.ErrNotExpired
		}
		m.state = approvals.StateExpired
		m.transitions++
		return nil
	}
	panic("model: unexpected event " + string(ev.Kind))
}

var modelPeople = []string{"alice", "bob", "carol", "dave", "erin", "frank"}

func TestModel(t *testing.T) {
	seed := *modelSeed
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	t.Logf("seed %d (rerun with -model.seed=%d)", seed, seed)
	testdb.Each(t, func(t *testing.T, url string) {
		ctx := context.Background()
		s1 := testdb.Store(t, url)
		s2 := testdb.Open(t, url)
		// Sequences run in parallel workers: on PostgreSQL they contend for
		// the audit head and the river tables like replicas do.
		const workers = 4
		var wg sync.WaitGroup
		var mu sync.Mutex
		var failure error
		next := make(chan int)
		for w := range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range next {
					rng := rand.New(rand.NewPCG(seed, uint64(i)))
					if err := runSequence(ctx, s1, s2, rng); err != nil {
						mu.Lock()
						if failure == nil {
							failure = fmt.Errorf("worker %d, sequence %d: %w", w, i, err)
						}
						mu.Unlock()
					}
				}
			}()
		}
		for i := range *modelSequences {
			mu.Lock()
			failed := failure != nil
			mu.Unlock()
			if failed {
				break
			}
			next <- i
		}
		close(next)
		wg.Wait()
		if failure != nil {
			t.Fatal(failure)
		}
		n, err := s1.VerifyAudit(ctx)
		if err != nil {
			t.Fatalf("VerifyAudit after %d entries: %v", n, err)
		}
	})
}

// runSequence files one random request and drives random events at it,
// checking the store against the model after every step.
func runSequence(ctx context.Context, s1, s2 *store.Store, rng *rand.Rand) error {
	requester := modelPeople[rng.IntN(len(modelPeople))]
	var eligible []string
	for _, p := range modelPeople {
		if rng.IntN(2) == 0 {
			eligible = append(eligible, p)
		}
	}
	pol := approvals.Policy{
		ApprovalsRequired: 1 + rng.IntN(3),
		RequestTTL:        time.Duration(1+rng.IntN(60)) * time.Minute,
		MaxTargets:        10,
		Approvers:         eligible,
	}
	now := t0
	spec := approvals.Spec{Action: approvals.ActionDisable, Provider: "graph", Targets: []string{fmt.Sprintf("u%d@contoso.com", rng.IntN(1e6))}}
	r, err := pol.File(spec, nil, storetest.Actor(requester), now)
	if err != nil {
		// Filing must fail closed exactly when too few eligible approvers remain.
		others := slices.DeleteFunc(slices.Clone(eligible), func(p string) bool { return p == requester })
		if errors.Is(err, approvals.ErrNotEnoughApprovers) && len(others) < pol.ApprovalsRequired {
			return nil
		}
		return fmt.Errorf("File refused: %w (eligible %v, requester %s, required %d)", err, eligible, requester, pol.ApprovalsRequired)
	}
	if r, err = s1.Create(ctx, r, nil); err != nil {
		return err
	}
	m := &model{requester: requester, approvers: r.Approvers, required: r.ApprovalsRequired, expires: r.ExpiresAt,
		hash: r.Hash, state: approvals.StatePending, transitions: 1}

	for step := range 3 + rng.IntN(8) {
		now = now.Add(time.Duration(rng.IntN(15)) * time.Minute)
		ev := randomEvent(rng, r.Hash)
		if rng.IntN(4) == 0 {
			// The same click twice at once, on two connections.
			want := []error{m.apply(ev, now), m.apply(ev, now)}
			got := clickTogether(
				func() error { _, err := s1.Apply(ctx, r.ID, ev, now); return err },
				func() error { _, err := s2.Apply(ctx, r.ID, ev, now); return err },
			)
			if !sameOutcomes(want, got) {
				return fmt.Errorf("step %d: duplicate %s by %s: got %v, want %v in any order", step, ev.Kind, ev.Actor.Person, got, want)
			}
		} else {
			want := m.apply(ev, now)
			if _, got := s1.Apply(ctx, r.ID, ev, now); !sameOutcome(want, got) {
				return fmt.Errorf("step %d: %s by %s (admin %v) at +%s: got %v, want %v", step, ev.Kind, ev.Actor.Person, ev.Admin, now.Sub(t0), got, want)
			}
		}
		if err := check(ctx, s1, r.ID, m); err != nil {
			return fmt.Errorf("step %d: %w", step, err)
		}
	}
	return nil
}

func randomEvent(rng *rand.Rand, hash string) approvals.Event {
	person := modelPeople[rng.IntN(len(modelPeople))]
	if rng.IntN(20) == 0 {
		person = "" // an unmapped platform account
	}
	ev := approvals.Event{Actor: storetest.Actor(person), Hash: hash}
	if rng.IntN(15) == 0 {
		ev.Hash = "ffffffffffff" // a stale card
	}
	switch n := rng.IntN(10); {
	case n < 6:
		ev.Kind = approvals.EventApprove
	case n < 7:
		ev.Kind, ev.Reason = approvals.EventDeny, "not this one"
	case n < 8:
		ev.Kind, ev.Admin = approvals.EventCancel, rng.IntN(3) == 0
	default:
		ev.Kind = approvals.EventExpire
	}
	return ev
}

func sameOutcome(want, got error) bool {
	if want == nil || got == nil {
		return want == nil && got == nil
	}
	return errors.Is(got, want)
}

func sameOutcomes(want, got []error) bool {
	return (sameOutcome(want[0], got[0]) && sameOutcome(want[1], got[1])) ||
		(sameOutcome(want[0], got[1]) && sameOutcome(want[1], got[0]))
}

// check compares the stored request and its audit trail with the model.
func check(ctx context.Context, s *store.Store, id int64, m *model) error {
	r, err := s.Get(ctx, id)
	if err != nil {
		return err
	}
	if r.State != m.state {
		return fmt.Errorf("state %s, model %s", r.State, m.state)
	}
	var people []string
	for _, a := range r.Approvals {
		people = append(people, a.Actor.Person)
	}
	if !slices.Equal(people, m.approved) {
		return fmt.Errorf("approvals %v, model %v", people, m.approved)
	}
	// Invariant: approved only with enough distinct, eligible, non-requester approvals.
	if r.State == approvals.StateApproved {
		distinct := map[string]bool{}
		for _, p := range people {
			if p == r.Requester.Person || !slices.Contains(r.Approvers, p) {
				return fmt.Errorf("approved with an ineligible approval by %s", p)
			}
			distinct[p] = true
		}
		if len(distinct) < r.ApprovalsRequired {
			return fmt.Errorf("approved with %d distinct approvals, %d required", len(distinct), r.ApprovalsRequired)
		}
	}
	// Invariant: every transition has exactly one audit entry.
	entries, err := s.RequestAudit(ctx, id)
	if err != nil {
		return err
	}
	if len(entries) != m.transitions {
		return fmt.Errorf("%d audit entries, model has %d transitions", len(entries), m.transitions)
	}
	return nil
}
