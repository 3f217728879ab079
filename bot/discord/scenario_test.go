package discord_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bwmarrin/discordgo"

	"github.com/countersign/countersign/approvals"
	"github.com/countersign/countersign/bot"
	"github.com/countersign/countersign/bot/adaptertest"
	"github.com/countersign/countersign/bot/discord"
	"github.com/countersign/countersign/bot/discord/discordtest"
	"github.com/countersign/countersign/internal/bottest"
	"github.com/countersign/countersign/internal/changes"
)

const (
	token       = "discord-scenario-bot-token"
	appID       = "1000000000000000001"
	guildID     = "900000000000000001"
	channelID   = "900000000000000002"
	approverRol = "900000000000000010"
)

// discordIDs are the scenario people's Discord accounts; bob and carol
// hold the approver role, eve is not in people:.
var discordIDs = map[string]string{
	"alice": "4001", "bob": "4002", "carol": "4003", "dave": "4004", "eve": "4005",
}

func member(person string) discordtest.User {
	u := discordtest.User{ID: discordIDs[person], Name: person}
	if person == "bob" || person == "carol" {
		u.Roles = []string{approverRol}
	}
	return u
}

// driver plays the scenario people on Discord: signed interactions posted
// to the adapter's endpoint, or dispatched over the fake Gateway.
type driver struct {
	fake    *discordtest.Server
	signer  *discordtest.Signer
	url     string // HTTP mode; "" for the Gateway
	adapter *discord.Adapter

	mu      sync.Mutex
	sent    map[string][]*discordtest.Interaction // person → interactions
	modal   map[string][3]string                  // person → message id, custom id, input id
	cards   map[int64]string                      // request id → message id
	cardIDs []int64
}

func (d *driver) deliver(t testing.TB, person string, in *discordtest.Interaction) *discordtest.Response {
	t.Helper()
	d.mu.Lock()
	d.sent[person] = append(d.sent[person], in)
	d.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if d.url == "" {
		if err := d.fake.Dispatch(in); err != nil {
			t.Fatal(err)
		}
		r, err := d.fake.WaitAnswer(ctx, in)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	res, err := d.fake.Deliver(ctx, http.DefaultClient, d.url, d.signer, in, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != http.StatusOK {
		t.Fatalf("interaction answered %d: %s", res.Status, res.Body)
	}
	return res.Response
}

// text is what a person sees of a response: a message's text, or ""
// for a modal or a deferred update.
func text(r *discordtest.Response) string {
	if r == nil || r.Data == nil || r.Type == 9 {
		return ""
	}
	return r.Data.PlainText()
}

// options turns a command line into the typed options the registered
// command has: the positional arguments into its first option, --flag
// value pairs into string options and bare --flags into booleans.
func (d *driver) options(t testing.TB, name string, args []string) []discordtest.Option {
	t.Helper()
	var def *discordgoCommand
	for _, c := range commandDefs() {
		if c.Name == name {
			def = &c
		}
	}
	if def == nil {
		t.Fatalf("no registered command %q", name)
	}
	var opts []discordtest.Option
	var positional []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		if !strings.HasPrefix(a, "--") {
			positional = append(positional, a)
			continue
		}
		flag := strings.TrimPrefix(a, "--")
		if def.Bool[flag] {
			opts = append(opts, discordtest.Bool(flag, true))
			continue
		}
		if i+1 < len(args) {
			opts = append(opts, discordtest.String(flag, args[i+1]))
			i++
		}
	}
	if len(positional) > 0 {
		opts = append([]discordtest.Option{discordtest.String(def.First, strings.Join(positional, " "))}, opts...)
	}
	return opts
}

func (d *driver) Command(t testing.TB, person, line string) string {
	t.Helper()
	fields := strings.Fields(line)
	name := strings.TrimPrefix(fields[0], "/")
	in := d.fake.NewCommand(member(person), discordtest.Where{Channel: channelID}, name, d.options(t, name, fields[1:])...)
	return text(d.deliver(t, person, in))
}

// Changes is the fake's: every Discord call and Gateway change.
func (d *driver) Changes() *changes.Signal { return &d.fake.Signal }

func (d *driver) LastCard(t testing.TB) int64 {
	t.Helper()
	for _, m := range d.fake.Messages(channelID) {
		for _, b := range m.Buttons() {
			parts := strings.Split(b.CustomID, ":")
			if len(parts) != 3 || parts[0] != "approve" {
				continue
			}
			id, err := strconv.ParseInt(parts[1], 10, 64)
			if err != nil {
				continue
			}
			d.mu.Lock()
			if _, ok := d.cards[id]; !ok {
				d.cards[id] = m.ID
				d.cardIDs = append(d.cardIDs, id)
			}
			d.mu.Unlock()
		}
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if len(d.cardIDs) == 0 {
		return 0
	}
	return d.cardIDs[len(d.cardIDs)-1]
}

func (d *driver) card(t testing.TB, id int64) *discordtest.Message {
	t.Helper()
	d.LastCard(t)
	d.mu.Lock()
	mid, ok := d.cards[id]
	d.mu.Unlock()
	if !ok {
		t.Fatalf("no card for request %d", id)
	}
	m, ok := d.fake.Message(mid)
	if !ok {
		t.Fatalf("card %s vanished", mid)
	}
	return m
}

func (d *driver) Card(t testing.TB, id int64) (string, []string) {
	t.Helper()
	m := d.card(t, id)
	var labels []string
	for _, b := range m.Buttons() {
		labels = append(labels, b.Label)
	}
	return m.PlainText(), labels
}

func (d *driver) Thread(t testing.TB, id int64) []string {
	t.Helper()
	m := d.card(t, id)
	if m.Thread == "" {
		return nil
	}
	_, msgs, ok := d.fake.Thread(m.Thread)
	if !ok {
		t.Fatalf("thread %s of card %s is gone", m.Thread, m.ID)
	}
	var out []string
	for _, r := range msgs {
		out = append(out, r.PlainText())
	}
	return out
}

func (d *driver) Press(t testing.TB, person string, id int64, label string) string {
	t.Helper()
	m := d.card(t, id)
	custom := fmt.Sprintf("%s:%d:000000000000", strings.ToLower(label), id) // a stale client's button
	if b, ok := m.Button(label); ok {
		custom = b.CustomID
	}
	r := d.deliver(t, person, d.fake.NewClick(member(person), m.ID, custom))
	if r != nil && r.Type == 9 {
		input := r.Data.Components[0].Components[0]
		d.mu.Lock()
		d.modal[person] = [3]string{m.ID, r.CustomID, input.CustomID}
		d.mu.Unlock()
	}
	return text(r)
}

func (d *driver) Submit(t testing.TB, person, value string) string {
	t.Helper()
	d.mu.Lock()
	modal, ok := d.modal[person]
	d.mu.Unlock()
	if !ok {
		t.Fatalf("%s has no open modal", person)
	}
	return text(d.deliver(t, person, d.fake.NewSubmit(member(person), modal[0], modal[1], modal[2], value)))
}

func (d *driver) Private(t testing.TB, person string) []string {
	t.Helper()
	d.mu.Lock()
	sent := append([]*discordtest.Interaction(nil), d.sent[person]...)
	d.mu.Unlock()
	var out []string
	for _, in := range sent {
		for _, m := range d.fake.Followups(in) {
			out = append(out, m.PlainText())
		}
	}
	return out
}

var _ bottest.Driver = (*driver)(nil)

// start runs the real bot with the Discord adapter; gateway selects the
// Gateway instead of the HTTP endpoint.
func start(t *testing.T, gateway bool) (*driver, *bottest.System) {
	t.Helper()
	fake := discordtest.New(t, discordtest.Options{Token: token, AppID: appID, GuildID: guildID, Channels: []string{channelID}})
	for p := range discordIDs {
		fake.AddMember(member(p))
	}
	signer := discordtest.NewSigner()
	var ppl []approvals.Person
	for _, p := range bottest.People {
		p.Discord = discordIDs[p.Name]
		ppl = append(ppl, p)
	}
	cfg := discord.Config{
		BotToken: token, ApplicationID: appID, GuildID: guildID, APIURL: fake.APIURL(),
		Channels: []string{channelID}, ApproverRoles: []string{approverRol}, People: ppl,
	}
	if !gateway {
		cfg.PublicKey = signer.PublicKey()
	}
	st := bottest.OpenStore(t)
	cfg.Seen = st
	a, err := discord.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	sys := bottest.Start(t, st, bottest.Options{
		Chats: map[string]bot.Chat{bot.PlatformDiscord: a}, Access: map[string]bot.Access{bot.PlatformDiscord: a},
	})
	t.Cleanup(a.Wait)
	d := &driver{fake: fake, signer: signer, adapter: a,
		sent: map[string][]*discordtest.Interaction{}, modal: map[string][3]string{}, cards: map[int64]string{}}
	if gateway {
		adaptertest.Run(t, a, sys.Bot)
		wctx, wcancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer wcancel()
		if err := fake.WaitConnected(wctx); err != nil {
			t.Fatal(err)
		}
		return d, sys
	}
	mux := http.NewServeMux()
	mux.Handle("POST /discord/interactions", a.Interactions(sys.Bot))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	d.url = srv.URL + "/discord/interactions"
	return d, sys
}

func TestScenariosHTTP(t *testing.T) {
	for _, sc := range bottest.Scenarios {
		t.Run(sc.Name, func(t *testing.T) {
			d, sys := start(t, false)
			sc.Run(t, d, sys)
		})
	}
}

func TestScenariosGateway(t *testing.T) {
	for _, sc := range bottest.Scenarios {
		t.Run(sc.Name, func(t *testing.T) {
			d, sys := start(t, true)
			sc.Run(t, d, sys)
		})
	}
}

// discordgoCommand is what the driver needs of a registered command.
type discordgoCommand struct {
	Name  string
	First string          // the option that takes the positional arguments
	Bool  map[string]bool // boolean options
}

func commandDefs() []discordgoCommand {
	var out []discordgoCommand
	for _, c := range discord.Commands() {
		d := discordgoCommand{Name: c.Name, Bool: map[string]bool{}}
		for i, o := range c.Options {
			if o.Type == discordgo.ApplicationCommandOptionBoolean {
				d.Bool[o.Name] = true
			}
			if i == 0 && o.Required {
				d.First = o.Name
			}
		}
		out = append(out, d)
	}
	return out
}
