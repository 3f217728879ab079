package discord

import (
	"context"
	"fmt"

	"github.com/bwmarrin/discordgo"

	"github.com/countersign/countersign/bot"
	"github.com/countersign/countersign/bot/chat"
)

// threadArchive is how long, in minutes, an idle request thread stays open.
const threadArchive = 1440

// codeThreadExists is Discord's error code for "a thread has already been
// created for this message".
const codeThreadExists = 160004

// Post implements bot.Chat: m becomes a channel message sent with the bot
// token, so it can be edited long after any interaction token expired.
func (a *Adapter) Post(ctx context.Context, channel string, m chat.Message) (chat.Handle, error) {
	send, err := messageSend(m)
	if err != nil {
		return chat.Handle{}, fmt.Errorf("discord post: %w", err)
	}
	msg, err := a.send(ctx, "post", channel, send)
	if err != nil {
		return chat.Handle{}, err
	}
	return chat.Handle{Platform: bot.PlatformDiscord, Channel: channel, ID: msg.ID}, nil
}

// send sends m to channel, a channel or a thread, with the bot token.
func (a *Adapter) send(ctx context.Context, what, channel string, m *discordgo.MessageSend) (*discordgo.Message, error) {
	var msg *discordgo.Message
	err := a.call(ctx, what, func(opts ...discordgo.RequestOption) (err error) {
		msg, err = a.s.ChannelMessageSendComplex(channel, m, opts...)
		return err
	})
	return msg, err
}

// Update implements bot.Chat. A reply (ID != Thread) lives in the thread
// channel; a card in its own channel.
func (a *Adapter) Update(ctx context.Context, h chat.Handle, m chat.Message) error {
	r, err := render(m)
	if err != nil {
		return fmt.Errorf("discord update: %w", err)
	}
	embeds := []*discordgo.MessageEmbed{r.embed}
	edit := &discordgo.MessageEdit{ID: h.ID, Channel: messageChannel(h), Embeds: &embeds, Components: &r.components, AllowedMentions: noMentions()}
	return a.call(ctx, "update", func(opts ...discordgo.RequestOption) error {
		_, err := a.s.ChannelMessageEditComplex(edit, opts...)
		return err
	})
}

// messageChannel is the channel the message h is in.
func messageChannel(h chat.Handle) string {
	if h.Thread != "" && h.ID != h.Thread {
		return h.Thread
	}
	return h.Channel
}

// Reply implements bot.Chat. The first reply to a card starts a public
// thread from it, "Request #N"; the thread's id equals the card's id, so a
// handle rebuilt without Thread still finds it.
func (a *Adapter) Reply(ctx context.Context, parent chat.Handle, m chat.Message) (chat.Handle, error) {
	send, err := messageSend(m)
	if err != nil {
		return chat.Handle{}, fmt.Errorf("discord reply: %w", err)
	}
	thread := parent.Thread
	if thread == "" {
		name := "Countersign"
		if m.Request != 0 {
			name = fmt.Sprintf("Request #%d", m.Request)
		}
		start := &discordgo.ThreadStart{Name: name, AutoArchiveDuration: threadArchive}
		err := a.call(ctx, "start thread", func(opts ...discordgo.RequestOption) error {
			ch, err := a.s.MessageThreadStartComplex(parent.Channel, parent.ID, start, opts...)
			if err == nil {
				thread = ch.ID
			}
			return err
		})
		switch {
		case err == nil:
		case apiCode(err) == codeThreadExists:
			thread = parent.ID // another replica started it
		default:
			return chat.Handle{}, err
		}
	}
	msg, err := a.send(ctx, "reply", thread, send)
	if err != nil {
		return chat.Handle{}, err
	}
	return chat.Handle{Platform: bot.PlatformDiscord, Channel: parent.Channel, ID: msg.ID, Thread: thread}, nil
}

// followups sends ephemeral follow-up messages for one interaction through
// its token's webhook. Sends wait until the initial response went out:
// Discord refuses follow-ups before it.
type followups struct {
	a           *Adapter
	interaction *discordgo.Interaction
	answered    <-chan struct{}
}

// Respond implements bot.Responder.
func (f *followups) Respond(ctx context.Context, m chat.Message) error {
	select {
	case <-f.answered:
	case <-ctx.Done():
		return fmt.Errorf("discord follow-up: %w", ctx.Err())
	}
	r, err := render(m)
	if err != nil {
		return fmt.Errorf("discord follow-up: %w", err)
	}
	params := &discordgo.WebhookParams{Embeds: []*discordgo.MessageEmbed{r.embed}, Components: r.components,
		AllowedMentions: noMentions(), Flags: Ephemeral}
	return f.a.call(ctx, "follow-up", func(opts ...discordgo.RequestOption) error {
		_, err := f.a.s.FollowupMessageCreate(f.interaction, true, params, opts...)
		return err
	})
}
