package slackbot

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/slack-go/slack"
	"github.com/slack-go/slack/socketmode"

	"github.com/countersign/countersign/bot"
)

// envelopeTTL is how long Socket Mode envelope ids are remembered: Slack
// redelivers an envelope that was not acknowledged in time.
const envelopeTTL = time.Hour

// runSocket keeps a Socket Mode connection until ctx ends, handling slash
// commands and interactions as the HTTP endpoints do. Socket Mode events
// are authenticated by the connection (the app token), so there is no
// signature; a redelivered envelope is acknowledged and dropped.
func (a *Adapter) runSocket(ctx context.Context, h bot.Handler) error {
	client := socketmode.New(a.api, socketmode.OptionLog(slog.NewLogLogger(a.log.Handler(), slog.LevelDebug)))
	errc := make(chan error, 1)
	go func() { errc <- client.RunContext(ctx) }()
	for {
		select {
		case <-ctx.Done():
			return nil
		case err := <-errc:
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("slack socket mode: %w", err)
		case evt := <-client.Events:
			a.socketEvent(ctx, client, h, evt)
		}
	}
}

func (a *Adapter) socketEvent(ctx context.Context, client *socketmode.Client, h bot.Handler, evt socketmode.Event) {
	switch evt.Type {
	case socketmode.EventTypeConnected:
		a.log.InfoContext(ctx, "connected to Slack over Socket Mode")
		return
	case socketmode.EventTypeConnectionError, socketmode.EventTypeInvalidAuth:
		a.log.WarnContext(ctx, "Socket Mode connection problem", "event", string(evt.Type), "err", fmt.Sprint(evt.Data))
		return
	case socketmode.EventTypeSlashCommand, socketmode.EventTypeInteractive:
	default:
		return
	}
	if evt.Request == nil {
		return
	}
	req := *evt.Request
	first, err := a.cfg.Seen.FirstSeen(ctx, "slack:envelope:"+req.EnvelopeID, envelopeTTL, a.cfg.Now())
	if err != nil {
		a.log.ErrorContext(ctx, "checking a Socket Mode envelope", "err", err)
		return // not acknowledged: Slack redelivers it
	}
	if !first {
		a.ack(ctx, client, req, nil)
		return
	}
	// Each event is handled on its own goroutine so a slow one does not
	// hold up the acknowledgement of the next.
	a.inflight.Add(1)
	go func() {
		defer a.inflight.Done()
		switch data := evt.Data.(type) {
		case slack.SlashCommand:
			var payload any
			if m := a.command(ctx, h, data); m != nil {
				payload = m
			}
			a.ack(ctx, client, req, payload)
		case slack.InteractionCallback:
			a.ack(ctx, client, req, a.interaction(ctx, h, data))
		default:
			a.ack(ctx, client, req, nil)
		}
	}()
}

func (a *Adapter) ack(ctx context.Context, client *socketmode.Client, req socketmode.Request, payload any) {
	if err := client.AckCtx(ctx, req.EnvelopeID, payload); err != nil {
		a.log.WarnContext(ctx, "acknowledging a Socket Mode envelope", "err", err)
	}
}
