// Package console is a terminal chat for Countersign: it implements the
// bot's Chat and Access for a fixed set of people and reads commands from a
// terminal or a script. `/as NAME` switches person; the buttons of a card
// are typed as `/approve ID` and `/deny ID REASON`.
package console

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/countersign/countersign/approvals"
	"github.com/countersign/countersign/bot"
	"github.com/countersign/countersign/bot/chat"
	"github.com/countersign/countersign/internal/safetext"
)

// Channel is the one channel of the console.
const Channel = "console"

// Person is someone who can use the console.
type Person struct {
	Name     string
	Approver bool
}

// Console is a terminal chat. In live mode messages are printed as they
// arrive; otherwise (scripts) changes are collected and printed in a stable
// order by Flush, so transcripts do not depend on timing.
type Console struct {
	people []Person
	live   bool

	mu      sync.Mutex
	out     io.Writer
	current string
	next    int
	msgs    map[string]chat.Message // by handle id: the latest version
	cards   map[int64]string        // request id → card handle id
	dirty   []string                // handle ids changed since the last Flush, in order
	private []string                // private lines since the last Flush
}

// New returns a console writing to out, acting as the first person.
func New(out io.Writer, people []Person, live bool) (*Console, error) {
	if len(people) == 0 {
		return nil, errors.New("console: no people")
	}
	return &Console{people: people, live: live, out: out, current: people[0].Name, msgs: map[string]chat.Message{}, cards: map[int64]string{}}, nil
}

// Current is the person the console acts as.
func (c *Console) Current() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.current
}

func (c *Console) user() bot.User {
	name := c.Current()
	return bot.User{Platform: bot.PlatformConsole, ID: name, Name: name}
}

func (c *Console) person(name string) (Person, bool) {
	i := slices.IndexFunc(c.people, func(p Person) bool { return p.Name == name })
	if i < 0 {
		return Person{}, false
	}
	return c.people[i], true
}

// Post implements bot.Chat.
func (c *Console) Post(_ context.Context, channel string, m chat.Message) (chat.Handle, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.next++
	id := "m" + strconv.Itoa(c.next)
	if m.Request != 0 {
		c.cards[m.Request] = id
	}
	c.changed(id, m, "card "+id)
	return chat.Handle{Platform: bot.PlatformConsole, Channel: channel, ID: id}, nil
}

// Update implements bot.Chat.
func (c *Console) Update(_ context.Context, h chat.Handle, m chat.Message) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.msgs[h.ID]; !ok {
		return fmt.Errorf("console: no message %s", h.ID)
	}
	c.changed(h.ID, m, h.ID+" updated")
	return nil
}

// Reply implements bot.Chat.
func (c *Console) Reply(_ context.Context, parent chat.Handle, m chat.Message) (chat.Handle, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.next++
	id := "m" + strconv.Itoa(c.next)
	c.changed(id, m, "reply "+id+" in the thread of "+parent.ID)
	return chat.Handle{Platform: bot.PlatformConsole, Channel: parent.Channel, ID: id, Thread: parent.ID}, nil
}

// changed records a new version of message id; c.mu is held.
func (c *Console) changed(id string, m chat.Message, label string) {
	_, seen := c.msgs[id]
	c.msgs[id] = m
	if c.live {
		fmt.Fprint(c.out, render(label, m))
		return
	}
	if !seen || !slices.Contains(c.dirty, id) {
		c.dirty = append(c.dirty, id)
	}
}

// Respond prints a private message to the current person.
func (c *Console) Respond(_ context.Context, m chat.Message) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	text := render("only you ("+c.current+") see this", m)
	if c.live {
		fmt.Fprint(c.out, text)
		return nil
	}
	c.private = append(c.private, text)
	return nil
}

// Flush prints what changed since the last Flush: private messages first,
// then each changed message once, in its latest version.
func (c *Console) Flush() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, p := range c.private {
		fmt.Fprint(c.out, p)
	}
	c.private = nil
	for _, id := range c.dirty {
		fmt.Fprint(c.out, render(id, c.msgs[id]))
	}
	c.dirty = nil
}

// Person implements bot.Access: console users are people by name.
func (c *Console) Person(_ context.Context, u bot.User) (string, error) {
	if _, ok := c.person(u.ID); !ok {
		return "", approvals.ErrUnknownPerson
	}
	return u.ID, nil
}

// MayRequest implements bot.Access: every console person may file.
func (c *Console) MayRequest(_ context.Context, u bot.User) (bool, error) {
	_, ok := c.person(u.ID)
	return ok, nil
}

// MayApprove implements bot.Access.
func (c *Console) MayApprove(_ context.Context, u bot.User) (bool, error) {
	p, ok := c.person(u.ID)
	return ok && p.Approver, nil
}

// Approvers implements bot.Access.
func (c *Console) Approvers(context.Context) ([]string, error) {
	var out []string
	for _, p := range c.people {
		if p.Approver {
			out = append(out, p.Name)
		}
	}
	return out, nil
}

// Hooks are the demo's extra commands and its way of waiting for the
// system to settle.
type Hooks struct {
	// Settle is called after every line, before Flush: it waits until the
	// bot and the engine have nothing left to do for now.
	Settle func(ctx context.Context) error
	// Extra handles a command the console does not know (such as /wait);
	// it returns false when it does not know it either.
	Extra func(ctx context.Context, name, args string) (handled bool, err error)
}

// Lines is where Run reads its input, a line at a time; ReadLine returns
// io.EOF at the end. A line-editing terminal is one; Scan makes one of a
// reader.
type Lines interface {
	ReadLine() (string, error)
}

// Prompter is Lines that draws the prompt itself, as a line-editing
// terminal does.
type Prompter interface {
	SetPrompt(prompt string)
}

// Scan reads lines from r.
func Scan(r io.Reader) Lines {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 64*1024)
	return scanner{sc}
}

type scanner struct{ sc *bufio.Scanner }

func (s scanner) ReadLine() (string, error) {
	if s.sc.Scan() {
		return s.sc.Text(), nil
	}
	if err := s.sc.Err(); err != nil {
		return "", err
	}
	return "", io.EOF
}

// Run reads lines from in until it ends (nil), /quit (io.EOF) or ctx is
// done (its error). With echo set, each
// line is printed after the prompt, as a transcript shows it. A line is
// read only once the one before has been handled, so the prompt names
// the person it acts as; the reading itself waits in a goroutine, so that
// ctx ends Run at once, not at the next Enter (a read that never returns
// stays blocked until the process ends).
func (c *Console) Run(ctx context.Context, in Lines, h bot.Handler, hooks Hooks, echo bool) error {
	type read struct {
		line string
		err  error
	}
	next, got, done := make(chan struct{}), make(chan read), make(chan struct{})
	defer close(done)
	go func() {
		for {
			select {
			case <-next:
			case <-done:
				return
			}
			line, err := in.ReadLine()
			select {
			case got <- read{line, err}:
			case <-done:
				return
			}
		}
	}()
	for {
		c.prompt(in)
		select {
		case next <- struct{}{}:
		case <-ctx.Done():
			return ctx.Err()
		}
		var r read
		select {
		case r = <-got:
		case <-ctx.Done():
			return ctx.Err()
		}
		if errors.Is(r.err, io.EOF) {
			return nil // the end of the input, or Ctrl-D or Ctrl-C on a terminal
		}
		if r.err != nil {
			return r.err
		}
		line := strings.TrimSpace(r.line)
		if echo {
			fmt.Fprintln(c.out, line)
		}
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if err := c.line(ctx, line, h, hooks); err != nil {
			return err
		}
		if hooks.Settle != nil {
			if err := hooks.Settle(ctx); err != nil {
				return err
			}
		}
		c.Flush()
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
}

// prompt shows who the next line acts as: printed, or set on a terminal
// that draws it.
func (c *Console) prompt(in Lines) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if p, ok := in.(Prompter); ok {
		fmt.Fprintln(c.out)
		p.SetPrompt(c.current + "> ")
		return
	}
	fmt.Fprintf(c.out, "\n%s> ", c.current)
}

func (c *Console) say(format string, args ...any) {
	c.mu.Lock()
	defer c.mu.Unlock()
	fmt.Fprintf(c.out, format+"\n", args...)
}

// line handles one input line.
func (c *Console) line(ctx context.Context, line string, h bot.Handler, hooks Hooks) error {
	if !strings.HasPrefix(line, "/") {
		c.say("Commands start with /. Try /countersign help, or /as NAME to switch person.")
		return nil
	}
	name, args, _ := strings.Cut(line[1:], " ")
	args = strings.TrimSpace(args)
	switch name {
	case "as":
		if _, ok := c.person(args); !ok {
			var names []string
			for _, p := range c.people {
				names = append(names, p.Name)
			}
			c.say("No person %q; choose one of %s.", args, strings.Join(names, ", "))
			return nil
		}
		c.mu.Lock()
		c.current = args
		c.mu.Unlock()
		c.say("You are now %s.", args)
		return nil
	case "approve", "deny":
		return c.click(ctx, name, args, h)
	case "quit", "exit":
		return io.EOF
	}
	if hooks.Extra != nil {
		handled, err := hooks.Extra(ctx, name, args)
		if handled || err != nil {
			return err
		}
	}
	// The acknowledgement comes first in a transcript even when background
	// replies overtake it.
	c.mu.Lock()
	at := len(c.private)
	c.mu.Unlock()
	resp := h.Command(ctx, bot.Command{User: c.user(), Channel: Channel, Name: name, Text: args, Reply: c})
	if resp.Message != nil {
		c.mu.Lock()
		defer c.mu.Unlock()
		text := render("only you ("+c.current+") see this", *resp.Message)
		if c.live {
			fmt.Fprint(c.out, text)
			return nil
		}
		c.private = slices.Insert(c.private, min(at, len(c.private)), text)
	}
	return nil
}

// click presses a button of request id's card.
func (c *Console) click(ctx context.Context, verb, args string, h bot.Handler) error {
	idText, reason, _ := strings.Cut(args, " ")
	id, err := strconv.ParseInt(strings.TrimPrefix(idText, "#"), 10, 64)
	if err != nil {
		c.say("Usage: /approve ID or /deny ID REASON, with the request number from its card.")
		return nil
	}
	c.mu.Lock()
	handle, ok := c.cards[id]
	card := c.msgs[handle]
	c.mu.Unlock()
	label := map[string]string{"approve": "Approve", "deny": "Deny"}[verb]
	i := slices.IndexFunc(card.Buttons, func(b chat.Button) bool { return b.Label == label })
	if !ok || i < 0 {
		c.say("Request #%d has no %s button here.", id, label)
		return nil
	}
	click := bot.Click{User: c.user(), Message: chat.Handle{Platform: bot.PlatformConsole, Channel: Channel, ID: handle}, Value: card.Buttons[i].Value}
	resp := h.Click(ctx, click)
	if resp.Dialog == nil {
		c.show(resp)
		return nil
	}
	if strings.TrimSpace(reason) == "" {
		c.say("%s: type the reason after the number, as in /deny %d not approved by the change board.", resp.Dialog.Title, id)
		return nil
	}
	c.show(h.Submit(ctx, bot.Submit{User: c.user(), Message: click.Message, Dialog: resp.Dialog.ID, Value: reason}))
	return nil
}

func (c *Console) show(r bot.Response) {
	if r.Message != nil {
		_ = c.Respond(context.Background(), *r.Message)
	}
}

var marks = map[chat.Mark]string{
	chat.MarkNone: "-", chat.MarkPending: "○", chat.MarkRunning: "…", chat.MarkOK: "✓",
	chat.MarkFailed: "✗", chat.MarkSkipped: "–", chat.MarkProblem: "!",
}

// render draws m as plain text in a box. Every line passes through
// safetext.Clean, so no text can move the cursor, recolour the terminal
// or reorder what it shows.
func render(label string, m chat.Message) string {
	var b strings.Builder
	fmt.Fprintf(&b, "┌─ %s\n", label)
	line := func(s string) {
		for l := range strings.SplitSeq(s, "\n") {
			fmt.Fprintf(&b, "│ %s\n", safetext.Clean(l))
		}
	}
	if m.Title != "" {
		line(m.Title)
	}
	if m.Text != "" {
		line(m.Text)
	}
	for _, f := range m.Fields {
		line(f.Label + ": " + f.Value)
	}
	for _, l := range m.Lines {
		s := marks[l.Mark] + " " + l.Text
		if l.Detail != "" {
			s += " — " + l.Detail
		}
		line(s)
	}
	if m.More > 0 {
		line(fmt.Sprintf("… and %d more", m.More))
	}
	if m.Pre != "" {
		line(m.Pre)
	}
	if len(m.Buttons) > 0 {
		var bs []string
		for _, btn := range m.Buttons {
			bs = append(bs, "["+btn.Label+"]")
		}
		hint := ""
		if m.Request != 0 {
			hint = fmt.Sprintf("   (type /approve %d or /deny %d REASON)", m.Request, m.Request)
		}
		line(strings.Join(bs, " ") + hint)
	}
	if m.Footer != "" {
		fmt.Fprintf(&b, "└─ %s\n", safetext.Clean(m.Footer))
	} else {
		b.WriteString("└─\n")
	}
	return b.String()
}
