// Package bot is the platform-neutral core of Countersign: it turns neutral
// events (a command, a button click, a dialog submission) into approvals
// and store changes, and renders requests as neutral messages that the
// platform adapters (bot/slack, bot/discord, bot/console) draw.
//
// Every string in a Message is plain text. Each adapter passes all of it
// through its one neutralising function, which removes invisible and
// control characters (internal/safetext) and escapes or defuses the
// platform's markup; the core never writes platform markup, so user input
// can never become a mention, a link or formatting. Only Text and Pre keep
// line breaks; every other string is shown as one line.
package bot

import (
	"context"
	"errors"
)

// Platforms the core knows by name.
const (
	PlatformSlack   = "slack"
	PlatformDiscord = "discord"
	PlatformConsole = "console"
)

// User is the platform account behind an event, as the adapter verified it.
// Name, Email and Roles come from the platform, never from message text.
type User struct {
	Platform string   // slack, discord, console
	ID       string   // the platform's user id
	Name     string   // display name, shown to humans only
	Email    string   // profile e-mail when the platform gives one; maps the account to people:
	Roles    []string // role or group ids the platform reported with the event
	// Restricted is set for accounts that must never act: deleted, bots,
	// guests and restricted accounts.
	Restricted bool
}

// Command is a slash command as the adapter received it.
type Command struct {
	User    User
	Channel string // channel id the command was typed in; "" for a direct message
	Name    string // the slash command without "/": "disable", "countersign", …
	Text    string // everything after the command name, as typed
	// Reply sends private follow-ups to the person who typed the command,
	// for results that arrive after the acknowledgement (a filing error, a
	// dry-run preview that needed provider lookups).
	Reply Responder
}

// Click is a button press on a message the bot posted.
type Click struct {
	User    User
	Message Handle // the message whose button was pressed
	// Value is the button's value as the bot set it (Button.Value); the bot
	// parses and checks it, adapters pass it through untouched.
	Value string
}

// Submit is a dialog (modal) submission, such as the reason for a denial.
type Submit struct {
	User    User
	Message Handle // the message the dialog was opened from, when known
	Dialog  string // Dialog.ID as the bot set it
	Value   string // the text the person entered
}

// Response is what the bot answers synchronously to an event. Adapters show
// Message privately to the person who caused the event (Slack ephemeral,
// Discord ephemeral); a nil Message means nothing to show. Dialog, when set,
// asks the adapter to open that dialog instead (Slack views.open with the
// click's trigger id, Discord modal response).
type Response struct {
	Message *Message
	Dialog  *Dialog
}

// Responder sends private follow-up messages to one person.
type Responder interface {
	Respond(ctx context.Context, m Message) error
}

// Handle identifies a message the bot posted, so it can be edited later
// and so any replica can find it again (it is stored with the request).
type Handle struct {
	Platform string
	Channel  string // channel the message is in
	ID       string // Slack ts, Discord message id
	// Thread is where replies to the message go: for Slack the parent
	// message's ts, for Discord the id of the thread channel started from
	// the message. Empty until the first reply on platforms that create
	// threads on demand.
	Thread string
}

// Chat is what an adapter implements to show the bot's messages.
type Chat interface {
	// Post posts m as a new message in channel.
	Post(ctx context.Context, channel string, m Message) (Handle, error)
	// Update replaces the message h with m. h is a handle Post or Reply
	// returned (or one rebuilt from the stored Channel, ID and Thread).
	Update(ctx context.Context, h Handle, m Message) error
	// Reply posts m in the thread of parent, starting the thread if the
	// platform needs that, and returns the reply's handle. The reply's
	// Channel is parent's channel and its Thread the thread id to store for
	// later replies; an adapter whose replies live elsewhere (a Discord
	// thread is a channel of its own) tells a reply from a parent by ID !=
	// Thread.
	Reply(ctx context.Context, parent Handle, m Message) (Handle, error)
}

// Access answers who may do what on one platform, from platform ids and
// config only (DESIGN §9). Adapters implement it: Slack from user ids and
// user groups, Discord from user ids and role ids, the console from its
// configuration.
type Access interface {
	// Person maps a platform user to a people: name. It returns
	// approvals.ErrUnknownPerson when the user is not in people:.
	Person(ctx context.Context, u User) (string, error)
	// MayRequest reports whether u may file requests.
	MayRequest(ctx context.Context, u User) (bool, error)
	// MayApprove reports whether u may approve or deny requests now.
	MayApprove(ctx context.Context, u User) (bool, error)
	// Approvers lists the people (names) eligible to approve on this
	// platform; it is snapshotted into each request when it is filed.
	Approvers(ctx context.Context) ([]string, error)
}

// ErrNotSupported is returned by an adapter for an optional capability its
// platform lacks.
var ErrNotSupported = errors.New("not supported on this platform")

// Tone colours a message where the platform can (Slack attachment colour,
// Discord embed colour); it never carries meaning on its own.
type Tone string

// Tones.
const (
	ToneNeutral Tone = ""
	ToneWaiting Tone = "waiting" // pending approval
	ToneGood    Tone = "good"    // approved, succeeded
	ToneBad     Tone = "bad"     // denied, failed, needs attention
	ToneMuted   Tone = "muted"   // expired, cancelled
)

// Message is a neutral rich message: a request card, a progress note, a
// summary, a preview, help text or a digest. All text is plain.
type Message struct {
	// Request is the request the message shows, 0 for none. Adapters may
	// use it for platform metadata; the console maps /approve ID with it.
	Request int64
	Title   string  // one line, shown bold
	Tone    Tone    // colour hint
	Text    string  // paragraphs, plain text
	Fields  []Field // short labelled values, shown as a grid where possible
	Lines   []Line  // list items: targets, per-target outcomes
	// More counts list items left out to fit the platform's limits; the
	// adapter shows "… and N more".
	More    int
	Pre     string   // preformatted block shown in monospace (digest charts, help synopsis)
	Footer  string   // small print: the hash, the reference id, the expiry
	Buttons []Button // actions; none once the request is decided
}

// Field is a labelled value on a message.
type Field struct {
	Label string
	Value string
	Code  bool // show Value in monospace (ids, hashes)
}

// Mark is the status symbol of a Line.
type Mark string

// Marks.
const (
	MarkNone    Mark = ""
	MarkPending Mark = "pending"
	MarkRunning Mark = "running"
	MarkOK      Mark = "ok"
	MarkFailed  Mark = "failed"
	MarkSkipped Mark = "skipped"
	MarkProblem Mark = "problem" // a preview target that cannot be acted on (blocks filing), or an outcome that is unknown
)

// Line is one list item, usually one target.
type Line struct {
	Mark   Mark
	Text   string // what the target is: "Mallory Doe <mallory@contoso.com>"
	Detail string // its state or outcome: "enabled", "disabled (ref 7f3a…)"
}

// ButtonStyle hints how a button looks.
type ButtonStyle string

// Button styles.
const (
	StyleDefault ButtonStyle = ""
	StylePrimary ButtonStyle = "primary"
	StyleDanger  ButtonStyle = "danger"
)

// Button is an action button on a message.
type Button struct {
	Label string
	Style ButtonStyle
	// Value is opaque to adapters: they send it back unchanged in Click.
	// It is at most 100 ASCII characters, which fits every platform's limit.
	Value string
	// Confirm, when set, asks the person to confirm before the click is
	// sent (Slack confirm dialog); platforms without one ignore it.
	Confirm *Confirm
}

// Confirm is a confirmation prompt on a button.
type Confirm struct {
	Title   string
	Text    string
	Confirm string // label of the confirming choice
	Deny    string // label of the cancelling choice
}

// Dialog is a one-field form, such as the reason for a denial.
type Dialog struct {
	ID       string // opaque to adapters, sent back in Submit.Dialog; at most 100 ASCII characters
	Title    string // at most 24 characters
	Label    string // the field's label
	Hint     string // placeholder text
	Submit   string // submit button label
	Required bool
	MaxLen   int
}

// Handler is what adapters call; *Bot implements it. Each method returns
// quickly (within the platform's acknowledgement window): slow work such as
// provider lookups continues in the background and reports through
// Command.Reply and Chat.
type Handler interface {
	Command(ctx context.Context, c Command) Response
	Click(ctx context.Context, c Click) Response
	Submit(ctx context.Context, s Submit) Response
}
