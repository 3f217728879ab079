package discord

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/bwmarrin/discordgo"

	"github.com/countersign/countersign/bot"
	"github.com/countersign/countersign/bot/chat"
	"github.com/countersign/countersign/commands"
)

// Limits on incoming interactions.
const (
	// MaxBody is the largest interaction body read; Discord's are a few KiB.
	MaxBody = 1 << 20
	// Window is how far X-Signature-Timestamp may be from now, either way.
	// Discord documents no replay window; this is Countersign's own.
	Window = 5 * time.Minute
	// seenTTL keeps interaction ids well past their 15-minute token life.
	seenTTL = time.Hour
)

// Texts of refusals the adapter decides itself.
const (
	textWrongGuild = "Countersign serves one Discord server only; this interaction came from another."
	textNoDM       = "Countersign works in the server's channels, not in direct messages."
	textChannel    = "Commands are not accepted in this channel; use one of the channels set up for Countersign."
	textUnknown    = "Countersign does not know this kind of interaction."
	textBroken     = "Countersign could not draw its answer; the details are in the server log."
)

// Interactions returns the handler for POST /discord/interactions (HTTP
// mode). Requests that are not POST get 405, bodies over MaxBody 413;
// unsigned, wrongly signed or stale requests (X-Signature-Timestamp more
// than Window away from now), and requests with a query string (the
// signature covers only the body), get 401 before anything is parsed or
// stored. A correctly signed interaction whose id was seen before gets 401,
// as every replay does (DESIGN §9), and never reaches h again: it can only
// be a replay or a duplicate delivery, and the first one was answered.
// Everything else is answered in the response body (PONG, a message, a
// modal), with ephemeral messages flagged 64.
func (a *Adapter) Interactions(h bot.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", http.MethodPost)
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		if a.key == nil {
			http.Error(w, "interactions arrive over the gateway", http.StatusNotFound)
			return
		}
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBody))
		if err != nil {
			var tooBig *http.MaxBytesError
			if errors.As(err, &tooBig) {
				http.Error(w, "body too large", http.StatusRequestEntityTooLarge)
				return
			}
			http.Error(w, "bad body", http.StatusBadRequest)
			return
		}
		if err := a.verify(r, body); err != nil {
			a.log.WarnContext(r.Context(), "discord interaction refused", "reason", err.Error(), "remote", r.RemoteAddr)
			http.Error(w, "invalid request signature", http.StatusUnauthorized)
			return
		}
		var i discordgo.Interaction
		if err := json.Unmarshal(body, &i); err != nil || i.ID == "" {
			http.Error(w, "bad interaction", http.StatusBadRequest)
			return
		}
		if i.Type == discordgo.InteractionPing {
			writeJSON(w, &discordgo.InteractionResponse{Type: discordgo.InteractionResponsePong})
			return
		}
		fresh, err := a.seen.FirstSeen(r.Context(), seenKey(i.ID), seenTTL, a.now())
		if err != nil {
			a.log.ErrorContext(r.Context(), "discord interaction: recording id", "interaction_id", i.ID, "err", err)
			http.Error(w, "temporarily unavailable", http.StatusServiceUnavailable)
			return
		}
		if !fresh {
			a.log.WarnContext(r.Context(), "discord interaction id seen before; refused", "interaction_id", i.ID)
			http.Error(w, "interaction already handled", http.StatusUnauthorized)
			return
		}
		answered := make(chan struct{})
		resp := a.dispatch(r.Context(), h, &i, answered)
		writeJSON(w, resp)
		if f, ok := w.(http.Flusher); ok {
			f.Flush()
		}
		close(answered)
	})
}

func seenKey(id string) string { return "discord:interaction:" + id }

// errSignature and friends say why a request was refused, for the log.
var (
	errNoSignature = errors.New("missing signature headers")
	errStale       = errors.New("timestamp outside the replay window")
	errSignature   = errors.New("signature does not verify")
	errQuery       = errors.New("query string on a signed request")
)

// verify checks the Ed25519 signature over timestamp+body and the
// timestamp window.
func (a *Adapter) verify(r *http.Request, body []byte) error {
	if r.URL.RawQuery != "" {
		return errQuery
	}
	sigHex, ts := r.Header.Get("X-Signature-Ed25519"), r.Header.Get("X-Signature-Timestamp")
	if sigHex == "" || ts == "" {
		return errNoSignature
	}
	secs, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return errStale
	}
	now := a.now().Unix()
	if d := now - secs; d > int64(Window/time.Second) || d < -int64(Window/time.Second) {
		return errStale
	}
	sig, err := hex.DecodeString(sigHex)
	if err != nil || len(sig) != ed25519.SignatureSize {
		return errSignature
	}
	msg := make([]byte, 0, len(ts)+len(body))
	msg = append(append(msg, ts...), body...)
	if !ed25519.Verify(a.key, msg, sig) {
		return errSignature
	}
	return nil
}

func writeJSON(w http.ResponseWriter, v any) {
	var buf bytes.Buffer
	if err := json.NewEncoder(&buf).Encode(v); err != nil {
		http.Error(w, "encoding response", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(buf.Len()))
	_, _ = w.Write(buf.Bytes())
}

// dispatch turns one verified, first-seen interaction into a neutral event
// for h and returns the interaction response. HTTP and Gateway mode share
// it. answered is closed once the response was delivered; follow-ups wait
// for it.
func (a *Adapter) dispatch(ctx context.Context, h bot.Handler, i *discordgo.Interaction, answered <-chan struct{}) *discordgo.InteractionResponse {
	log := a.log.With("interaction_id", i.ID, "type", int(i.Type))
	if i.GuildID == "" || i.Member == nil || i.Member.User == nil {
		if i.GuildID != "" && i.GuildID != a.cfg.GuildID {
			return ephemeral(textWrongGuild)
		}
		return ephemeral(textNoDM)
	}
	if i.GuildID != a.cfg.GuildID {
		log.WarnContext(ctx, "discord interaction from another guild", "guild_id", i.GuildID)
		return ephemeral(textWrongGuild)
	}
	u := user(i.Member)
	var resp bot.Response
	switch i.Type {
	case discordgo.InteractionApplicationCommand:
		if len(a.cfg.Channels) > 0 && !slices.Contains(a.cfg.Channels, i.ChannelID) {
			return ephemeral(textChannel)
		}
		d := i.ApplicationCommandData()
		text, ok := commandText(d)
		if !ok {
			return ephemeral("Countersign does not know the command /" + d.Name + "; ask an admin to run countersign discord register.")
		}
		resp = h.Command(ctx, bot.Command{User: u, Channel: i.ChannelID, Name: d.Name, Text: text,
			Reply: &followups{a: a, interaction: i, answered: answered}})
	case discordgo.InteractionMessageComponent:
		resp = h.Click(ctx, bot.Click{User: u, Message: handleOf(i), Value: i.MessageComponentData().CustomID})
	case discordgo.InteractionModalSubmit:
		d := i.ModalSubmitData()
		resp = h.Submit(ctx, bot.Submit{User: u, Message: handleOf(i), Dialog: d.CustomID, Value: modalValue(d)})
	default:
		return ephemeral(textUnknown)
	}
	if resp.Dialog != nil && i.Type != discordgo.InteractionModalSubmit {
		m, err := modal(*resp.Dialog)
		if err != nil {
			log.ErrorContext(ctx, "discord modal", "err", err)
			return ephemeral(textBroken)
		}
		return m
	}
	if resp.Message == nil {
		if i.Type == discordgo.InteractionMessageComponent {
			return &discordgo.InteractionResponse{Type: discordgo.InteractionResponseDeferredMessageUpdate}
		}
		return ephemeral("Done.")
	}
	if i.Type == discordgo.InteractionMessageComponent {
		// A click is answered as an update of the card (deferred: the bot
		// re-renders the card from the stored state), and what the person
		// needs to know follows privately.
		a.later(ctx, &followups{a: a, interaction: i, answered: answered}, *resp.Message)
		return &discordgo.InteractionResponse{Type: discordgo.InteractionResponseDeferredMessageUpdate}
	}
	data, err := responseData(*resp.Message)
	if err != nil {
		log.ErrorContext(ctx, "discord response", "err", err)
		return ephemeral(textBroken)
	}
	return &discordgo.InteractionResponse{Type: discordgo.InteractionResponseChannelMessageWithSource, Data: data}
}

// laterTimeout bounds a private follow-up sent after the answer.
const laterTimeout = 30 * time.Second

// later sends m through r once the interaction is answered, in the
// background; Wait waits for it.
func (a *Adapter) later(ctx context.Context, r *followups, m chat.Message) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), laterTimeout)
	a.inflight.Add(1)
	go func() {
		defer a.inflight.Done()
		defer cancel()
		if err := r.Respond(ctx, m); err != nil {
			a.log.WarnContext(ctx, "discord private follow-up", "interaction_id", r.interaction.ID, "err", err)
		}
	}()
}

// Wait waits for private follow-ups still being sent.
func (a *Adapter) Wait() { a.inflight.Wait() }

// user is the neutral user behind a guild interaction.
func user(m *discordgo.Member) bot.User {
	name := m.Nick
	if name == "" {
		name = m.User.GlobalName
	}
	if name == "" {
		name = m.User.Username
	}
	return bot.User{Platform: bot.PlatformDiscord, ID: m.User.ID, Name: name, Roles: slices.Clone(m.Roles),
		Restricted: m.User.Bot || m.User.System || m.Pending}
}

// handleOf is the message a component or modal interaction came from.
// Countersign puts buttons on cards only, which are channel messages; a
// thread started from the card has the card's id.
func handleOf(i *discordgo.Interaction) chat.Handle {
	if i.Message == nil {
		return chat.Handle{}
	}
	h := chat.Handle{Platform: bot.PlatformDiscord, Channel: i.ChannelID, ID: i.Message.ID}
	if i.Message.ChannelID != "" {
		h.Channel = i.Message.ChannelID
	}
	if i.Message.Thread != nil {
		h.Thread = i.Message.Thread.ID
	}
	return h
}

// modalValue is the text of the modal's input.
func modalValue(d discordgo.ModalSubmitInteractionData) string {
	for _, c := range d.Components {
		row, ok := c.(*discordgo.ActionsRow)
		if !ok {
			continue
		}
		for _, cc := range row.Components {
			if in, ok := cc.(*discordgo.TextInput); ok && in.CustomID == modalInput {
				return in.Value
			}
		}
	}
	return ""
}

// commandText rebuilds the command line from the typed options, in the
// grammar commands.Parse reads, with the definitions Register sent.
func commandText(d discordgo.ApplicationCommandInteractionData) (string, bool) {
	def, ok := commands.Lookup(d.Name)
	if !ok {
		return "", false
	}
	var words []string
	if o := d.GetOption(argOption(def.Arg.Kind)); o != nil && def.Arg.Kind != commands.ArgNone {
		switch def.Arg.Kind {
		case commands.ArgCommand:
			words = append(words, optionString(o)) // a command line of its own
		default:
			for _, w := range splitList(optionString(o)) {
				words = append(words, commands.Quote(w))
			}
		}
	}
	for _, f := range def.Flags {
		o := d.GetOption(f.Name)
		if o == nil {
			continue
		}
		switch f.Kind {
		case commands.FlagBool:
			if o.Type == discordgo.ApplicationCommandOptionBoolean && o.BoolValue() {
				words = append(words, "--"+f.Name)
			}
		case commands.FlagUser:
			vals := []string{optionString(o)}
			if f.Repeat {
				vals = splitList(vals[0])
			}
			for _, v := range vals {
				words = append(words, "--"+f.Name, commands.Quote(v))
			}
		default:
			words = append(words, "--"+f.Name, commands.Quote(optionString(o)))
		}
	}
	return strings.Join(words, " "), true
}

// optionString is an option's value as text, whatever its type.
func optionString(o *discordgo.ApplicationCommandInteractionDataOption) string {
	switch v := o.Value.(type) {
	case string:
		return v
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64)
	case bool:
		return strconv.FormatBool(v)
	}
	return ""
}

// splitList splits a typed list on white space and commas.
func splitList(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' || r == '\n' || r == '\r' })
}
