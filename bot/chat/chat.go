// Package chat is the neutral chat message model: what Countersign shows
// (a request card, a progress note, a summary, a preview, help text, a
// digest) and where it was shown, without any platform's types. The bot
// renders requests into it, the digest renders reports into it, and the
// platform adapters (bot/slack, bot/discord, bot/console) draw it.
//
// Every string in a Message is plain text. Each adapter passes all of it
// through its one neutralising function, which removes invisible and
// control characters (internal/safetext) and escapes or defuses the
// platform's markup; nothing that renders into this model writes platform
// markup, so user input can never become a mention, a link or formatting.
// Only Text and Pre keep line breaks; every other string is shown as one
// line.
package chat

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

// Location is where one request's card is shown on one platform, and the
// progress message in its thread, so any replica can render them again
// after a restart. The store keeps one per request and platform.
type Location struct {
	RequestID  int64
	Platform   string // slack, discord, console
	Channel    string
	MessageID  string // the card: Slack ts, Discord message id
	ThreadID   string // thread the progress goes to (Slack: the card's ts; Discord: thread channel id)
	ProgressID string // the progress message edited in place; empty until it is posted
}

// Card is the handle of the card itself.
func (l Location) Card() Handle {
	return Handle{Platform: l.Platform, Channel: l.Channel, ID: l.MessageID, Thread: l.ThreadID}
}

// Progress is the handle of the progress message; its ID is empty until
// one was posted.
func (l Location) Progress() Handle {
	return Handle{Platform: l.Platform, Channel: l.Channel, ID: l.ProgressID, Thread: l.ThreadID}
}
