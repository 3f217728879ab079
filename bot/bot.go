package bot

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"github.com/countersign/countersign/bot/chat"
	"hash/fnv"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/countersign/countersign/approvals"
	"github.com/countersign/countersign/commands"
	"github.com/countersign/countersign/providers"
)

// Store is the part of the request store the bot uses; *store.Store
// implements it.
type Store interface {
	Create(ctx context.Context, r approvals.Request, items []approvals.Item) (approvals.Request, error)
	Get(ctx context.Context, id int64) (approvals.Request, error)
	Items(ctx context.Context, id int64) ([]approvals.Item, error)
	Apply(ctx context.Context, id int64, ev approvals.Event, now time.Time) (approvals.Request, error)
	List(ctx context.Context, f approvals.Filter) ([]approvals.Request, error)
	SaveMessage(ctx context.Context, m chat.Location, now time.Time) error
	Messages(ctx context.Context, requestID int64) ([]chat.Location, error)
	FirstSeen(ctx context.Context, key string, ttl time.Duration, now time.Time) (bool, error)
}

// Router picks the provider of a spec; *providers.Router implements it.
type Router interface {
	Route(spec approvals.Spec) (approvals.Spec, providers.Provider, error)
}

// ApprovalObserver records how long requests waited for approval;
// *metrics.Metrics implements it.
type ApprovalObserver interface {
	ObserveApproval(action string, d time.Duration)
}

// Config configures a Bot.
type Config struct {
	Store     Store
	Providers Router
	// Policy is the approval policy; its Requesters and Approvers are
	// filled per request from the platform's Access.
	Policy approvals.Policy
	// Admin reports whether a person may cancel others' requests; nil
	// means nobody.
	Admin func(person string) bool
	// Chats and Access are the adapters by platform name.
	Chats  map[string]Chat
	Access map[string]Access
	Logger *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// NewRef makes the reference ids shown with errors; nil means random
	// 8-hex-digit ids.
	NewRef func() string
	// Metrics, when set, is told of approvals.
	Metrics ApprovalObserver
	// Timeout bounds the background work of one command (provider
	// lookups, filing, posting the card); 0 means 2 minutes.
	Timeout time.Duration
}

// Bot is the platform-neutral core. It implements Handler for the adapters
// and engine.Notifier for the engine.
type Bot struct {
	cfg Config
	log *slog.Logger

	wg sync.WaitGroup // background work

	mu    sync.Mutex
	locks map[int64]*sync.Mutex // one render at a time per request
	// shown remembers a digest of what each message last showed, so a
	// render that changes nothing makes no platform call. It is only an
	// optimisation: another replica, or a restart, just edits once more.
	shown map[string]uint64
}

// maxShown bounds the shown map; past it the map starts over.
const maxShown = 10_000

// update edits the message h to m unless it already shows m.
func (b *Bot) update(ctx context.Context, ch Chat, h chat.Handle, m chat.Message) error {
	key := h.Platform + "/" + h.Channel + "/" + h.ID
	f := fnv.New64a()
	fmt.Fprintf(f, "%#v", m)
	sum := f.Sum64()
	b.mu.Lock()
	same := b.shown[key] == sum
	b.mu.Unlock()
	if same {
		return nil
	}
	if err := ch.Update(ctx, h, m); err != nil {
		return err
	}
	b.mu.Lock()
	if len(b.shown) >= maxShown {
		b.shown = map[string]uint64{}
	}
	b.shown[key] = sum
	b.mu.Unlock()
	return nil
}

var _ Handler = (*Bot)(nil)

// New returns a Bot.
func New(cfg Config) (*Bot, error) {
	if cfg.Store == nil || cfg.Providers == nil {
		return nil, errors.New("bot: store and providers are required")
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
	if cfg.Admin == nil {
		cfg.Admin = func(string) bool { return false }
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 2 * time.Minute
	}
	return &Bot{cfg: cfg, log: cfg.Logger, locks: map[int64]*sync.Mutex{}, shown: map[string]uint64{}}, nil
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
	spec, provider, err := b.cfg.Providers.Route(cmd.Spec)
	if err != nil {
		return b.fail(ctx, err, "command", c.Name)
	}
	policy, err := b.policy(ctx, access)
	if err != nil {
		return b.fail(ctx, err, "command", c.Name)
	}
	preview := cmd.Name == commands.Explain || cmd.DryRun
	checkErr := policy.Check(spec.Canonical(), actor)
	if checkErr != nil && !preview {
		return b.fail(ctx, checkErr, "command", c.Name)
	}
	if !preview && c.Channel == "" {
		return b.fail(ctx, errNoChannel, "command", c.Name)
	}
	b.background(ctx, func(ctx context.Context) {
		if preview {
			b.preview(ctx, c, cmd, spec, provider, policy, actor, checkErr)
			return
		}
		b.file(ctx, c, spec, provider, policy, actor)
	})
	what := "Looking up"
	if preview {
		what = "Previewing"
	}
	return Response{Message: &chat.Message{Text: fmt.Sprintf("%s %s with %s…", what, chat.Count(len(spec.Targets), "target"), providerName(spec.Provider))}}
}

// policy returns the configured policy with the platform's approvers.
func (b *Bot) policy(ctx context.Context, access Access) (approvals.Policy, error) {
	p := b.cfg.Policy
	approvers, err := access.Approvers(ctx)
	if err != nil {
		return p, fmt.Errorf("listing approvers: %w", err)
	}
	p.Approvers = approvers
	return p, nil
}

// resolve previews spec through the provider and turns the answer into
// items; problems lists the targets that cannot be acted on.
func (b *Bot) resolve(ctx context.Context, spec approvals.Spec, provider providers.Provider, policy approvals.Policy) (items []approvals.Item, problems []chat.Line, err error) {
	resolved, err := provider.Resolve(ctx, spec)
	if err != nil {
		return nil, nil, fmt.Errorf("resolving targets with %s: %w", spec.Provider, err)
	}
	now := b.cfg.Now()
	for _, r := range resolved {
		if r.Problem != "" {
			problems = append(problems, chat.Line{Mark: chat.MarkProblem, Text: r.Display, Detail: r.Problem})
			continue
		}
		display := r.Display
		if r.Mailbox != "" {
			display = r.Mailbox + " (" + r.Subject + ")"
		}
		if !r.Identity.Known() {
			// Fail closed: nothing can be bound to the approval.
			problems = append(problems, chat.Line{Mark: chat.MarkProblem, Text: display, Detail: providerName(spec.Provider) + " did not say what this target is"})
			continue
		}
		if pat, ok := policy.ProtectsIdentity(r.Identity); ok {
			problems = append(problems, chat.Line{Mark: chat.MarkProblem, Text: display, Detail: "protected (" + pat + ")"})
			continue
		}
		items = append(items, approvals.Item{Key: r.Key, Target: r.Target, Identity: r.Identity, Display: display,
			Before: r.State, Status: approvals.ItemPending, Updated: now})
	}
	return items, problems, nil
}

// preview answers --dry-run and explain privately: what the targets resolve
// to and what the policy says.
func (b *Bot) preview(ctx context.Context, c Command, cmd commands.Command, spec approvals.Spec, provider providers.Provider, policy approvals.Policy, actor approvals.Actor, checkErr error) {
	items, problems, err := b.resolve(ctx, spec, provider, policy)
	if err != nil {
		b.reply(ctx, c, b.failMessage(ctx, err, "preview", string(cmd.Name)))
		return
	}
	b.reply(ctx, c, renderPreview(spec, actor, policy, items, problems, checkErr, cmd.Name == commands.Explain))
}

// file resolves, files, posts the card and remembers where it is.
func (b *Bot) file(ctx context.Context, c Command, spec approvals.Spec, provider providers.Provider, policy approvals.Policy, actor approvals.Actor) {
	items, problems, err := b.resolve(ctx, spec, provider, policy)
	if err != nil {
		b.reply(ctx, c, b.failMessage(ctx, err, "file", string(spec.Action)))
		return
	}
	if len(problems) > 0 {
		m := chat.Message{Title: "Not filed: " + chat.Count(len(problems), "target") + " cannot be acted on", Tone: chat.ToneBad, Lines: problems}
		limitLines(&m, maxLines)
		b.reply(ctx, c, m)
		return
	}
	if len(items) == 0 {
		b.reply(ctx, c, chat.Message{Title: "Not filed: nothing to do", Tone: chat.ToneBad, Text: fmt.Sprintf("%s found nothing to act on for %s.", providerName(spec.Provider), strings.Join(spec.Targets, ", "))})
		return
	}
	now := b.cfg.Now()
	req, err := policy.File(spec, items, actor, now)
	if err != nil {
		b.reply(ctx, c, b.failMessage(ctx, err, "file", string(spec.Action)))
		return
	}
	req, err = b.cfg.Store.Create(ctx, req, items)
	if err != nil {
		b.reply(ctx, c, b.failMessage(ctx, err, "file", string(spec.Action)))
		return
	}
	log := b.log.With("request_id", req.ID, "action", string(spec.Action), "provider", spec.Provider, "requester", actor.Person)
	log.InfoContext(ctx, "request filed", "targets", len(spec.Targets), "items", len(items))
	ch := b.cfg.Chats[c.User.Platform]
	stored, err := b.cfg.Store.Items(ctx, req.ID)
	if err != nil {
		stored = items // as filed; the next render reads them back
	}
	h, err := ch.Post(ctx, c.Channel, renderCard(req, stored, b.cfg.Now()))
	if err != nil {
		// Nobody could approve a request without a card: withdraw it.
		if _, cerr := b.cfg.Store.Apply(ctx, req.ID, approvals.Event{Kind: approvals.EventCancel, Actor: actor, Reason: "the card could not be posted"}, b.cfg.Now()); cerr != nil {
			log.ErrorContext(ctx, "withdrawing request after failed post", "err", cerr)
		}
		b.reply(ctx, c, b.failMessage(ctx, fmt.Errorf("posting card of request %d: %w", req.ID, err), "file", string(spec.Action)))
		return
	}
	if err := b.cfg.Store.SaveMessage(ctx, chat.Location{RequestID: req.ID, Platform: c.User.Platform, Channel: h.Channel, MessageID: h.ID, ThreadID: h.Thread}, b.cfg.Now()); err != nil {
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
	r, err := b.cfg.Store.Apply(ctx, id, approvals.Event{Kind: approvals.EventCancel, Actor: actor, Admin: b.cfg.Admin(actor.Person)}, b.cfg.Now())
	if err != nil {
		return b.fail(ctx, err, "cancel", strconv.FormatInt(id, 10))
	}
	b.log.InfoContext(ctx, "request cancelled", "request_id", id, "by", actor.Person)
	b.background(ctx, func(ctx context.Context) { b.render(ctx, r.ID) })
	return Response{Message: &chat.Message{Text: fmt.Sprintf("Cancelled request #%d.", id)}}
}

// Button values and dialog ids: "<verb>:<request id>:<short hash>".
const (
	verbApprove = "approve"
	verbDeny    = "deny"
)

func buttonValue(verb string, r approvals.Request) string {
	return verb + ":" + strconv.FormatInt(r.ID, 10) + ":" + approvals.ShortHash(r.Hash)
}

func parseValue(v string) (verb string, id int64, hash string, err error) {
	parts := strings.Split(v, ":")
	if len(parts) != 3 || (parts[0] != verbApprove && parts[0] != verbDeny) {
		return "", 0, "", errBadButton
	}
	id, err = strconv.ParseInt(parts[1], 10, 64)
	if err != nil || id <= 0 || parts[2] == "" {
		return "", 0, "", errBadButton
	}
	return parts[0], id, parts[2], nil
}

// Click handles a button press.
func (b *Bot) Click(ctx context.Context, c Click) Response {
	verb, id, hash, err := parseValue(c.Value)
	if err != nil {
		return b.fail(ctx, err, "click", "")
	}
	actor, access, err := b.actor(ctx, c.User)
	if err != nil {
		return b.fail(ctx, err, verb, strconv.FormatInt(id, 10))
	}
	ok, err := access.MayApprove(ctx, c.User)
	if err != nil {
		return b.fail(ctx, err, verb, strconv.FormatInt(id, 10))
	}
	if !ok {
		return b.fail(ctx, approvals.ErrNotApprover, verb, strconv.FormatInt(id, 10))
	}
	if verb == verbDeny {
		// Check now, so nobody types a reason for a denial that cannot be.
		r, err := b.cfg.Store.Get(ctx, id)
		if err == nil {
			err = approvals.CheckDecision(r, actor.Person, hash, b.cfg.Now())
		}
		if err != nil {
			return b.fail(ctx, err, verb, strconv.FormatInt(id, 10))
		}
		return Response{Dialog: &chat.Dialog{
			ID: c.Value, Title: fmt.Sprintf("Deny request #%d", id), Label: "Reason",
			Hint: "Why is this request denied?", Submit: "Deny", Required: true, MaxLen: commands.MaxReason,
		}}
	}
	r, err := b.cfg.Store.Apply(ctx, id, approvals.Event{Kind: approvals.EventApprove, Actor: actor, Hash: hash}, b.cfg.Now())
	if err != nil {
		b.background(ctx, func(ctx context.Context) { b.render(ctx, id) }) // an expired card shows it
		return b.fail(ctx, err, verb, strconv.FormatInt(id, 10))
	}
	b.log.InfoContext(ctx, "request approved", "request_id", id, "by", actor.Person, "state", string(r.State))
	if r.State == approvals.StateApproved && b.cfg.Metrics != nil {
		b.cfg.Metrics.ObserveApproval(string(r.Spec.Action), r.ApprovedAt.Sub(r.CreatedAt))
	}
	b.background(ctx, func(ctx context.Context) { b.render(ctx, id) })
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
	actor, access, err := b.actor(ctx, s.User)
	if err != nil {
		return b.fail(ctx, err, verb, strconv.FormatInt(id, 10))
	}
	if ok, err := access.MayApprove(ctx, s.User); err != nil || !ok {
		if err == nil {
			err = approvals.ErrNotApprover
		}
		return b.fail(ctx, err, verb, strconv.FormatInt(id, 10))
	}
	reason, err := commands.Reason("the reason", s.Value) // exactly what --reason accepts
	if err != nil {
		return b.fail(ctx, err, verb, strconv.FormatInt(id, 10))
	}
	if _, err := b.cfg.Store.Apply(ctx, id, approvals.Event{Kind: approvals.EventDeny, Actor: actor, Hash: hash, Reason: reason}, b.cfg.Now()); err != nil {
		return b.fail(ctx, err, verb, strconv.FormatInt(id, 10))
	}
	b.log.InfoContext(ctx, "request denied", "request_id", id, "by", actor.Person)
	b.background(ctx, func(ctx context.Context) { b.render(ctx, id) })
	return Response{Message: &chat.Message{Text: fmt.Sprintf("You denied request #%d.", id)}}
}

// Changed implements engine.Notifier: the request's stored state changed,
// so its cards, progress message and, once final, summary are rendered
// again.
func (b *Bot) Changed(ctx context.Context, id int64) { b.render(ctx, id) }

func (b *Bot) lock(id int64) func() {
	b.mu.Lock()
	l, ok := b.locks[id]
	if !ok {
		l = &sync.Mutex{}
		b.locks[id] = l
	}
	b.mu.Unlock()
	l.Lock()
	return l.Unlock
}

// summaryTTL is how long the marker that a summary was posted is kept;
// long past any request's life.
const summaryTTL = 400 * 24 * time.Hour

// render draws request id everywhere it is shown, from stored state only.
// Repeating it is harmless.
func (b *Bot) render(ctx context.Context, id int64) {
	defer b.lock(id)()
	log := b.log.With("request_id", id)
	r, err := b.cfg.Store.Get(ctx, id)
	if err != nil {
		log.ErrorContext(ctx, "rendering: loading request", "err", err)
		return
	}
	items, err := b.cfg.Store.Items(ctx, id)
	if err != nil {
		log.ErrorContext(ctx, "rendering: loading items", "err", err)
		return
	}
	msgs, err := b.cfg.Store.Messages(ctx, id)
	if err != nil {
		log.ErrorContext(ctx, "rendering: loading messages", "err", err)
		return
	}
	now := b.cfg.Now()
	card := renderCard(r, items, now)
	started := r.State == approvals.StateRunning || (r.State.Terminal() && !r.ApprovedAt.IsZero())
	for _, m := range msgs {
		ch := b.cfg.Chats[m.Platform]
		if ch == nil {
			continue // a platform this replica does not serve
		}
		log := log.With("platform", m.Platform)
		cardH := chat.Handle{Platform: m.Platform, Channel: m.Channel, ID: m.MessageID, Thread: m.ThreadID}
		if err := b.update(ctx, ch, cardH, card); err != nil {
			log.WarnContext(ctx, "updating card", "err", err)
		}
		if !started {
			continue
		}
		progress := renderProgress(r, items)
		if m.ProgressID == "" {
			h, err := ch.Reply(ctx, cardH, progress)
			if err != nil {
				log.WarnContext(ctx, "posting progress", "err", err)
				continue
			}
			m.ThreadID, m.ProgressID = h.Thread, h.ID
			if err := b.cfg.Store.SaveMessage(ctx, m, now); err != nil {
				log.ErrorContext(ctx, "saving progress location", "err", err)
			}
		} else if err := b.update(ctx, ch, chat.Handle{Platform: m.Platform, Channel: m.Channel, ID: m.ProgressID, Thread: m.ThreadID}, progress); err != nil {
			log.WarnContext(ctx, "updating progress", "err", err)
		}
		if r.State.Terminal() {
			first, err := b.cfg.Store.FirstSeen(ctx, fmt.Sprintf("summary:%d:%s:%s", id, m.Platform, m.MessageID), summaryTTL, now)
			if err != nil {
				log.ErrorContext(ctx, "checking summary marker", "err", err)
				continue
			}
			if first {
				if _, err := ch.Reply(ctx, chat.Handle{Platform: m.Platform, Channel: m.Channel, ID: m.MessageID, Thread: m.ThreadID}, renderSummary(r, items)); err != nil {
					log.WarnContext(ctx, "posting summary", "err", err)
				}
			}
		}
	}
}
