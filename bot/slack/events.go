package slackbot

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/slack-go/slack"

	"github.com/countersign/countersign/bot"
	"github.com/countersign/countersign/bot/chat"
	"github.com/countersign/countersign/commands"
)

// ackMessage is the body of an ephemeral answer: the HTTP response to a
// slash command, a Socket Mode ack payload, or a response_url POST.
type ackMessage struct {
	ResponseType    string        `json:"response_type"`
	ReplaceOriginal bool          `json:"replace_original"`
	Text            string        `json:"text"`
	Blocks          []slack.Block `json:"blocks,omitempty"`
}

func ephemeral(m chat.Message) ackMessage {
	r := render(m)
	return ackMessage{ResponseType: slack.ResponseTypeEphemeral, Text: r.Text, Blocks: r.Blocks}
}

// failure is an error message the adapter itself answers with.
func failure(text string) *ackMessage {
	m := ephemeral(chat.Message{Title: "Countersign could not take that", Tone: chat.ToneBad, Text: text})
	return &m
}

// lookupTimeout bounds the user lookup in the acknowledgement path: Slack
// shows an error when the answer takes more than three seconds.
const lookupTimeout = 2 * time.Second

// ackUser looks up the user of an event within lookupTimeout.
func (a *Adapter) ackUser(ctx context.Context, id string) (bot.User, error) {
	ctx, cancel := context.WithTimeout(ctx, lookupTimeout)
	defer cancel()
	return a.user(ctx, id)
}

// command handles a slash command from either transport and returns the
// acknowledgement to show the person (nil: none).
func (a *Adapter) command(ctx context.Context, h bot.Handler, sc slack.SlashCommand) *ackMessage {
	log := a.log.With("user", sc.UserID, "channel", sc.ChannelID, "command", sc.Command)
	if len(a.cfg.Channels) > 0 && !slices.Contains(a.cfg.Channels, sc.ChannelID) {
		log.InfoContext(ctx, "command refused: channel not allowed")
		return failure("Countersign does not take commands in this channel. Use one of the channels it is configured for.")
	}
	u, err := a.ackUser(ctx, sc.UserID)
	if err != nil {
		log.ErrorContext(ctx, "looking up the Slack user", "err", err)
		return failure("Your Slack account could not be looked up just now. Try again in a minute.")
	}
	resp := h.Command(ctx, bot.Command{
		User:    u,
		Channel: sc.ChannelID,
		Name:    a.commandName(sc.Command),
		Text:    sc.Text,
		Reply:   responder{a: a, url: sc.ResponseURL, channel: sc.ChannelID, user: sc.UserID},
	})
	if resp.Dialog != nil && sc.TriggerID != "" {
		if err := a.openDialog(ctx, sc.TriggerID, *resp.Dialog, sc.ChannelID, ""); err != nil {
			log.ErrorContext(ctx, "opening dialog", "err", err)
			return failure("The form could not be opened. Try again.")
		}
	}
	if resp.Message == nil {
		return nil
	}
	m := ephemeral(*resp.Message)
	return &m
}

// commandName returns the command a slash command names: its name without
// "/" and, for an action registered under slack.command_prefix, without
// the prefix. A name without the prefix is passed on as it is, so that the
// bot answers it as an unknown command rather than this adapter guessing.
func (a *Adapter) commandName(slash string) string {
	name := strings.TrimPrefix(slash, "/")
	if a.cfg.CommandPrefix == "" || name == string(commands.Root) {
		return name
	}
	if rest, ok := strings.CutPrefix(name, a.cfg.CommandPrefix); ok {
		return rest
	}
	return name
}

// dialogMeta is a modal's private_metadata: the dialog id and the message
// it was opened from.
type dialogMeta struct {
	Dialog  string `json:"d"`
	Channel string `json:"c"`
	TS      string `json:"t,omitempty"`
}

func (a *Adapter) openDialog(ctx context.Context, trigger string, d chat.Dialog, channel, ts string) error {
	meta, err := json.Marshal(dialogMeta{Dialog: d.ID, Channel: channel, TS: ts})
	if err != nil {
		return err
	}
	return a.call(ctx, "views.open", func() error {
		_, err := a.api.OpenViewContext(ctx, trigger, view(d, string(meta)))
		return err
	})
}

// interaction handles a block_actions or view_submission payload and
// returns the ack payload, if any.
func (a *Adapter) interaction(ctx context.Context, h bot.Handler, cb slack.InteractionCallback) any {
	log := a.log.With("user", cb.User.ID, "type", string(cb.Type))
	switch cb.Type {
	case slack.InteractionTypeBlockActions:
		if len(cb.ActionCallback.BlockActions) == 0 {
			log.WarnContext(ctx, "block_actions payload without a button action")
			return nil
		}
		act := cb.ActionCallback.BlockActions[0]
		channel := cb.Container.ChannelID
		if channel == "" {
			channel = cb.Channel.ID
		}
		r := responder{a: a, url: cb.ResponseURL, channel: channel, user: cb.User.ID}
		u, err := a.ackUser(ctx, cb.User.ID)
		if err != nil {
			log.ErrorContext(ctx, "looking up the Slack user", "err", err)
			r.later(ctx, *failure("Your Slack account could not be looked up just now. Try again in a minute."))
			return nil
		}
		msg := chat.Handle{Platform: bot.PlatformSlack, Channel: channel, ID: cb.Container.MessageTs, Thread: cb.Container.ThreadTs}
		resp := h.Click(ctx, bot.Click{User: u, Message: msg, Value: act.Value})
		if resp.Dialog != nil {
			// The trigger id lives three seconds: open the modal first.
			if err := a.openDialog(ctx, cb.TriggerID, *resp.Dialog, channel, cb.Container.MessageTs); err != nil {
				log.ErrorContext(ctx, "opening dialog", "err", err)
				r.later(ctx, *failure("The form could not be opened in time. Click the button again."))
			}
		}
		if resp.Message != nil {
			r.later(ctx, ephemeral(*resp.Message))
		}
		return nil
	case slack.InteractionTypeViewSubmission:
		if cb.View.CallbackID != callbackDialog {
			return nil
		}
		var meta dialogMeta
		if err := json.Unmarshal([]byte(cb.View.PrivateMetadata), &meta); err != nil {
			log.WarnContext(ctx, "modal with unreadable metadata", "err", err)
			return nil
		}
		value := ""
		if v, ok := cb.View.State.Values["reason"]["value"]; ok {
			value = v.Value
		}
		r := responder{a: a, channel: meta.Channel, user: cb.User.ID}
		u, err := a.ackUser(ctx, cb.User.ID)
		if err != nil {
			log.ErrorContext(ctx, "looking up the Slack user", "err", err)
			r.later(ctx, *failure("Your Slack account could not be looked up just now. Try again in a minute."))
			return nil
		}
		resp := h.Submit(ctx, bot.Submit{
			User:    u,
			Message: chat.Handle{Platform: bot.PlatformSlack, Channel: meta.Channel, ID: meta.TS},
			Dialog:  meta.Dialog,
			Value:   value,
		})
		if resp.Message != nil {
			r.later(ctx, ephemeral(*resp.Message))
		}
		return nil
	}
	return nil
}

// responder sends private messages to one person: through the event's
// response_url when it has one, else with chat.postEphemeral.
type responder struct {
	a       *Adapter
	url     string
	channel string
	user    string
}

// Respond implements bot.Responder.
func (r responder) Respond(ctx context.Context, m chat.Message) error {
	return r.send(ctx, ephemeral(m))
}

// later sends m in the background, after the event is acknowledged.
func (r responder) later(ctx context.Context, m ackMessage) {
	ctx = context.WithoutCancel(ctx)
	r.a.inflight.Add(1)
	go func() {
		defer r.a.inflight.Done()
		if err := r.send(ctx, m); err != nil {
			r.a.log.WarnContext(ctx, "sending a private message", "user", r.user, "err", err)
		}
	}()
}

func (r responder) send(ctx context.Context, m ackMessage) error {
	if r.url != "" && r.a.responseURLAllowed(r.url) {
		err := r.postResponse(ctx, m)
		if err == nil {
			return nil
		}
		r.a.log.WarnContext(ctx, "response_url failed; posting an ephemeral message instead", "err", err)
	}
	if r.channel == "" || r.user == "" {
		return errors.New("slack: nowhere to send a private message")
	}
	return r.a.call(ctx, "chat.postEphemeral", func() error {
		_, err := r.a.api.PostEphemeralContext(ctx, r.channel, r.user,
			slack.MsgOptionText(m.Text, false), slack.MsgOptionBlocks(m.Blocks...))
		return err
	})
}

func (r responder) postResponse(ctx context.Context, m ackMessage) error {
	body, err := json.Marshal(m)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, r.url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := r.a.http.Do(req)
	if err != nil {
		return fmt.Errorf("posting to response_url: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("posting to response_url: %s", resp.Status)
	}
	return nil
}

// responseURLAllowed keeps the bot from POSTing to arbitrary addresses: a
// response_url must be Slack's (or GovSlack's) webhook host, or the host of
// the configured API URL (a test fake).
func (a *Adapter) responseURLAllowed(raw string) bool {
	u, err := url.Parse(raw)
	if err != nil || u.User != nil {
		return false
	}
	if u.Scheme == "https" && (u.Host == "hooks.slack.com" || u.Host == "hooks.slack-gov.com") {
		return true
	}
	api, err := url.Parse(a.cfg.APIURL)
	return err == nil && api.Host != "slack.com" && u.Scheme == api.Scheme && u.Host == api.Host
}

func asSlackError(err error, target *slack.SlackErrorResponse) bool {
	return errors.As(err, target)
}
