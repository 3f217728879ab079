package bot

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/countersign/countersign/approvals"
	"github.com/countersign/countersign/bot/chat"
	"github.com/countersign/countersign/commands"
	"github.com/countersign/countersign/providers"
	"github.com/countersign/countersign/workflow"
)

// Store is what the chat front reads of requests and where it keeps the
// places they are shown; *store.Store implements it. Requests change only
// through the workflow.
type Store interface {
	Get(ctx context.Context, id int64) (approvals.Request, error)
	Items(ctx context.Context, id int64) ([]approvals.Item, error)
	List(ctx context.Context, f approvals.Filter) ([]approvals.Request, error)
	Cards
}

// Cards remembers where each request's card and progress message are
// shown, and whether its summary was posted.
type Cards interface {
	SaveMessage(ctx context.Context, l chat.Location, now time.Time) error
	Messages(ctx context.Context, requestID int64) ([]chat.Location, error)
	FirstSeen(ctx context.Context, key string, ttl time.Duration, now time.Time) (bool, error)
}

// Config configures a Bot.
type Config struct {
	// Workflow files and decides requests.
	Workflow *workflow.Service
	Store    Store
	// Chats and Access are the adapters by platform name.
	Chats  map[string]Chat
	Access map[string]Access
	Logger *slog.Logger
	// Now is the clock of what messages say (time left, age); nil means
	// time.Now.
	Now func() time.Time
	// NewRef makes the reference ids shown with errors; nil means random
	// 8-hex-digit ids.
	NewRef func() string
	// Timeout bounds the background work of one command (provider
	// lookups, filing, posting the card); 0 means 2 minutes.
	Timeout time.Duration
}

// Bot is the platform-neutral chat front. It implements Handler for the
// adapters and engine.Notifier for the engine.
type Bot struct {
	cfg      Config
	log      *slog.Logger
	progress *progress

	wg sync.WaitGroup // background work
}

var _ Handler = (*Bot)(nil)

// New returns a Bot.
func New(cfg Config) (*Bot, error) {
	if cfg.Workflow == nil || cfg.Store == nil {
		return nil, errors.New("bot: workflow and store are required")
	}
	if len(cfg.Chats) == 0 {
		return nil, errors.New("bot: no chat platform configured")
	}
	for p := range cfg.Chats {
		if cfg.Access[p] == nil {
			return nil, fmt.Errorf("bot: platform %s has no access rules", p)
		}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.NewRef == nil {
		cfg.NewRef = randomRef
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 2 * time.Minute
	}
	return &Bot{cfg: cfg, log: cfg.Logger, progress: newProgress(cfg.Store, cfg.Chats, cfg.Now, cfg.Logger)}, nil
}

func randomRef() string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// Wait blocks until the background work started so far has finished.
func (b *Bot) Wait() { b.wg.Wait() }

// background runs fn detached from the event's context (the platform's
// request ends with the acknowledgement), bounded by the configured timeout.
func (b *Bot) background(ctx context.Context, fn func(ctx context.Context)) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), b.cfg.Timeout)
	b.wg.Add(1)
	go func() {
		defer b.wg.Done()
		defer cancel()
		fn(ctx)
	}()
}

// rerender draws request id again in the background.
func (b *Bot) rerender(ctx context.Context, id int64) {
	b.background(ctx, func(ctx context.Context) { b.progress.render(ctx, id) })
}

// Changed implements engine.Notifier: the request's stored state changed,
// so its cards, progress message and, once final, summary are rendered
// again.
func (b *Bot) Changed(ctx context.Context, id int64) { b.progress.render(ctx, id) }

// actor maps a platform user to a person through the platform's Access.
func (b *Bot) actor(ctx context.Context, u User) (approvals.Actor, Access, error) {
	access := b.cfg.Access[u.Platform]
	if access == nil {
		return approvals.Actor{}, nil, fmt.Errorf("%w: platform %q", errNoPlatform, u.Platform)
	}
	if u.Restricted {
		return approvals.Actor{}, nil, errRestricted
	}
	person, err := access.Person(ctx, u)
	if err != nil {
		return approvals.Actor{}, nil, err
	}
	return approvals.Actor{Person: person, Platform: u.Platform, Account: u.ID, Name: u.Name}, access, nil
}

// Command handles a slash command.
func (b *Bot) Command(ctx context.Context, c Command) Response {
	cmd, err := commands.Parse(c.Name, c.Text)
	if err != nil {
		return b.fail(ctx, err, "command", c.Name)
	}
	actor, access, err := b.actor(ctx, c.User)
	if err != nil {
		return b.fail(ctx, err, "command", c.Name)
	}
	switch cmd.Name {
	case commands.Help:
		text, err := commands.HelpText(cmd.Topic)
		if err != nil {
			return b.fail(ctx, err, "command", "help")
		}
		return Response{Message: &chat.Message{Title: "Countersign help", Pre: text}}
	case commands.Status:
		return b.status(ctx, cmd.RequestID)
	case commands.Pending:
		return b.pending(ctx)
	case commands.Cancel:
		return b.cancel(ctx, actor, cmd.RequestID)
	}
	// An action, explained, dry-run or to file.
	ok, err := access.MayRequest(ctx, c.User)
	if err != nil {
		return b.fail(ctx, err, "command", c.Name)
	}
	if !ok {
		return b.fail(ctx, approvals.ErrNotRequester, "command", c.Name)
	}
	d, err := b.cfg.Workflow.Draft(ctx, cmd.Spec, actor, access)
	if err != nil {
		return b.fail(ctx, err, "command", c.Name)
	}
	preview := cmd.Name == commands.Explain || cmd.DryRun
	if d.Refusal != nil && !preview {
		return b.fail(ctx, d.Refusal, "command", c.Name)
	}
	if !preview && c.Channel == "" {
		return b.fail(ctx, errNoChannel, "command", c.Name)
	}
	b.background(ctx, func(ctx context.Context) {
		if preview {
			b.preview(ctx, c, d, cmd.Name)
			return
		}
		b.file(ctx, c, d)
	})
	what := "Looking up"
	if preview {
		what = "Previewing"
	}
	return Response{Message: &chat.Message{Text: fmt.Sprintf("%s %s with %s…", what, chat.Count(len(d.Spec.Targets), "target"), providers.DisplayName(d.Spec.Provider))}}
}

// preview answers --dry-run and explain privately: what the targets resolve
// to and what the policy says.
func (b *Bot) preview(ctx context.Context, c Command, d workflow.Draft, name commands.Name) {
	p, err := b.cfg.Workflow.Preview(ctx, d)
	if err != nil {
		b.reply(ctx, c, b.failMessage(ctx, err, "preview", string(name)))
		return
	}
	b.reply(ctx, c, renderPreview(d, p, name == commands.Explain))
}

// file files the draft, posts the card and remembers where it is.
func (b *Bot) file(ctx context.Context, c Command, d workflow.Draft) {
	req, items, err := b.cfg.Workflow.File(ctx, d)
	var notFiled *workflow.NotFiledError
	switch {
	case errors.As(err, &notFiled):
		b.reply(ctx, c, renderNotFiled(d.Spec, notFiled.Problems))
		return
	case errors.Is(err, workflow.ErrNothingToDo):
		b.reply(ctx, c, renderNotFiled(d.Spec, nil))
		return
	case err != nil:
		b.reply(ctx, c, b.failMessage(ctx, err, "file", string(d.Spec.Action)))
		return
	}
	log := b.log.With("request_id", req.ID, "action", string(d.Spec.Action), "provider", d.Spec.Provider, "requester", d.Actor.Person)
	if stored, err := b.cfg.Store.Items(ctx, req.ID); err == nil {
		items = stored // as stored; on an error as filed, and the next render reads them back
	}
	h, err := b.cfg.Chats[c.User.Platform].Post(ctx, c.Channel, renderCard(req, items, b.cfg.Now()))
	if err != nil {
		// Nobody could approve a request without a card: withdraw it.
		if _, cerr := b.cfg.Workflow.Cancel(ctx, d.Actor, req.ID, "the card could not be posted"); cerr != nil {
			log.ErrorContext(ctx, "withdrawing request after failed post", "err", cerr)
		}
		b.reply(ctx, c, b.failMessage(ctx, fmt.Errorf("posting card of request %d: %w", req.ID, err), "file", string(d.Spec.Action)))
		return
	}
	at := chat.Location{RequestID: req.ID, Platform: c.User.Platform, Channel: h.Channel, MessageID: h.ID, ThreadID: h.Thread}
	if err := b.cfg.Store.SaveMessage(ctx, at, b.cfg.Now()); err != nil {
		log.ErrorContext(ctx, "saving card location", "err", err)
	}
	b.reply(ctx, c, chat.Message{Text: fmt.Sprintf("Filed request #%d. Waiting for %s from: %s.", req.ID, chat.Count(req.ApprovalsRequired, "approval"), strings.Join(req.Waiting(), ", "))})
}

// reply sends a private follow-up for a command, logging a failure.
func (b *Bot) reply(ctx context.Context, c Command, m chat.Message) {
	if c.Reply == nil {
		return
	}
	if err := c.Reply.Respond(ctx, m); err != nil {
		b.log.WarnContext(ctx, "private reply failed", "platform", c.User.Platform, "err", err)
	}
}

func (b *Bot) status(ctx context.Context, id int64) Response {
	r, err := b.cfg.Store.Get(ctx, id)
	if err != nil {
		return b.fail(ctx, err, "status", strconv.FormatInt(id, 10))
	}
	items, err := b.cfg.Store.Items(ctx, id)
	if err != nil {
		return b.fail(ctx, err, "status", strconv.FormatInt(id, 10))
	}
	m := renderCard(r, items, b.cfg.Now())
	m.Buttons = nil
	return Response{Message: &m}
}

func (b *Bot) pending(ctx context.Context) Response {
	rs, err := b.cfg.Store.List(ctx, approvals.Filter{States: []approvals.State{approvals.StatePending}, Limit: maxLines + 1})
	if err != nil {
		return b.fail(ctx, err, "pending", "")
	}
	m := renderPending(rs, b.cfg.Now())
	return Response{Message: &m}
}

func (b *Bot) cancel(ctx context.Context, actor approvals.Actor, id int64) Response {
	r, err := b.cfg.Workflow.Cancel(ctx, actor, id, "")
	if err != nil {
		return b.fail(ctx, err, "cancel", strconv.FormatInt(id, 10))
	}
	b.rerender(ctx, r.ID)
	return Response{Message: &chat.Message{Text: fmt.Sprintf("Cancelled request #%d.", id)}}
}

// Click handles a button press.
func (b *Bot) Click(ctx context.Context, c Click) Response {
	verb, id, hash, err := parseValue(c.Value)
	if err != nil {
		return b.fail(ctx, err, "click", "")
	}
	subject := strconv.FormatInt(id, 10)
	actor, err := b.decider(ctx, c.User)
	if err != nil {
		return b.fail(ctx, err, verb, subject)
	}
	if verb == verbDeny {
		if err := b.cfg.Workflow.MayDeny(ctx, actor, id, hash); err != nil {
			return b.fail(ctx, err, verb, subject)
		}
		return Response{Dialog: &chat.Dialog{
			ID: c.Value, Title: fmt.Sprintf("Deny request #%d", id), Label: "Reason",
			Hint: "Why is this request denied?", Submit: "Deny", Required: true, MaxLen: commands.MaxReason,
		}}
	}
	r, err := b.cfg.Workflow.Approve(ctx, actor, id, hash)
	b.rerender(ctx, id) // a refused click on an expired card shows it expired
	if err != nil {
		return b.fail(ctx, err, verb, subject)
	}
	text := fmt.Sprintf("You approved request #%d.", id)
	if r.State == approvals.StatePending {
		text += fmt.Sprintf(" It still needs %s.", chat.Count(r.ApprovalsRequired-len(r.Approvals), "more approval"))
	} else {
		text += " It runs now."
	}
	return Response{Message: &chat.Message{Text: text}}
}

// Submit handles a dialog submission: the reason of a denial.
func (b *Bot) Submit(ctx context.Context, s Submit) Response {
	verb, id, hash, err := parseValue(s.Dialog)
	if err != nil || verb != verbDeny {
		return b.fail(ctx, errBadButton, "submit", "")
	}
	subject := strconv.FormatInt(id, 10)
	actor, err := b.decider(ctx, s.User)
	if err != nil {
		return b.fail(ctx, err, verb, subject)
	}
	if _, err := b.cfg.Workflow.Deny(ctx, actor, id, hash, s.Value); err != nil {
		return b.fail(ctx, err, verb, subject)
	}
	b.rerender(ctx, id)
	return Response{Message: &chat.Message{Text: fmt.Sprintf("You denied request #%d.", id)}}
}

// decider maps u to a person who may approve or deny on u's platform now.
func (b *Bot) decider(ctx context.Context, u User) (approvals.Actor, error) {
	actor, access, err := b.actor(ctx, u)
	if err != nil {
		return approvals.Actor{}, err
	}
	ok, err := access.MayApprove(ctx, u)
	if err != nil {
		return approvals.Actor{}, err
	}
	if !ok {
		return approvals.Actor{}, approvals.ErrNotApprover
	}
	return actor, nil
}
