package slackbot_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/countersign/countersign/approvals"
	"github.com/countersign/countersign/bot"
	slackbot "github.com/countersign/countersign/bot/slack"
	"github.com/countersign/countersign/bot/slack/slacktest"
	"github.com/countersign/countersign/internal/bottest"
	"github.com/countersign/countersign/internal/changes"
)

const (
	secret  = "8f742231b10e8888abcd99yyyzzz85a5"
	channel = "C0SOC"
)

// slackIDs are the scenario people's Slack accounts. Alice is mapped to
// her person by e-mail, the others by id; eve is not in people:.
var slackIDs = map[string]string{
	"alice": "U01ALICE", "bob": "U02BOB", "carol": "U03CAROL", "dave": "U04DAVE", "eve": "U05EVE",
}

// people returns the scenario people with Slack ids (alice by e-mail only).
func people() []approvals.Person {
	var out []approvals.Person
	for _, p := range bottest.People {
		if p.Name != "alice" {
			p.Slack = slackIDs[p.Name]
		}
		out = append(out, p)
	}
	return out
}

// driver plays the scenario people on Slack: signed HTTP requests to the
// adapter, or envelopes over the fake's Socket Mode connection.
type driver struct {
	fake   *slacktest.Server
	srv    *httptest.Server // HTTP mode; nil in Socket Mode
	socket bool

	mu       sync.Mutex
	urls     map[string]string // response_url → person
	triggers map[string]string // person → trigger of the last press
	cards    map[string]int64  // card ts → request id
}

func newDriver(fake *slacktest.Server) *driver {
	for name, id := range slackIDs {
		fake.AddUser(slacktest.User{ID: id, Name: name, Email: name + "@contoso.com"})
	}
	fake.SetGroup("S0LEADS", slackIDs["bob"], slackIDs["carol"])
	return &driver{fake: fake, urls: map[string]string{}, triggers: map[string]string{}, cards: map[string]int64{}}
}

func (d *driver) responseURL(person string) string {
	u := d.fake.ResponseURL()
	d.mu.Lock()
	d.urls[u] = person
	d.mu.Unlock()
	return u
}

// post sends a signed form to path and returns the response body.
func (d *driver) post(t testing.TB, path string, form url.Values) string {
	t.Helper()
	req := slacktest.NewRequest(d.srv.URL+path, secret, time.Now(), form.Encode())
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("POST %s: %s %s", path, resp.Status, body)
	}
	return string(body)
}

// send delivers a Socket Mode envelope and returns the ack payload.
func (d *driver) send(t testing.TB, typ string, payload any) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ack, err := d.fake.Send(ctx, typ, payload)
	if err != nil {
		t.Fatal(err)
	}
	if len(ack) == 0 || string(ack) == "null" {
		return ""
	}
	return string(ack)
}

func (d *driver) Command(t testing.TB, person, line string) string {
	t.Helper()
	name, text, _ := strings.Cut(line, " ")
	f := url.Values{
		"token": {"ignored"}, "team_id": {slacktest.TeamID}, "channel_id": {channel}, "channel_name": {"soc"},
		"user_id": {slackIDs[person]}, "user_name": {person}, "command": {name}, "text": {text},
		"response_url": {d.responseURL(person)}, "trigger_id": {d.fake.Trigger()}, "api_app_id": {"A0APP"},
	}
	var body string
	if d.socket {
		payload := map[string]string{}
		for k := range f {
			payload[k] = f.Get(k)
		}
		body = d.send(t, "slash_commands", payload)
	} else {
		body = d.post(t, "/slack/commands", f)
	}
	if body == "" {
		return ""
	}
	return visible(t, []byte(body))
}

// visible returns the text a person sees in a message JSON: the blocks'
// texts (fields, contexts) or else the fallback text.
func visible(t testing.TB, raw []byte) string {
	t.Helper()
	var m struct {
		Text   string          `json:"text"`
		Blocks json.RawMessage `json:"blocks"`
	}
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatalf("decoding %s: %v", raw, err)
	}
	if len(m.Blocks) == 0 {
		return m.Text
	}
	text, _ := blockText(t, m.Blocks)
	return text
}

type button struct {
	Label, Value, ActionID, BlockID string
}

// blockText returns the visible text of blocks and their buttons.
func blockText(t testing.TB, raw json.RawMessage) (string, []button) {
	t.Helper()
	var blocks []struct {
		Type     string `json:"type"`
		BlockID  string `json:"block_id"`
		Text     *struct{ Text string }
		Fields   []struct{ Text string }
		Elements []struct {
			Type     string `json:"type"`
			Text     json.RawMessage
			Value    string `json:"value"`
			ActionID string `json:"action_id"`
		}
	}
	if err := json.Unmarshal(raw, &blocks); err != nil {
		t.Fatalf("decoding blocks %s: %v", raw, err)
	}
	var b strings.Builder
	var buttons []button
	for _, bl := range blocks {
		if bl.Text != nil {
			b.WriteString(bl.Text.Text + "\n")
		}
		for _, f := range bl.Fields {
			b.WriteString(f.Text + "\n")
		}
		for _, e := range bl.Elements {
			var txt struct{ Text string }
			if e.Type == "button" {
				_ = json.Unmarshal(e.Text, &txt)
				buttons = append(buttons, button{Label: txt.Text, Value: e.Value, ActionID: e.ActionID, BlockID: bl.BlockID})
				continue
			}
			// context elements are text objects themselves
			var s string
			_ = json.Unmarshal(e.Text, &s)
			b.WriteString(s + "\n")
		}
	}
	return b.String(), buttons
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

// requestOf returns the request id a card's buttons carry ("approve:ID:hash").
func requestOf(buttons []button) int64 {
	for _, b := range buttons {
		parts := strings.Split(b.Value, ":")
		if len(parts) == 3 {
			if id, err := strconv.ParseInt(parts[1], 10, 64); err == nil {
				return id
			}
		}
	}
	return 0
}

// card returns the top-level message of request id.
func (d *driver) card(t testing.TB, id int64) slacktest.Message {
	t.Helper()
	d.LastCard(t) // learn new cards
	d.mu.Lock()
	defer d.mu.Unlock()
	for ts, rid := range d.cards {
		if rid == id {
			m, ok := d.fake.Message(channel, ts)
			if !ok {
				t.Fatalf("card %s of request %d vanished", ts, id)
			}
			return m
		}
	}
	t.Fatalf("no card for request %d", id)
	return slacktest.Message{}
}

func (d *driver) LastCard(t testing.TB) int64 {
	t.Helper()
	var last int64
	for _, m := range d.fake.Messages(channel) {
		if m.ThreadTS != "" {
			continue
		}
		d.mu.Lock()
		id, known := d.cards[m.TS]
		d.mu.Unlock()
		if !known {
			_, buttons := blockText(t, m.Blocks)
			id = requestOf(buttons)
			if id == 0 {
				continue
			}
			d.mu.Lock()
			d.cards[m.TS] = id
			d.mu.Unlock()
		}
		last = id
	}
	return last
}

func (d *driver) Card(t testing.TB, id int64) (string, []string) {
	t.Helper()
	m := d.card(t, id)
	text, buttons := blockText(t, m.Blocks)
	var labels []string
	for _, b := range buttons {
		labels = append(labels, b.Label)
	}
	return text, labels
}

func (d *driver) Thread(t testing.TB, id int64) []string {
	t.Helper()
	parent := d.card(t, id)
	var out []string
	for _, m := range d.fake.Messages(channel) {
		if m.ThreadTS == parent.TS {
			text, _ := blockText(t, m.Blocks)
			out = append(out, text)
		}
	}
	return out
}

func (d *driver) Press(t testing.TB, person string, id int64, label string) string {
	t.Helper()
	m := d.card(t, id)
	_, buttons := blockText(t, m.Blocks)
	var btn *button
	for i := range buttons {
		if buttons[i].Label == label {
			btn = &buttons[i]
		}
	}
	if btn == nil {
		// The card has no such button any more: press the one a stale
		// client still shows, with the value it had.
		btn = &button{Label: label, Value: fmt.Sprintf("%s:%d:000000000000", strings.ToLower(label), id), ActionID: "countersign-0"}
	}
	trigger := d.fake.Trigger()
	d.mu.Lock()
	d.triggers[person] = trigger
	d.mu.Unlock()
	payload := map[string]any{
		"type": "block_actions", "api_app_id": "A0APP",
		"team":       map[string]any{"id": slacktest.TeamID},
		"user":       map[string]any{"id": slackIDs[person], "username": person, "team_id": slacktest.TeamID},
		"channel":    map[string]any{"id": channel},
		"container":  map[string]any{"type": "message", "message_ts": m.TS, "channel_id": channel, "is_ephemeral": false},
		"message":    map[string]any{"ts": m.TS},
		"trigger_id": trigger, "response_url": d.responseURL(person),
		"actions": []map[string]any{{"type": "button", "action_id": btn.ActionID, "block_id": btn.BlockID,
			"value": btn.Value, "action_ts": "1700000005.123456", "text": map[string]any{"type": "plain_text", "text": label}}},
	}
	return d.interact(t, payload)
}

func (d *driver) interact(t testing.TB, payload map[string]any) string {
	t.Helper()
	if d.socket {
		return d.send(t, "interactive", payload)
	}
	body := d.post(t, "/slack/interactions", url.Values{"payload": {string(mustJSON(payload))}})
	if body == "" || body == "null\n" {
		return ""
	}
	return body
}

func (d *driver) Submit(t testing.TB, person, value string) string {
	t.Helper()
	d.mu.Lock()
	trigger := d.triggers[person]
	d.mu.Unlock()
	var view json.RawMessage
	for _, v := range d.fake.Views() {
		if v.Trigger == trigger {
			view = v.View
		}
	}
	if view == nil {
		t.Fatalf("%s's last press opened no modal", person)
	}
	var v struct {
		CallbackID      string `json:"callback_id"`
		PrivateMetadata string `json:"private_metadata"`
		Blocks          []struct {
			BlockID string `json:"block_id"`
			Element struct {
				ActionID string `json:"action_id"`
			} `json:"element"`
		} `json:"blocks"`
	}
	if err := json.Unmarshal(view, &v); err != nil {
		t.Fatal(err)
	}
	values := map[string]any{}
	for _, b := range v.Blocks {
		values[b.BlockID] = map[string]any{b.Element.ActionID: map[string]any{"type": "plain_text_input", "value": value}}
	}
	payload := map[string]any{
		"type": "view_submission", "api_app_id": "A0APP",
		"team": map[string]any{"id": slacktest.TeamID},
		"user": map[string]any{"id": slackIDs[person], "username": person, "team_id": slacktest.TeamID},
		"view": map[string]any{"id": "V1", "type": "modal", "callback_id": v.CallbackID, "private_metadata": v.PrivateMetadata,
			"state": map[string]any{"values": values}},
	}
	got := d.interact(t, payload)
	if got != "" && got != "{}" {
		t.Fatalf("view submission answered %s; the modal should just close", got)
	}
	return ""
}

func (d *driver) Private(t testing.TB, person string) []string {
	t.Helper()
	var out []string
	for _, e := range d.fake.Ephemerals() {
		d.mu.Lock()
		who := d.urls[e.URL]
		d.mu.Unlock()
		if who == person || (e.User != "" && e.User == slackIDs[person]) {
			if len(e.Blocks) > 0 {
				text, _ := blockText(t, e.Blocks)
				out = append(out, text)
			} else {
				out = append(out, e.Text)
			}
		}
	}
	return out
}

// Changes is the fake's: every Slack call and response_url post.
func (d *driver) Changes() *changes.Signal { return &d.fake.Signal }

// compile-time check that the driver plays the scenarios.
var _ bottest.Driver = (*driver)(nil)

// newAdapter builds an adapter against fake for the scenarios.
// serve mounts a's endpoints with h on a test server that is closed when
// the test ends.
func serve(t testing.TB, a *slackbot.Adapter, h bot.Handler) *httptest.Server {
	mux := http.NewServeMux()
	a.Mount(mux, h)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

func newAdapter(t testing.TB, fake *slacktest.Server, seen slackbot.Seen, appToken string) *slackbot.Adapter {
	t.Helper()
	cfg := slackbot.Config{
		BotToken: slacktest.BotToken, SigningSecret: secret, AppToken: appToken, APIURL: fake.APIURL(),
		Channels: []string{channel}, Approvers: []string{"S0LEADS"},
		People: people(), Seen: seen,
	}
	a, err := slackbot.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return a
}
