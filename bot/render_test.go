package bot

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/countersign/countersign/approvals"
	"github.com/countersign/countersign/bot/chat"
)

func TestCardFitsWhateverTheBatch(t *testing.T) {
	now := time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)
	r := approvals.Request{ID: 7, Spec: approvals.Spec{Action: approvals.ActionPurgeMail, Provider: "graph", Targets: []string{"x"}, Mail: &approvals.MailOptions{Action: "hard-delete"}},
		Hash: strings.Repeat("ab", 32), Requester: approvals.Actor{Person: "alice"}, State: approvals.StateRunning, ApprovalsRequired: 2,
		CreatedAt: now, ExpiresAt: now.Add(time.Hour), ApprovedAt: now}
	items := make([]approvals.Item, 2000)
	for i := range items {
		items[i] = approvals.Item{Key: fmt.Sprint(i), Display: fmt.Sprintf("user%d@contoso.com", i), Status: approvals.ItemSucceeded}
		if i%100 == 0 {
			items[i].Status = approvals.ItemFailed
		}
	}
	for name, m := range map[string]chat.Message{
		"card":     renderCard(r, items, now),
		"progress": renderProgress(r, items),
		"summary":  renderSummary(r, items),
	} {
		if len(m.Lines) > maxLines {
			t.Errorf("%s has %d lines, want at most %d", name, len(m.Lines), maxLines)
		}
		if m.Request != 7 {
			t.Errorf("%s is not tied to its request", name)
		}
	}
	if m := renderCard(r, items, now); m.More != 2000-maxLines {
		t.Errorf("card More = %d, want %d", m.More, 2000-maxLines)
	}
	if m := renderProgress(r, items); m.Title != "Progress of #7: 2000 of 2000 done" || m.Text != "1980 succeeded, 20 failed, 0 skipped, 0 in progress." {
		t.Errorf("progress counts: %q / %q", m.Title, m.Text)
	}
	// Part-way through sending, progress says how far sending has got.
	for i := range items {
		items[i].Status = approvals.ItemSubmitted
		if i >= 1200 {
			items[i].Status = approvals.ItemPending
		}
	}
	if m := renderProgress(r, items); m.Title != "Progress of #7: 0 of 2000 done" ||
		m.Text != "0 succeeded, 0 failed, 0 skipped, 2000 in progress. 1200 of 2000 sent to Microsoft Graph so far." {
		t.Errorf("progress while sending: %q / %q", m.Title, m.Text)
	}
	for i := range items {
		items[i].Status = approvals.ItemSucceeded
		if i%100 == 0 {
			items[i].Status = approvals.ItemFailed
		}
	}
	// The summary lists failures first.
	if m := renderSummary(r, items); m.Lines[0].Mark != chat.MarkFailed || m.Lines[19].Mark != chat.MarkFailed || m.Lines[20].Mark != chat.MarkOK {
		t.Errorf("summary order: %v %v %v", m.Lines[0].Mark, m.Lines[19].Mark, m.Lines[20].Mark)
	}
}

func TestUnknownOutcomes(t *testing.T) {
	now := time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)
	r := approvals.Request{ID: 8, Spec: approvals.Spec{Action: approvals.ActionDisable, Provider: "tmcas", Targets: []string{"a", "b"}},
		State: approvals.StateNeedsAttention, CreatedAt: now, ApprovedAt: now, FinishedAt: now.Add(time.Minute)}
	items := []approvals.Item{
		{Key: "a@x.com", Display: "a@x.com", Status: approvals.ItemSucceeded},
		{Key: "b@x.com", Display: "b@x.com", Status: approvals.ItemUnknown, Detail: "check ACCOUNT_DISABLE on b@x.com"},
	}
	p := renderProgress(r, items)
	if p.Title != "Progress of #8: 2 of 2 done" || p.Tone != chat.ToneBad ||
		p.Text != "1 succeeded, 0 failed, 0 skipped, 0 in progress. 1 with an unknown outcome: check each before acting again." {
		t.Errorf("progress: %q / %q / %v", p.Title, p.Text, p.Tone)
	}
	if len(p.Lines) != 1 || p.Lines[0].Mark != chat.MarkProblem ||
		p.Lines[0].Detail != "outcome unknown, not sent again: check ACCOUNT_DISABLE on b@x.com" {
		t.Errorf("progress lines: %+v, want the unknown item with what to check", p.Lines)
	}
	s := renderSummary(r, items)
	if !strings.HasSuffix(s.Text, "1 succeeded, 0 failed, 0 skipped of 2. 1 with an unknown outcome: check each before acting again.") ||
		s.Lines[0].Mark != chat.MarkProblem {
		t.Errorf("summary: %q, first line %+v", s.Text, s.Lines[0])
	}
}

// TestEveryRefusalHasText keeps the one place that words errors complete:
// every sentinel a person can cause has its own text.
func TestEveryRefusalHasText(t *testing.T) {
	for _, err := range []error{
		approvals.ErrNotFound, approvals.ErrSelfApproval, approvals.ErrNotApprover, approvals.ErrNotRequester,
		approvals.ErrUnknownPerson, approvals.ErrAlreadyApproved, approvals.ErrAlreadyDecided, approvals.ErrExpired,
		approvals.ErrHashMismatch, approvals.ErrAlreadyStarted, approvals.ErrNotAllowed, approvals.ErrNoTargets,
		approvals.ErrReasonRequired,
		&approvals.TargetError{Target: "ceo@contoso.com", Err: approvals.ErrProtectedTarget},
		&approvals.CountError{Got: 11, Limit: 10, Err: approvals.ErrTooManyTargets},
		&approvals.CountError{Got: 0, Limit: 1, Err: approvals.ErrNotEnoughApprovers},
		errRestricted, errNoChannel, errBadButton,
	} {
		text, expected := friendly(fmt.Errorf("wrapped: %w", err))
		if !expected || text == "" {
			t.Errorf("%v has no friendly text", err)
		}
	}
	if text, expected := friendly(errors.New("dial tcp 10.0.0.5:5432: connection refused")); expected || text != "" {
		t.Errorf("an internal error was worded for users: %q", text)
	}
}
