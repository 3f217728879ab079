package discord

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/bwmarrin/discordgo"
	"github.com/cenkalti/backoff/v5"
	"github.com/gorilla/websocket"

	"github.com/countersign/countersign/bot"
)

// Run receives interactions over the Gateway until ctx ends (Gateway mode,
// no public_key). Each INTERACTION_CREATE takes the same path as an HTTP
// interaction, duplicate ids included (replicas sharing the bot token all
// receive it; the first to record the id answers), and is answered with
// the interaction callback. discordgo reconnects on its own after errors.
func (a *Adapter) Run(ctx context.Context, h bot.Handler) error {
	if a.key != nil {
		return errors.New("discord: public_key is set, so interactions arrive over HTTP, not the gateway")
	}
	remove := a.s.AddHandler(func(_ *discordgo.Session, ic *discordgo.InteractionCreate) {
		a.gatewayInteraction(ctx, h, ic.Interaction)
	})
	defer remove()
	// Discord may be unreachable when serve starts; keep trying (backing
	// off to a minute) rather than run without chat until a restart.
	open := func() (struct{}, error) {
		err := a.s.Open()
		var ce *websocket.CloseError
		if errors.As(err, &ce) && ce.Code >= 4004 && ce.Code != 4005 && ce.Code != 4007 && ce.Code != 4008 && ce.Code != 4009 {
			// A wrong token, intents or version: retrying cannot help.
			return struct{}{}, backoff.Permanent(err)
		}
		return struct{}{}, err
	}
	if _, err := backoff.Retry(ctx, open, backoff.WithMaxElapsedTime(0),
		backoff.WithNotify(func(err error, next time.Duration) {
			a.log.WarnContext(ctx, "discord gateway: cannot connect; retrying", "err", err, "retry_in", next)
		})); err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("discord gateway: %w", err)
	}
	a.log.InfoContext(ctx, "discord gateway connected")
	<-ctx.Done()
	if err := a.s.Close(); err != nil {
		return fmt.Errorf("discord gateway close: %w", err)
	}
	return nil
}

// gatewayInteraction handles one INTERACTION_CREATE; discordgo runs it in
// a goroutine of its own.
func (a *Adapter) gatewayInteraction(ctx context.Context, h bot.Handler, i *discordgo.Interaction) {
	if i == nil || i.ID == "" || i.Type == discordgo.InteractionPing {
		return
	}
	if ctx.Err() != nil {
		return
	}
	fresh, err := a.seen.FirstSeen(ctx, seenKey(i.ID), seenTTL, a.now())
	if err != nil {
		a.log.ErrorContext(ctx, "discord interaction: recording id", "interaction_id", i.ID, "err", err)
		return
	}
	if !fresh {
		a.log.InfoContext(ctx, "discord interaction handled elsewhere", "interaction_id", i.ID)
		return
	}
	answered := make(chan struct{})
	resp := a.dispatch(ctx, h, i, answered)
	err = a.call(ctx, "interaction response", func(opts ...discordgo.RequestOption) error {
		return a.s.InteractionRespond(i, resp, opts...)
	})
	close(answered)
	if err != nil {
		a.log.ErrorContext(ctx, "discord interaction response", "interaction_id", i.ID, "err", err)
	}
}
