package bot

import (
	"context"
	"errors"
	"fmt"

	"github.com/countersign/countersign/approvals"
	"github.com/countersign/countersign/bot/chat"
	"github.com/countersign/countersign/commands"
	"github.com/countersign/countersign/providers"
)

// Errors of the bot itself, beside the approvals sentinels.
var (
	errNoPlatform = errors.New("platform not configured")
	errRestricted = errors.New("restricted account")
	errNoChannel  = errors.New("command outside a channel")
	errBadButton  = errors.New("malformed button value")
)

// friendly returns the text a person sees for err, and whether err is an
// expected outcome (logged at info) rather than a fault (logged at error,
// shown only as a reference id).
func friendly(err error) (string, bool) {
	var perr *commands.Error
	if errors.As(err, &perr) {
		if perr.Hint != "" {
			return upper(perr.Msg) + ". " + upper(perr.Hint), true
		}
		return upper(perr.Msg) + ".", true
	}
	var target *approvals.TargetError
	var counts *approvals.CountError
	var provider *providers.Error
	switch {
	case errors.As(err, &provider):
		return "No configured provider can do that. " + upper(provider.Msg) + ".", true
	case errors.As(err, &target) && errors.Is(err, approvals.ErrProtectedTarget):
		return fmt.Sprintf("%s is protected: no request may touch it. Ask an administrator if this is a real emergency.", target.Target), true
	case errors.As(err, &counts) && errors.Is(err, approvals.ErrTooManyTargets):
		return fmt.Sprintf("Too many targets: %d, the limit is %d. Split them over several requests.", counts.Got, counts.Limit), true
	case errors.As(err, &counts) && errors.Is(err, approvals.ErrNotEnoughApprovers):
		return fmt.Sprintf("Not filed: this needs %s, but only %d other eligible approver(s) exist. Ask an administrator to add approvers.", chat.Count(counts.Limit, "approval"), counts.Got), true
	}
	// Expected refusals, tried in order: the first sentinel in err's chain
	// chooses what the person is told.
	for _, r := range []struct {
		sentinel error
		text     string
	}{
		{approvals.ErrSelfApproval, "You cannot approve or deny your own request: a second person must."},
		{approvals.ErrNotApprover, "You are not an approver for this request."},
		{approvals.ErrNotRequester, "You are not allowed to file requests."},
		{approvals.ErrUnknownPerson, "Your account is not in Countersign's people list. Ask an administrator to add you."},
		{errRestricted, "Your account may not use Countersign (guest, restricted, bot or deactivated accounts never can)."},
		{approvals.ErrAlreadyApproved, "You have already approved this request; a different person must give the next approval."},
		{approvals.ErrAlreadyDecided, "This request has already been decided."},
		{approvals.ErrExpired, "This request has expired. File it again if it is still needed."},
		{approvals.ErrHashMismatch, "The card you clicked does not match the request's content. Reload the card and try again."},
		{approvals.ErrAlreadyStarted, "The request is already running and can no longer be cancelled."},
		{approvals.ErrNotAllowed, "Only the requester or an administrator can do that."},
		{approvals.ErrNotFound, "There is no such request."},
		{approvals.ErrNoTargets, "No targets given."},
		{approvals.ErrReasonRequired, `A reason is required: add --reason "…".`},
		{errNoChannel, "Use Countersign in a channel, not in a direct message, so approvers see the request."},
		{errBadButton, "That button is not one of Countersign's."},
	} {
		if errors.Is(err, r.sentinel) {
			return r.text, true
		}
	}
	return "", false
}

// failMessage logs err with a new reference id and returns what the person
// sees: the friendly text, or for faults only that something went wrong.
func (b *Bot) failMessage(ctx context.Context, err error, op, subject string) chat.Message {
	ref := b.cfg.NewRef()
	text, expected := friendly(err)
	if expected {
		b.log.InfoContext(ctx, "refused", "ref", ref, "op", op, "subject", subject, "err", err)
		return chat.Message{Text: text, Footer: "ref " + ref, Tone: chat.ToneBad}
	}
	b.log.ErrorContext(ctx, "failed", "ref", ref, "op", op, "subject", subject, "err", err)
	return chat.Message{Text: "Something went wrong; nothing was changed that the card does not show. Give this reference to your administrator: " + ref + ".", Footer: "ref " + ref, Tone: chat.ToneBad}
}

// fail is failMessage as a Response.
func (b *Bot) fail(ctx context.Context, err error, op, subject string) Response {
	m := b.failMessage(ctx, err, op, subject)
	return Response{Message: &m}
}

func upper(s string) string {
	if s == "" {
		return s
	}
	r := []rune(s)
	if r[0] >= 'a' && r[0] <= 'z' {
		r[0] -= 'a' - 'A'
	}
	return string(r)
}
