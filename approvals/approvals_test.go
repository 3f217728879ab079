package approvals_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/countersign/countersign/approvals"
)

var t0 = time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)

func who(name string) approvals.Actor {
	return approvals.Actor{Person: name, Platform: "console", Account: name}
}

func policy() approvals.Policy {
	return approvals.Policy{
		ApprovalsRequired: 1,
		Overrides:         map[string]int{"purge-mail:hard-delete": 2, "block-ip": 3},
		RequestTTL:        time.Hour,
		MaxTargets:        3,
		RequireReason:     true,
		Protected:         []string{"ceo@contoso.com", "*@breakglass.contoso.com"},
		Approvers:         []string{"alice", "bob", "carol"},
	}
}

func disable(targets ...string) approvals.Spec {
	return approvals.Spec{Action: approvals.ActionDisable, Provider: "graph", Targets: targets, Reason: "phish"}
}

func TestPolicyFailsClosed(t *testing.T) {
	hard := approvals.Spec{Action: approvals.ActionPurgeMail, Provider: "graph", Targets: []string{"73ca4154-58d8-43d0-a890-08dc18c52e6d"},
		Reason: "phish", Mail: &approvals.MailOptions{Action: "hard-delete"}}
	cases := []struct {
		name      string
		mutate    func(*approvals.Policy)
		spec      approvals.Spec
		requester approvals.Actor
		want      error
		wantText  string
	}{
		{name: "ok", spec: disable("mallory@contoso.com"), requester: who("alice")},
		{name: "protected exact", spec: disable("mallory@contoso.com", "CEO@contoso.com"), requester: who("alice"),
			want: approvals.ErrProtectedTarget, wantText: "ceo@contoso.com"},
		{name: "protected glob", spec: disable("root@breakglass.contoso.com"), requester: who("alice"),
			want: approvals.ErrProtectedTarget, wantText: "root@breakglass.contoso.com"},
		{name: "protected recipient", spec: approvals.Spec{Action: approvals.ActionPurgeMail, Provider: "graph",
			Targets: []string{"73ca4154-58d8-43d0-a890-08dc18c52e6d"}, Reason: "x",
			Mail: &approvals.MailOptions{Action: "soft-delete", Recipients: []string{"ceo@contoso.com"}}},
			requester: who("alice"), want: approvals.ErrProtectedTarget},
		{name: "too many targets", spec: disable("a@x.io", "b@x.io", "c@x.io", "d@x.io"), requester: who("alice"),
			want: approvals.ErrTooManyTargets, wantText: "(4, limit 3)"},
		{name: "no targets", spec: disable(), requester: who("alice"), want: approvals.ErrNoTargets},
		{name: "missing reason", spec: approvals.Spec{Action: approvals.ActionDisable, Targets: []string{"a@x.io"}, Reason: "  "},
			requester: who("alice"), want: approvals.ErrReasonRequired},
		{name: "reason optional", mutate: func(p *approvals.Policy) { p.RequireReason = false },
			spec: approvals.Spec{Action: approvals.ActionDisable, Targets: []string{"a@x.io"}}, requester: who("alice")},
		{name: "unknown person", spec: disable("a@x.io"), requester: approvals.Actor{Platform: "slack", Account: "U0NOBODY"},
			want: approvals.ErrUnknownPerson},
		{name: "not a requester", mutate: func(p *approvals.Policy) { p.Requesters = []string{"carol"} },
			spec: disable("a@x.io"), requester: who("alice"), want: approvals.ErrNotRequester},
		{name: "requester is not counted", mutate: func(p *approvals.Policy) { p.Approvers = []string{"alice"} },
			spec: disable("a@x.io"), requester: who("alice"), want: approvals.ErrNotEnoughApprovers, wantText: "(0, limit 1)"},
		{name: "override needs two", mutate: func(p *approvals.Policy) { p.Approvers = []string{"alice", "bob"} },
			spec: hard, requester: who("alice"), want: approvals.ErrNotEnoughApprovers, wantText: "(1, limit 2)"},
		{name: "override met", spec: hard, requester: who("alice")},
		{name: "duplicate approvers count once", mutate: func(p *approvals.Policy) { p.Approvers = []string{"bob", "bob", "bob"} },
			spec:      approvals.Spec{Action: approvals.ActionBlockIP, Provider: "graph", Targets: []string{"203.0.113.9"}, Reason: "c2"},
			requester: who("alice"), want: approvals.ErrNotEnoughApprovers},
		{name: "zero required refused", mutate: func(p *approvals.Policy) { p.ApprovalsRequired = 0 },
			spec: disable("a@x.io"), requester: who("alice"), want: approvals.ErrNotEnoughApprovers},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := policy()
			if tc.mutate != nil {
				tc.mutate(&p)
			}
			r, err := p.File(tc.spec, nil, tc.requester, t0)
			if tc.want == nil {
				if err != nil {
					t.Fatalf("File: %v", err)
				}
				if r.State != approvals.StatePending || r.ExpiresAt != t0.Add(time.Hour) || r.Hash != approvals.ContentHash(r.Spec, nil) {
					t.Fatalf("filed request = %+v, want pending, expiring in an hour, with its hash", r)
				}
				for _, a := range r.Approvers {
					if a == tc.requester.Person {
						t.Fatalf("approvers %v include the requester", r.Approvers)
					}
				}
				return
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("File error = %v, want %v", err, tc.want)
			}
			if tc.wantText != "" && !strings.Contains(err.Error(), tc.wantText) {
				t.Fatalf("File error %q does not name %q", err, tc.wantText)
			}
		})
	}
}

func TestPolicyRequired(t *testing.T) {
	p := policy()
	for _, tc := range []struct {
		spec approvals.Spec
		want int
	}{
		{disable("a@x.io"), 1},
		{approvals.Spec{Action: approvals.ActionPurgeMail, Mail: &approvals.MailOptions{Action: "hard-delete"}}, 2},
		{approvals.Spec{Action: approvals.ActionPurgeMail, Mail: &approvals.MailOptions{Action: "soft-delete"}}, 1},
		{approvals.Spec{Action: approvals.ActionBlockIP}, 3},
	} {
		if got := p.Required(tc.spec); got != tc.want {
			t.Errorf("Required(%s) = %d, want %d", tc.spec.PolicyKey(), got, tc.want)
		}
	}
}

func TestSpecHashIsCanonical(t *testing.T) {
	a := disable("Mallory@Contoso.com", "eve@contoso.com", "mallory@contoso.com")
	b := disable("eve@contoso.com", " mallory@contoso.com")
	hash := func(s approvals.Spec) string { return approvals.ContentHash(s, nil) }
	if hash(a) != hash(b) {
		t.Fatalf("equivalent specs hash differently: %s vs %s", hash(a), hash(b))
	}
	c := disable("eve@contoso.com", "mallory@contoso.com")
	c.Reason = "other"
	if hash(c) == hash(b) {
		t.Fatal("a different reason must change the hash")
	}
	if got := len(a.Canonical().Targets); got != 2 {
		t.Fatalf("canonical targets = %v, want duplicates collapsed", a.Canonical().Targets)
	}
	if h := hash(a); !approvals.MatchesHash(h, approvals.ShortHash(h)) || approvals.MatchesHash(h, "") ||
		approvals.MatchesHash(h, h[:6]) {
		t.Fatal("MatchesHash must accept the short hash and refuse empty or shorter prefixes")
	}
}

func pending(required int) approvals.Request {
	p := policy()
	p.ApprovalsRequired = required
	r, err := p.File(disable("mallory@contoso.com"), nil, who("alice"), t0)
	if err != nil {
		panic(err)
	}
	return r
}

func with(r approvals.Request, f func(*approvals.Request)) approvals.Request {
	f(&r)
	return r
}

func TestTransition(t *testing.T) {
	r := pending(1)
	running := with(r, func(r *approvals.Request) { r.State = approvals.StateRunning })
	submitting := with(running, func(r *approvals.Request) { r.Phase = approvals.PhaseSubmitting })
	submitted := with(running, func(r *approvals.Request) { r.Phase = approvals.PhaseSubmitted })
	approved := with(r, func(r *approvals.Request) { r.State = approvals.StateApproved })
	cases := []struct {
		name      string
		r         approvals.Request
		ev        approvals.Event
		at        time.Time
		wantState approvals.State
		wantPhase approvals.Phase
		wantErr   error
	}{
		{"approve", r, approvals.Event{Kind: approvals.EventApprove, Actor: who("bob"), Hash: r.Hash}, t0, approvals.StateApproved, "", nil},
		{"approve needs hash", r, approvals.Event{Kind: approvals.EventApprove, Actor: who("bob")}, t0, "", "", approvals.ErrHashMismatch},
		{"self approve", r, approvals.Event{Kind: approvals.EventApprove, Actor: who("alice"), Hash: r.Hash}, t0, "", "", approvals.ErrSelfApproval},
		{"stranger approves", r, approvals.Event{Kind: approvals.EventApprove, Actor: who("mallory"), Hash: r.Hash}, t0, "", "", approvals.ErrNotApprover},
		{"unmapped approves", r, approvals.Event{Kind: approvals.EventApprove, Hash: r.Hash}, t0, "", "", approvals.ErrUnknownPerson},
		{"approve at expiry", r, approvals.Event{Kind: approvals.EventApprove, Actor: who("bob"), Hash: r.Hash}, t0.Add(time.Hour), "", "", approvals.ErrExpired},
		{"deny", r, approvals.Event{Kind: approvals.EventDeny, Actor: who("carol"), Hash: r.Hash, Reason: "wrong user"}, t0, approvals.StateDenied, "", nil},
		{"self deny", r, approvals.Event{Kind: approvals.EventDeny, Actor: who("alice"), Hash: r.Hash}, t0, "", "", approvals.ErrSelfApproval},
		{"cancel by requester", r, approvals.Event{Kind: approvals.EventCancel, Actor: who("alice")}, t0, approvals.StateCancelled, "", nil},
		{"cancel by other", r, approvals.Event{Kind: approvals.EventCancel, Actor: who("bob")}, t0, "", "", approvals.ErrNotAllowed},
		{"cancel by admin", r, approvals.Event{Kind: approvals.EventCancel, Actor: who("bob"), Admin: true}, t0, approvals.StateCancelled, "", nil},
		{"cancel approved", approved, approvals.Event{Kind: approvals.EventCancel, Actor: who("alice")}, t0, approvals.StateCancelled, "", nil},
		{"cancel while resolving", running, approvals.Event{Kind: approvals.EventCancel, Actor: who("alice")}, t0, approvals.StateCancelled, "", nil},
		{"cancel while submitting", submitting, approvals.Event{Kind: approvals.EventCancel, Actor: who("alice")}, t0, "", "", approvals.ErrAlreadyStarted},
		{"cancel after submission", submitted, approvals.Event{Kind: approvals.EventCancel, Actor: who("alice")}, t0, "", "", approvals.ErrAlreadyStarted},
		{"expire early", r, approvals.Event{Kind: approvals.EventExpire}, t0.Add(time.Minute), "", "", approvals.ErrNotExpired},
		{"expire", r, approvals.Event{Kind: approvals.EventExpire}, t0.Add(time.Hour), approvals.StateExpired, "", nil},
		{"expire approved", approved, approvals.Event{Kind: approvals.EventExpire}, t0.Add(2 * time.Hour), "", "", approvals.ErrAlreadyDecided},
		{"start pending", r, approvals.Event{Kind: approvals.EventStart}, t0, "", "", approvals.ErrInvalidTransition},
		{"start", approved, approvals.Event{Kind: approvals.EventStart}, t0, approvals.StateRunning, "", nil},
		{"submitting", running, approvals.Event{Kind: approvals.EventSubmitting}, t0, approvals.StateRunning, approvals.PhaseSubmitting, nil},
		{"next step", submitting, approvals.Event{Kind: approvals.EventSubmitting}, t0, approvals.StateRunning, approvals.PhaseSubmitting, nil},
		{"submitting after submitted", submitted, approvals.Event{Kind: approvals.EventSubmitting}, t0, "", "", approvals.ErrInvalidTransition},
		{"submitted", submitting, approvals.Event{Kind: approvals.EventSubmitted}, t0, approvals.StateRunning, approvals.PhaseSubmitted, nil},
		{"submitted without submitting", running, approvals.Event{Kind: approvals.EventSubmitted}, t0, "", "", approvals.ErrInvalidTransition},
		{"finish", submitted, approvals.Event{Kind: approvals.EventFinish, Outcome: approvals.StatePartiallyFailed}, t0, approvals.StatePartiallyFailed, approvals.PhaseSubmitted, nil},
		{"finish bad outcome", submitted, approvals.Event{Kind: approvals.EventFinish, Outcome: approvals.StateDenied}, t0, "", "", approvals.ErrInvalidTransition},
		{"finish pending", r, approvals.Event{Kind: approvals.EventFinish, Outcome: approvals.StateSucceeded}, t0, "", "", approvals.ErrInvalidTransition},
		{"attention", submitting, approvals.Event{Kind: approvals.EventAttention, Reason: "crash"}, t0, approvals.StateNeedsAttention, approvals.PhaseSubmitting, nil},
		{"unknown event", r, approvals.Event{Kind: "bogus"}, t0, "", "", approvals.ErrInvalidTransition},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := tc.r
			got, err := approvals.Transition(tc.r, tc.ev, tc.at)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("error = %v, want %v", err, tc.wantErr)
				}
				if got.State != before.State || got.Phase != before.Phase {
					t.Fatalf("a refused event changed the request to %s/%s", got.State, got.Phase)
				}
				return
			}
			if err != nil {
				t.Fatalf("error = %v", err)
			}
			if got.State != tc.wantState || got.Phase != tc.wantPhase {
				t.Fatalf("got %s/%q, want %s/%q", got.State, got.Phase, tc.wantState, tc.wantPhase)
			}
		})
	}
}

func TestTerminalStatesAreFinal(t *testing.T) {
	events := []approvals.EventKind{approvals.EventApprove, approvals.EventDeny, approvals.EventCancel, approvals.EventExpire,
		approvals.EventStart, approvals.EventSubmitting, approvals.EventSubmitted, approvals.EventFinish, approvals.EventAttention}
	for _, st := range approvals.States() {
		if !st.Terminal() {
			continue
		}
		r := with(pending(1), func(r *approvals.Request) { r.State = st })
		for _, k := range events {
			ev := approvals.Event{Kind: k, Actor: who("alice"), Hash: r.Hash, Admin: true, Outcome: approvals.StateSucceeded}
			if _, err := approvals.Transition(r, ev, t0.Add(2*time.Hour)); !errors.Is(err, approvals.ErrAlreadyDecided) {
				t.Errorf("%s on %s: got %v, want ErrAlreadyDecided", k, st, err)
			}
		}
	}
}

func TestTransitionDoesNotAliasApprovals(t *testing.T) {
	r := pending(2)
	r.Approvals = make([]approvals.Decision, 0, 8)
	a, err := approvals.Transition(r, approvals.Event{Kind: approvals.EventApprove, Actor: who("bob"), Hash: r.Hash}, t0)
	if err != nil {
		t.Fatal(err)
	}
	b, err := approvals.Transition(r, approvals.Event{Kind: approvals.EventApprove, Actor: who("carol"), Hash: r.Hash}, t0)
	if err != nil {
		t.Fatal(err)
	}
	if a.Approvals[0].Actor.Person != "bob" || b.Approvals[0].Actor.Person != "carol" || len(r.Approvals) != 0 {
		t.Fatal("Transition must not share the approvals slice between results")
	}
}

func TestItemTerminal(t *testing.T) {
	for s, want := range map[approvals.ItemStatus]bool{
		approvals.ItemPending: false, approvals.ItemSubmitted: false, approvals.ItemRunning: false,
		approvals.ItemSucceeded: true, approvals.ItemFailed: true, approvals.ItemSkipped: true, approvals.ItemUnknown: true,
	} {
		if got := s.Terminal(); got != want {
			t.Errorf("%s.Terminal() = %v, want %v", s, got, want)
		}
	}
}

func TestOutcome(t *testing.T) {
	item := func(s approvals.ItemStatus) approvals.Item { return approvals.Item{Status: s} }
	for _, tc := range []struct {
		items []approvals.Item
		want  approvals.State
	}{
		{[]approvals.Item{item(approvals.ItemSucceeded), item(approvals.ItemSucceeded)}, approvals.StateSucceeded},
		{[]approvals.Item{item(approvals.ItemSucceeded), item(approvals.ItemFailed)}, approvals.StatePartiallyFailed},
		{[]approvals.Item{item(approvals.ItemSucceeded), item(approvals.ItemSkipped)}, approvals.StatePartiallyFailed},
		{[]approvals.Item{item(approvals.ItemFailed), item(approvals.ItemSkipped)}, approvals.StateFailed},
		{[]approvals.Item{item(approvals.ItemSucceeded), item(approvals.ItemUnknown)}, approvals.StateNeedsAttention},
		{[]approvals.Item{item(approvals.ItemUnknown), item(approvals.ItemFailed)}, approvals.StateNeedsAttention},
		{nil, approvals.StateFailed},
	} {
		if got := approvals.Outcome(tc.items); got != tc.want {
			t.Errorf("Outcome(%v) = %s, want %s", tc.items, got, tc.want)
		}
	}
}

func TestDirectory(t *testing.T) {
	d, err := approvals.NewDirectory([]approvals.Person{
		{Name: "bob", Email: "Bob@contoso.com", Slack: "U02BOB", Discord: "4242"},
		{Name: "carol", Email: "carol@contoso.com"},
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		platform, account, email, want string
	}{
		{"slack", "U02BOB", "", "bob"},
		{"slack", "U09OTHER", "bob@contoso.com", "bob"}, // a second Slack account, same verified e-mail
		{"discord", "4242", "", "bob"},
		{"console", "carol", "", "carol"},
		{"slack", "U09OTHER", "", ""},
		{"discord", "U02BOB", "", ""}, // ids never cross platforms
		{"discord", "1", "carol@contoso.com", ""},
	} {
		p, ok := d.Lookup(tc.platform, tc.account, tc.email)
		if p.Name != tc.want || ok != (tc.want != "") {
			t.Errorf("Lookup(%s, %s, %s) = %q, %v; want %q", tc.platform, tc.account, tc.email, p.Name, ok, tc.want)
		}
	}
	for _, dup := range [][]approvals.Person{
		{{Name: "bob"}, {Name: "bob"}},
		{{Name: "bob", Slack: "U1"}, {Name: "eve", Slack: "U1"}},
		{{Name: "bob", Email: "x@y.z"}, {Name: "eve", Email: "X@Y.Z"}},
		{{Name: ""}},
	} {
		if _, err := approvals.NewDirectory(dup); err == nil {
			t.Errorf("NewDirectory(%+v) accepted a duplicate or empty name", dup)
		}
	}
}

// TestCheckDecisionIsTransitionsRule: the check the chat front makes before
// it opens a denial's reason dialog is the one Transition applies, so a
// dialog opens exactly when the denial could be recorded.
func TestCheckDecisionIsTransitionsRule(t *testing.T) {
	r := pending(1)
	approved := with(r, func(r *approvals.Request) { r.State = approvals.StateApproved })
	cases := []struct {
		name   string
		r      approvals.Request
		person string
		hash   string
		at     time.Time
		want   error
	}{
		{"eligible approver", r, "bob", r.Hash, t0, nil},
		{"short hash", r, "carol", approvals.ShortHash(r.Hash), t0, nil},
		{"requester", r, "alice", r.Hash, t0, approvals.ErrSelfApproval},
		{"not an approver", r, "mallory", r.Hash, t0, approvals.ErrNotApprover},
		{"unmapped", r, "", r.Hash, t0, approvals.ErrUnknownPerson},
		{"wrong hash", r, "bob", "000000000000", t0, approvals.ErrHashMismatch},
		{"at expiry", r, "bob", r.Hash, t0.Add(time.Hour), approvals.ErrExpired},
		{"decided", approved, "bob", r.Hash, t0, approvals.ErrAlreadyDecided},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := approvals.CheckDecision(tc.r, tc.person, tc.hash, tc.at)
			if !errors.Is(got, tc.want) || (tc.want == nil) != (got == nil) {
				t.Fatalf("CheckDecision = %v, want %v", got, tc.want)
			}
			_, deny := approvals.Transition(tc.r, approvals.Event{Kind: approvals.EventDeny, Actor: who(tc.person), Hash: tc.hash, Reason: "x"}, tc.at)
			if (deny == nil) != (got == nil) || (got != nil && !errors.Is(deny, tc.want)) {
				t.Errorf("Transition(deny) = %v, CheckDecision = %v: the two disagree", deny, got)
			}
		})
	}
}
