// Package bot is the platform-neutral chat front of Countersign: it turns
// neutral events (a command, a button click, a dialog submission) into
// calls of the request workflow, and renders requests as neutral messages
// (package chat) that the platform adapters (bot/slack, bot/discord,
// bot/console) draw.
package bot

import (
	"context"
	"errors"

	"github.com/countersign/countersign/bot/chat"
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
	Message chat.Handle // the message whose button was pressed
	// Value is the button's value as the bot set it (Button.Value); the bot
	// parses and checks it, adapters pass it through untouched.
	Value string
}

// Submit is a dialog (modal) submission, such as the reason for a denial.
type Submit struct {
	User    User
	Message chat.Handle // the message the dialog was opened from, when known
	Dialog  string      // Dialog.ID as the bot set it
	Value   string      // the text the person entered
}

// Response is what the bot answers synchronously to an event. Adapters show
// Message privately to the person who caused the event (Slack ephemeral,
// Discord ephemeral); a nil Message means nothing to show. Dialog, when set,
// asks the adapter to open that dialog instead (Slack views.open with the
// click's trigger id, Discord modal response).
type Response struct {
	Message *chat.Message
	Dialog  *chat.Dialog
}

// Responder sends private follow-up messages to one person.
type Responder interface {
	Respond(ctx context.Context, m chat.Message) error
}

// Chat is what an adapter implements to show the bot's messages.
type Chat interface {
	// Post posts m as a new message in channel.
	Post(ctx context.Context, channel string, m chat.Message) (chat.Handle, error)
	// Update replaces the message h with m. h is a handle Post or Reply
	// returned (or one rebuilt from the stored Channel, ID and Thread).
	Update(ctx context.Context, h chat.Handle, m chat.Message) error
	// Reply posts m in the thread of parent, starting the thread if the
	// platform needs that, and returns the reply's handle. The reply's
	// Channel is parent's channel and its Thread the thread id to store for
	// later replies; an adapter whose replies live elsewhere (a Discord
	// thread is a channel of its own) tells a reply from a parent by ID !=
	// Thread.
	Reply(ctx context.Context, parent chat.Handle, m chat.Message) (chat.Handle, error)
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

// Handler is what adapters call; *Bot implements it. Each method returns
// quickly (within the platform's acknowledgement window): slow work such as
// provider lookups continues in the background and reports through
// Command.Reply and Chat.
type Handler interface {
	Command(ctx context.Context, c Command) Response
	Click(ctx context.Context, c Click) Response
	Submit(ctx context.Context, s Submit) Response
}
