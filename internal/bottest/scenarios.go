package bottest

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/countersign/countersign/approvals"
	"github.com/countersign/countersign/internal/changes"
)

// Driver plays people on one chat platform against a running System, the
// way the platform would: signed requests or gateway events in, platform
// API calls out (captured by the platform's fake).
type Driver interface {
	// Command types a slash command line ("/disable a@x --reason y") as
	// person and returns what the person is shown at once.
	Command(t testing.TB, person, line string) string
	// Press presses the button labelled label on request id's card as
	// person and returns what the person is shown at once ("" when the
	// answer comes later, see Private).
	Press(t testing.TB, person string, id int64, label string) string
	// Submit fills the dialog that person's last Press opened with value
	// and submits it.
	Submit(t testing.TB, person, value string) string
	// Card returns the visible text of request id's card and the labels of
	// its buttons.
	Card(t testing.TB, id int64) (text string, buttons []string)
	// Thread returns the visible texts of the replies under request id's
	// card, oldest first.
	Thread(t testing.TB, id int64) []string
	// Private returns the private messages person was sent after the
	// immediate answers, oldest first.
	Private(t testing.TB, person string) []string
	// LastCard returns the request id of the newest card, 0 when none.
	LastCard(t testing.TB) int64
	// Changes is told of every change of what the driver's methods read:
	// the platform fake's Changes.
	Changes() *changes.Signal
}

// Scenario is one story every adapter must pass.
type Scenario struct {
	Name string
	Run  func(t *testing.T, d Driver, sys *System)
}

// wait is the bound of every wait in the scenarios.
const wait = 20 * time.Second

// Scenarios is the shared table (issue 7: the same approval story passes
// on Slack and Discord).
var Scenarios = []Scenario{
	{"file, self-approval refused, approve, progress, summary", approveStory},
	{"deny with a reason", denyStory},
	{"refused before filing", refusedStory},
	{"partial failure", partialStory},
}

func contains(t testing.TB, what, got, want string) {
	t.Helper()
	if !strings.Contains(got, want) {
		t.Fatalf("%s: want %q in:\n%s", what, want, got)
	}
}

// fileCard files line as person and waits for its card.
func fileCard(t *testing.T, d Driver, person, line string) int64 {
	t.Helper()
	before := d.LastCard(t)
	ack := d.Command(t, person, line)
	contains(t, "acknowledgement", ack, "Looking up")
	var id int64
	Await(t, wait, "the request card", func() bool {
		id = d.LastCard(t)
		return id != 0 && id != before
	}, d.Changes())
	return id
}

func waitPrivate(t *testing.T, d Driver, person, want string) {
	t.Helper()
	Await(t, wait, fmt.Sprintf("a private message %q to %s", want, person), func() bool {
		return slices.ContainsFunc(d.Private(t, person), func(s string) bool { return strings.Contains(s, want) })
	}, d.Changes())
}

// answer returns what a press showed: the immediate answer or, on
// platforms that answer later, the private message that follows.
func answer(t *testing.T, d Driver, person string, id int64, label, want string) {
	t.Helper()
	if got := d.Press(t, person, id, label); got != "" {
		contains(t, label+" by "+person, got, want)
		return
	}
	waitPrivate(t, d, person, want)
}

// waitState waits until request id is in state want: changed by the
// engine (which tells the system) or by the bot (which then updates the
// card on the platform).
func waitState(t *testing.T, d Driver, sys *System, id int64, want approvals.State) approvals.Request {
	t.Helper()
	var r approvals.Request
	Await(t, wait, fmt.Sprintf("request %d %s", id, want), func() bool {
		var err error
		r, err = sys.Store.Get(context.Background(), id)
		return err == nil && r.State == want
	}, sys.Changes(), d.Changes())
	return r
}

// waitSummary waits until the last of at least two messages in request
// id's thread (the progress message, then the summary) says want, and
// returns the thread.
func waitSummary(t *testing.T, d Driver, id int64, want string) []string {
	t.Helper()
	var th []string
	Await(t, wait, fmt.Sprintf("the summary of request %d saying %q", id, want), func() bool {
		th = d.Thread(t, id)
		return len(th) >= 2 && strings.Contains(th[len(th)-1], want)
	}, d.Changes())
	return th
}

func approveStory(t *testing.T, d Driver, sys *System) {
	// Bob is an approver, so only the two-person rule stops him approving
	// his own request.
	id := fileCard(t, d, "bob", "/disable mallory@contoso.com --reason phishing")
	text, buttons := d.Card(t, id)
	contains(t, "card", text, "mallory@contoso.com")
	contains(t, "card", text, "phishing")
	if !slices.Equal(buttons, []string{"Approve", "Deny"}) {
		t.Fatalf("card buttons = %q, want Approve, Deny", buttons)
	}
	answer(t, d, "bob", id, "Approve", "cannot approve or deny your own request")
	answer(t, d, "dave", id, "Approve", "not an approver")
	if a, _ := sys.TMCAS.Account("mallory@contoso.com"); a.Disabled {
		t.Fatal("the account was disabled before anyone approved")
	}
	answer(t, d, "carol", id, "Approve", fmt.Sprintf("You approved request #%d", id))
	waitState(t, d, sys, id, approvals.StateSucceeded)
	th := waitSummary(t, d, id, "finished: succeeded")
	contains(t, "progress message", th[0], "1 succeeded, 0 failed")
	Await(t, wait, "the decided card", func() bool {
		text, buttons := d.Card(t, id)
		return len(buttons) == 0 && strings.Contains(text, "Succeeded")
	}, d.Changes())
	if a, _ := sys.TMCAS.Account("mallory@contoso.com"); !a.Disabled {
		t.Fatal("mallory@contoso.com is not disabled after the approved request succeeded")
	}
	// A late click on the decided card changes nothing.
	answer(t, d, "carol", id, "Approve", "already")
	if n := len(d.Thread(t, id)); n != len(th) {
		t.Fatalf("thread grew from %d to %d messages after a late click", len(th), n)
	}
}

func denyStory(t *testing.T, d Driver, sys *System) {
	id := fileCard(t, d, "alice", "/disable trent@contoso.com --reason suspicious")
	if got := d.Press(t, "carol", id, "Deny"); got != "" {
		t.Fatalf("Deny should open a dialog, showed %q", got)
	}
	if got := d.Submit(t, "carol", "  "); got != "" {
		contains(t, "empty reason", got, "reason")
	} else {
		waitPrivate(t, d, "carol", "reason")
	}
	if r, _ := sys.Store.Get(context.Background(), id); r.State != approvals.StatePending {
		t.Fatalf("an empty reason changed the request to %s", r.State)
	}
	if got := d.Press(t, "carol", id, "Deny"); got != "" {
		t.Fatalf("Deny should open a dialog, showed %q", got)
	}
	if got := d.Submit(t, "carol", "false positive <@U0ALL> <!channel> @everyone"); got != "" {
		contains(t, "denial", got, fmt.Sprintf("You denied request #%d", id))
	} else {
		waitPrivate(t, d, "carol", fmt.Sprintf("You denied request #%d", id))
	}
	r := waitState(t, d, sys, id, approvals.StateDenied)
	if r.Denial == nil || r.Denial.Actor.Person != "carol" {
		t.Fatalf("denial = %+v, want by carol", r.Denial)
	}
	Await(t, wait, "the denied card", func() bool {
		text, buttons := d.Card(t, id)
		return len(buttons) == 0 && strings.Contains(text, "Denied") && strings.Contains(text, "false positive")
	}, d.Changes())
	if a, _ := sys.TMCAS.Account("trent@contoso.com"); a.Disabled {
		t.Fatal("a denied request disabled the account")
	}
}

func refusedStory(t *testing.T, d Driver, sys *System) {
	contains(t, "unknown person", d.Command(t, "eve", "/disable mallory@contoso.com --reason x"), "not in Countersign's people list")
	got := d.Command(t, "alice", "/disable ceo@contoso.com --reason x")
	contains(t, "protected target", got, "ceo@contoso.com is protected")
	if got := d.Command(t, "alice", "/disable --reason x"); got == "" || strings.Contains(got, "Looking up") {
		t.Fatalf("a command without targets was answered %q", got)
	}
	if reqs, err := sys.Store.List(context.Background(), approvals.Filter{}); err != nil || len(reqs) != 0 {
		t.Fatalf("refused commands stored %d requests (err %v)", len(reqs), err)
	}
	if id := d.LastCard(t); id != 0 {
		t.Fatalf("a refused command posted card %d", id)
	}
}

func partialStory(t *testing.T, d Driver, sys *System) {
	id := fileCard(t, d, "alice", "/disable mallory@contoso.com "+Failing+" --reason phishing")
	answer(t, d, "bob", id, "Approve", fmt.Sprintf("You approved request #%d", id))
	waitState(t, d, sys, id, approvals.StatePartiallyFailed)
	waitSummary(t, d, id, "1 succeeded, 1 failed")
}
