package slackbot

import (
	"context"

	"github.com/countersign/countersign/bot"
)

// LookupUser exposes the user lookup events use to the tests.
func LookupUser(ctx context.Context, a *Adapter, id string) (bot.User, error) { return a.user(ctx, id) }
