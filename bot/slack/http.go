package slackbot

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/slack-go/slack"

	"github.com/countersign/countersign/bot"
)

// Verification limits (chat.md §8).
const (
	window     = 5 * time.Minute // accepted clock difference
	replayTTL  = 2 * window      // how long a signature is remembered
	maxBody    = 1 << 20
	sigVersion = "v0"
)

// Verification errors; all are answered 401.
var (
	errMissing   = errors.New("missing signature headers")
	errStale     = errors.New("timestamp outside the 5-minute window")
	errSignature = errors.New("signature does not match")
	errReplayed  = errors.New("request already seen")
	errQuery     = errors.New("query parameters are not signed")
	// errForm is a signed body that is not a form: 400.
	errForm = errors.New("the body is not a form")
)

// Signature returns the v0 signature Slack sends for body at ts.
func Signature(secret, ts string, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(sigVersion + ":" + ts + ":"))
	mac.Write(body)
	return sigVersion + "=" + hex.EncodeToString(mac.Sum(nil))
}

// verify checks a request's signature and freshness over the raw body,
// refuses replays, and returns the form the body encodes. Nothing but the
// signature of a valid request is stored.
func (a *Adapter) verify(r *http.Request, body []byte) (url.Values, error) {
	if r.URL.RawQuery != "" {
		// The signature covers the body only; anything in the query could be
		// smuggled into a validly signed request.
		return nil, errQuery
	}
	ts, sig := r.Header.Get("X-Slack-Request-Timestamp"), r.Header.Get("X-Slack-Signature")
	if ts == "" || sig == "" {
		return nil, errMissing
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return nil, errStale
	}
	now := a.cfg.Now().Unix()
	if d := now - sec; d > int64(window/time.Second) || d < -int64(window/time.Second) {
		return nil, errStale
	}
	if !hmac.Equal([]byte(Signature(a.cfg.SigningSecret, ts, body)), []byte(sig)) {
		return nil, errSignature
	}
	first, err := a.cfg.Seen.FirstSeen(r.Context(), "slack:sig:"+sig, replayTTL, a.cfg.Now())
	if err != nil {
		return nil, fmt.Errorf("checking for replay: %w", err)
	}
	if !first {
		return nil, errReplayed
	}
	form, err := url.ParseQuery(string(body))
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errForm, err)
	}
	return form, nil
}

// Mount adds /slack/commands and /slack/interactions to mux.
func (a *Adapter) Mount(mux *http.ServeMux, h bot.Handler) {
	mux.Handle("POST /slack/commands", a.Commands(h))
	mux.Handle("POST /slack/interactions", a.Interactions(h))
}

// read reads and verifies a request, answering it when it fails.
func (a *Adapter) read(w http.ResponseWriter, r *http.Request) (url.Values, bool) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			http.Error(w, "request body too large", http.StatusRequestEntityTooLarge)
		} else {
			http.Error(w, "could not read the request body", http.StatusBadRequest)
		}
		return nil, false
	}
	form, err := a.verify(r, body)
	switch {
	case err == nil:
		return form, true
	case errors.Is(err, errMissing), errors.Is(err, errStale), errors.Is(err, errSignature),
		errors.Is(err, errReplayed), errors.Is(err, errQuery):
		a.log.WarnContext(r.Context(), "refused a Slack request", "path", r.URL.Path, "reason", err.Error())
		http.Error(w, "unauthorized", http.StatusUnauthorized)
	case errors.Is(err, errForm):
		http.Error(w, "the body is not a form", http.StatusBadRequest)
	default:
		a.log.ErrorContext(r.Context(), "verifying a Slack request", "path", r.URL.Path, "err", err)
		http.Error(w, "could not verify the request", http.StatusServiceUnavailable)
	}
	return nil, false
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	if v == nil {
		w.WriteHeader(http.StatusOK)
		return
	}
	_ = json.NewEncoder(w).Encode(v)
}

// Commands is the HTTP handler of slash commands.
func (a *Adapter) Commands(h bot.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		form, ok := a.read(w, r)
		if !ok {
			return
		}
		if form.Get("ssl_check") == "1" {
			w.WriteHeader(http.StatusOK)
			return
		}
		sc := slack.SlashCommand{
			TeamID: form.Get("team_id"), EnterpriseID: form.Get("enterprise_id"),
			ChannelID: form.Get("channel_id"), UserID: form.Get("user_id"),
			Command: form.Get("command"), Text: form.Get("text"),
			ResponseURL: form.Get("response_url"), TriggerID: form.Get("trigger_id"), APIAppID: form.Get("api_app_id"),
		}
		if sc.UserID == "" || sc.Command == "" {
			http.Error(w, "not a slash command", http.StatusBadRequest)
			return
		}
		if m := a.command(r.Context(), h, sc); m != nil {
			writeJSON(w, m)
			return
		}
		w.WriteHeader(http.StatusOK)
	})
}

// Interactions is the HTTP handler of button clicks and modal submissions.
func (a *Adapter) Interactions(h bot.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		form, ok := a.read(w, r)
		if !ok {
			return
		}
		var cb slack.InteractionCallback
		if err := json.Unmarshal([]byte(form.Get("payload")), &cb); err != nil || cb.User.ID == "" {
			http.Error(w, "not an interaction payload", http.StatusBadRequest)
			return
		}
		// Slack shows an error unless it gets 200 within three seconds; the
		// work after the click continues in the background.
		writeJSON(w, a.interaction(r.Context(), h, cb))
	})
}

// Run serves Socket Mode when an app token is configured; in HTTP mode it
// returns at once.
func (a *Adapter) Run(ctx context.Context, h bot.Handler) error {
	if !a.SocketMode() {
		return nil
	}
	return a.runSocket(ctx, h)
}
