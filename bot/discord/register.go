package discord

import (
	"context"
	"strings"
	"unicode/utf8"

	"github.com/bwmarrin/discordgo"

	"github.com/countersign/countersign/commands"
)

// Limits on command registration.
const (
	limitDescriptionCmd = 100
	limitChoices        = 25
	limitOptionString   = 6000
	maxIPLength         = 45 // the longest textual IPv6 address with an IPv4 tail
)

// Register replaces the guild's slash commands with Countersign's, one
// chat-input command per commands.Registry entry (bulk overwrite, PUT, so
// running it again changes nothing). Guild commands update instantly.
func (a *Adapter) Register(ctx context.Context) error {
	cmds := Commands()
	return a.call(ctx, "register commands", func(opts ...discordgo.RequestOption) error {
		_, err := a.s.ApplicationCommandBulkOverwrite(a.cfg.ApplicationID, a.cfg.GuildID, cmds, opts...)
		return err
	})
}

// Commands returns the application commands Register sends: typed options
// that the interaction handler turns back into a command line.
func Commands() []*discordgo.ApplicationCommand {
	guildOnly := []discordgo.InteractionContextType{discordgo.InteractionContextGuild}
	var out []*discordgo.ApplicationCommand
	for _, d := range commands.Registry() {
		c := &discordgo.ApplicationCommand{
			Name: string(d.Name), Type: discordgo.ChatApplicationCommand,
			Description: describe(d.Summary), Contexts: &guildOnly,
		}
		if o := argOpt(d); o != nil {
			c.Options = append(c.Options, o)
		}
		for _, f := range d.Flags {
			c.Options = append(c.Options, flagOpt(f))
		}
		out = append(out, c)
	}
	return out
}

// argOption is the option name of a positional argument kind.
func argOption(k commands.ArgKind) string {
	switch k {
	case commands.ArgUsers:
		return "targets"
	case commands.ArgMessageID:
		return "message-id"
	case commands.ArgIP:
		return "ip"
	case commands.ArgRequestID:
		return "id"
	case commands.ArgTopic:
		return "command"
	case commands.ArgCommand:
		return "command-line"
	}
	return ""
}

func argOpt(d commands.Def) *discordgo.ApplicationCommandOption {
	if d.Arg.Kind == commands.ArgNone {
		return nil
	}
	o := &discordgo.ApplicationCommandOption{Type: discordgo.ApplicationCommandOptionString,
		Name: argOption(d.Arg.Kind), Description: describe(d.Arg.Help), Required: d.Arg.Required}
	switch d.Arg.Kind {
	case commands.ArgUsers:
		o.MaxLength = commands.MaxInput
	case commands.ArgMessageID:
		o.MaxLength = commands.MaxMsgID + 2
	case commands.ArgIP:
		o.MaxLength = maxIPLength
	case commands.ArgRequestID:
		o.MaxLength = 21 // "#" and an int64
	case commands.ArgTopic:
		for _, c := range commands.Registry() {
			if len(o.Choices) < limitChoices {
				o.Choices = append(o.Choices, &discordgo.ApplicationCommandOptionChoice{Name: string(c.Name), Value: string(c.Name)})
			}
		}
	case commands.ArgCommand:
		o.MaxLength = commands.MaxInput
	}
	return o
}

func flagOpt(f commands.Flag) *discordgo.ApplicationCommandOption {
	o := &discordgo.ApplicationCommandOption{Type: discordgo.ApplicationCommandOptionString, Name: f.Name, Description: describe(f.Help)}
	switch f.Kind {
	case commands.FlagBool:
		o.Type = discordgo.ApplicationCommandOptionBoolean
	case commands.FlagEnum:
		for _, c := range f.Choices {
			if len(o.Choices) < limitChoices {
				o.Choices = append(o.Choices, &discordgo.ApplicationCommandOptionChoice{Name: c, Value: c})
			}
		}
	case commands.FlagUser:
		o.MaxLength = commands.MaxAddress
		if f.Repeat {
			o.MaxLength = commands.MaxInput
		}
	case commands.FlagString:
		o.MaxLength = commands.MaxReason
		if f.Name != "reason" {
			o.MaxLength = commands.MaxInput
		}
	}
	return o
}

// describe fits a help text into Discord's 1–100 character description.
func describe(s string) string {
	s = strings.TrimSpace(s)
	if s == "" {
		return "-"
	}
	if i := strings.Index(s, "; "); i > 0 && utf8.RuneCountInString(s) > limitDescriptionCmd {
		s = s[:i]
	}
	return clip(s, limitDescriptionCmd)
}
