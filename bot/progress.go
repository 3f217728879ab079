package bot

import (
	"context"
	"fmt"
	"hash/fnv"
	"log/slog"
	"sync"
	"time"

	"github.com/countersign/countersign/approvals"
	"github.com/countersign/countersign/bot/chat"
)

// summaryTTL is how long the marker that a summary was posted is kept;
// long past any request's life.
const summaryTTL = 400 * 24 * time.Hour

// maxShown bounds the edit cache; past it the cache starts over.
const maxShown = 10_000

// progress keeps every place a request is shown in step with its stored
// state: the card on each platform, the progress message in the card's
// thread, and the summary once the request is final. It draws from stored
// state only, so any replica can draw again after a crash and drawing
// twice is harmless.
type progress struct {
	store Store
	chats map[string]Chat
	now   func() time.Time
	log   *slog.Logger

	locks requestLocks // one render at a time per request

	mu sync.Mutex
	// shown remembers a digest of what each message last showed, so a
	// render that changes nothing makes no platform call. It is only an
	// optimisation: another replica, or a restart, just edits once more.
	shown map[string]uint64
}

func newProgress(st Store, chats map[string]Chat, now func() time.Time, log *slog.Logger) *progress {
	return &progress{store: st, chats: chats, now: now, log: log,
		locks: requestLocks{held: map[int64]*requestLock{}}, shown: map[string]uint64{}}
}

// render draws request id everywhere it is shown.
func (p *progress) render(ctx context.Context, id int64) {
	defer p.locks.lock(id)()
	log := p.log.With("request_id", id)
	r, err := p.store.Get(ctx, id)
	if err != nil {
		log.ErrorContext(ctx, "rendering: loading request", "err", err)
		return
	}
	items, err := p.store.Items(ctx, id)
	if err != nil {
		log.ErrorContext(ctx, "rendering: loading items", "err", err)
		return
	}
	places, err := p.store.Messages(ctx, id)
	if err != nil {
		log.ErrorContext(ctx, "rendering: loading messages", "err", err)
		return
	}
	now := p.now()
	card := renderCard(r, items, now)
	started := r.State == approvals.StateRunning || (r.State.Terminal() && !r.ApprovedAt.IsZero())
	for _, at := range places {
		ch := p.chats[at.Platform]
		if ch == nil {
			continue // a platform this replica does not serve
		}
		log := log.With("platform", at.Platform)
		if err := p.update(ctx, ch, at.Card(), card); err != nil {
			log.WarnContext(ctx, "updating card", "err", err)
		}
		if !started {
			continue
		}
		at, ok := p.drawProgress(ctx, log, ch, at, renderProgress(r, items), now)
		if ok && r.State.Terminal() {
			p.summarise(ctx, log, ch, at, renderSummary(r, items), now)
		}
	}
}

// drawProgress posts the progress message in the card's thread, or edits
// it. It returns at with the thread and progress message a first post
// made, and false when there is no progress message to go on from.
func (p *progress) drawProgress(ctx context.Context, log *slog.Logger, ch Chat, at chat.Location, m chat.Message, now time.Time) (chat.Location, bool) {
	if at.ProgressID != "" {
		if err := p.update(ctx, ch, at.Progress(), m); err != nil {
			log.WarnContext(ctx, "updating progress", "err", err)
		}
		return at, true
	}
	h, err := ch.Reply(ctx, at.Card(), m)
	if err != nil {
		log.WarnContext(ctx, "posting progress", "err", err)
		return at, false
	}
	at.ThreadID, at.ProgressID = h.Thread, h.ID
	if err := p.store.SaveMessage(ctx, at, now); err != nil {
		log.ErrorContext(ctx, "saving progress location", "err", err)
	}
	return at, true
}

// summarise posts the final summary in the card's thread, once per card
// across replicas.
func (p *progress) summarise(ctx context.Context, log *slog.Logger, ch Chat, at chat.Location, m chat.Message, now time.Time) {
	first, err := p.store.FirstSeen(ctx, fmt.Sprintf("summary:%d:%s:%s", at.RequestID, at.Platform, at.MessageID), summaryTTL, now)
	if err != nil {
		log.ErrorContext(ctx, "checking summary marker", "err", err)
		return
	}
	if !first {
		return
	}
	if _, err := ch.Reply(ctx, at.Card(), m); err != nil {
		log.WarnContext(ctx, "posting summary", "err", err)
	}
}

// update edits the message h to m unless it already shows m.
func (p *progress) update(ctx context.Context, ch Chat, h chat.Handle, m chat.Message) error {
	key := h.Platform + "/" + h.Channel + "/" + h.ID
	f := fnv.New64a()
	fmt.Fprintf(f, "%#v", m)
	sum := f.Sum64()
	p.mu.Lock()
	same := p.shown[key] == sum
	p.mu.Unlock()
	if same {
		return nil
	}
	if err := ch.Update(ctx, h, m); err != nil {
		return err
	}
	p.mu.Lock()
	if len(p.shown) >= maxShown {
		p.shown = map[string]uint64{}
	}
	p.shown[key] = sum
	p.mu.Unlock()
	return nil
}

// requestLocks is a mutex per request id. An id has an entry only while
// someone holds or waits for its lock, so the map never holds more entries
// than renders in flight, however many requests were ever rendered.
type requestLocks struct {
	mu   sync.Mutex
	held map[int64]*requestLock
}

type requestLock struct {
	sync.Mutex
	users int // holders and waiters; guarded by requestLocks.mu
}

// lock locks id and returns its unlock.
func (l *requestLocks) lock(id int64) (unlock func()) {
	l.mu.Lock()
	e := l.held[id]
	if e == nil {
		e = &requestLock{}
		l.held[id] = e
	}
	e.users++
	l.mu.Unlock()
	e.Lock()
	return func() {
		e.Unlock()
		l.mu.Lock()
		if e.users--; e.users == 0 {
			delete(l.held, id)
		}
		l.mu.Unlock()
	}
}

// size is how many ids have an entry.
func (l *requestLocks) size() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.held)
}
