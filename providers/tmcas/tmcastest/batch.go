package tmcastest

import (
	"strings"
	"time"
)

// Action statuses of §1.8.
const (
	statusCreated   = "Created"
	statusExecuting = "Executing"
	statusSuccess   = "Success"
	statusSkipped   = "Skipped"
	statusFailed    = "Failed"
)

// Result texts. Only -999 is observed for failures (§1.8).
const (
	codeFailed        = -999
	msgAccountFailed  = "graph api exception, message=One or more errors occurred."
	msgAccountUnknown = "graph api exception, message=User not found."
	msgMailFailed     = "The action for these mails failed."
	msgSuccess        = "success"
)

// batch is one POST: its actions run as the batch is polled.
type batch struct {
	id, kind string
	polls    int
	actions  []*actionRec
}

type actionRec struct {
	id, batch           string
	it                  item
	requested, executed time.Time
	status              string
	code                int
	msg                 string
}

// final reports whether a has run: once, even when FinalStatus gave it a
// status that is not terminal.
func (a *actionRec) final() bool {
	return !a.executed.IsZero() || a.status == statusSuccess || a.status == statusSkipped || a.status == statusFailed
}

func (a *actionRec) target() string {
	if a.it.Email != "" {
		return a.it.Email
	}
	return a.it.Mailbox
}

func (a *actionRec) export() Action {
	return Action{ID: a.id, BatchID: a.batch, Type: a.it.ActionType, Target: a.target(), MessageID: a.it.MessageID,
		UniqueID: a.it.UniqueID, Status: a.status, ErrorCode: a.code, ErrorMessage: a.msg}
}

// advance counts a poll of b: hidden for HiddenPolls polls, then Created
// for CreatedPolls, Executing for ExecutingPolls, then executed.
func (s *Server) advance(b *batch, now time.Time) {
	b.polls++
	p := b.polls - s.faults.HiddenPolls
	for _, a := range b.actions {
		switch {
		case a.final() || p <= 0:
		case p <= s.faults.CreatedPolls:
			a.status = statusCreated
		case p <= s.faults.CreatedPolls+s.faults.ExecutingPolls:
			a.status = statusExecuting
		default:
			s.execute(b.kind, a, now)
		}
	}
}

func (s *Server) failTarget(t string) bool {
	for _, f := range s.faults.FailTargets {
		if strings.EqualFold(strings.TrimSpace(f), t) {
			return true
		}
	}
	return false
}

// execute applies an action to the state and sets its final status.
func (s *Server) execute(kind string, a *actionRec, now time.Time) {
	a.executed = now
	if st := s.faults.FinalStatus; st != "" {
		defer func() { a.status = st }()
	}
	done := func(status string, code int, msg string) { a.status, a.code, a.msg = status, code, msg }
	if kind == "accounts" {
		acct := s.accounts[strings.ToLower(a.it.Email)]
		switch {
		case s.failTarget(a.it.Email):
			done(statusFailed, codeFailed, msgAccountFailed)
			return
		case acct == nil && s.faults.UnknownUsers == UnknownSkip:
			done(statusSkipped, codeFailed, msgAccountUnknown)
			return
		case acct == nil && s.faults.UnknownUsers == UnknownAccept:
			acct = s.accountLocked(a.it.Email)
		case acct == nil:
			done(statusFailed, codeFailed, msgAccountUnknown)
			return
		}
		switch a.it.ActionType {
		case "ACCOUNT_DISABLE":
			acct.Disabled = true
		case "ACCOUNT_ENABLE_MFA":
			acct.MFAEnabled = true
		case "ACCOUNT_RESET_PASSWORD":
			acct.PasswordResets++
		case "ACCOUNT_REVOKE_SIGNIN_SESSIONS":
			acct.SessionsRevoked++
		}
		done(statusSuccess, 0, msgSuccess)
		return
	}
	m := s.findMail(a.it)
	if m == nil || s.failTarget(a.it.Mailbox) {
		done(statusFailed, codeFailed, msgMailFailed)
		return
	}
	switch a.it.ActionType {
	case "MAIL_DELETE":
		if m.Folder == FolderDeleted {
			done(statusSkipped, 0, "The mail was already deleted.")
			return
		}
		m.Folder = FolderDeleted
	case "MAIL_QUARANTINE":
		switch m.Folder {
		case FolderDeleted:
			done(statusFailed, codeFailed, msgMailFailed)
			return
		case FolderQuarantine:
			done(statusSkipped, 0, "The mail is already quarantined.")
			return
		}
		m.Folder = FolderQuarantine
	case "MAIL_RESTORE":
		if m.Folder != FolderQuarantine {
			done(statusFailed, codeFailed, msgMailFailed)
			return
		}
		m.Folder = FolderInbox
	}
	done(statusSuccess, 0, msgSuccess)
}

// findMail finds the copy an item names: by unique id when given (and the
// Message-ID must then agree), else the first copy of the Message-ID in
// the mailbox that is not deleted.
func (s *Server) findMail(it item) *MailState {
	var fallback *MailState
	for _, m := range s.mails {
		if !strings.EqualFold(m.Mailbox, it.Mailbox) {
			continue
		}
		if it.UniqueID != "" {
			if m.UniqueID == it.UniqueID && (it.MessageID == "" || m.MessageID == it.MessageID) {
				return m
			}
			continue
		}
		if m.MessageID == it.MessageID {
			if m.Folder != FolderDeleted {
				return m
			}
			fallback = m
		}
	}
	return fallback
}

// actionJSON is one entry of a results page with every documented field.
type actionJSON struct {
	ActionID         string  `json:"action_id"`
	BatchID          string  `json:"batch_id"`
	ActionType       string  `json:"action_type"`
	Service          string  `json:"service"`
	AccountProvider  string  `json:"account_provider"`
	AccountUserEmail string  `json:"account_user_email"`
	Mailbox          *string `json:"mailbox,omitempty"`
	MailMessageID    *string `json:"mail_message_id,omitempty"`
	MailUniqueID     *string `json:"mail_unique_id,omitempty"`
	RequestedAt      string  `json:"action_requested_at"`
	ExecutedAt       *string `json:"action_executed_at"`
	Status           string  `json:"status"`
	ErrorCode        int     `json:"error_code"`
	ErrorMessage     string  `json:"error_message"`
}

func (a *actionRec) json(kind string) actionJSON {
	j := actionJSON{ActionID: a.id, BatchID: a.batch, ActionType: a.it.ActionType, Service: a.it.Service,
		AccountProvider: a.it.Provider, AccountUserEmail: a.target(), RequestedAt: a.requested.UTC().Format(timeLayout),
		Status: a.status, ErrorCode: a.code, ErrorMessage: a.msg}
	if kind == "mails" {
		box, mid, uid := a.it.Mailbox, a.it.MessageID, a.it.UniqueID
		j.Mailbox, j.MailMessageID, j.MailUniqueID = &box, &mid, &uid
	}
	if !a.executed.IsZero() {
		t := a.executed.UTC().Format(timeLayout)
		j.ExecutedAt = &t
	}
	return j
}
