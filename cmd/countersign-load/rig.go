package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/countersign/countersign/approvals"
	"github.com/countersign/countersign/bot"
	slackbot "github.com/countersign/countersign/bot/slack"
	"github.com/countersign/countersign/bot/slack/slacktest"
	"github.com/countersign/countersign/internal/bottest"
	"github.com/countersign/countersign/internal/engine"
	"github.com/countersign/countersign/internal/store"
	"github.com/countersign/countersign/providers/tmcas/tmcastest"
)

const secret = "countersign-load-signing-secret"

// tmcasLoad is how the TMCAS fake behaves in a phase.
type tmcasLoad struct {
	perMinute int           // requests per minute, enforced; 0: unlimited
	latency   time.Duration // added to every answer
	polls     int           // polls a batch reports Executing before it finishes
	perCall   int           // items per mitigation call; 0: the client's default
}

// Slack accounts of the load: alice files, bob approves.
const (
	requester = "U01ALICE"
	approver  = "U02BOB"
)

// rig is the bot with the Slack adapter behind a real HTTP server.
type rig struct {
	fake   *slacktest.Server
	sys    *bottest.System
	st     *store.Store
	srv    *httptest.Server
	client *http.Client
	close  func()
}

func newRig(ctx context.Context, log *slog.Logger, dbPath string, fakeLimits slacktest.Limits, limits slackbot.Limits, poll time.Duration, tmcas tmcasLoad) (*rig, error) {
	fake := slacktest.New(fakeLimits)
	fake.AddUser(slacktest.User{ID: requester, Name: "alice", Email: "alice@contoso.com"})
	fake.AddUser(slacktest.User{ID: approver, Name: "bob", Email: "bob@contoso.com"})
	st, err := store.Open(ctx, "sqlite:"+dbPath, store.Options{AuditKey: []byte("countersign-load-audit-key-0123456789")})
	if err != nil {
		fake.Close()
		return nil, err
	}
	if err := st.Migrate(ctx); err != nil {
		fake.Close()
		st.Close()
		return nil, err
	}
	people := []approvals.Person{
		{Name: "alice", Email: "alice@contoso.com", Slack: requester},
		{Name: "bob", Email: "bob@contoso.com", Slack: approver},
	}
	a, err := slackbot.New(slackbot.Config{
		BotToken: slacktest.BotToken, SigningSecret: secret, APIURL: fake.APIURL(),
		Approvers: []string{approver}, People: people, Seen: st, Limits: limits, Logger: log,
	})
	if err != nil {
		fake.Close()
		st.Close()
		return nil, err
	}
	sys, err := bottest.New(ctx, st, bottest.Options{
		Chats:  map[string]bot.Chat{bot.PlatformSlack: a},
		Access: map[string]bot.Access{bot.PlatformSlack: a},
		Logger: log, PollInterval: poll, NotifyInterval: engine.DefaultNotifyInterval, TMCASLimit: tmcas.perMinute,
		TMCASFaults: tmcastest.Faults{Latency: tmcas.latency, ExecutingPolls: tmcas.polls}, MaxItemsPerCall: tmcas.perCall,
	})
	if err != nil {
		fake.Close()
		st.Close()
		return nil, err
	}
	mux := http.NewServeMux()
	a.Mount(mux, sys.Bot)
	srv := httptest.NewServer(mux)
	r := &rig{fake: fake, sys: sys, st: st, srv: srv,
		client: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 256}, Timeout: 10 * time.Second}}
	r.close = func() {
		srv.Close()
		if err := sys.Close(); err != nil {
			fmt.Fprintln(os.Stderr, "stopping:", err)
		}
		a.Wait()
		fake.Close()
		st.Close()
	}
	return r, nil
}

// post sends a signed form to path and returns the status, body and how
// long the acknowledgement took.
func (r *rig) post(path string, form url.Values) (int, string, time.Duration, error) {
	req := slacktest.NewRequest(r.srv.URL+path, secret, time.Now(), form.Encode())
	start := time.Now()
	resp, err := r.client.Do(req)
	if err != nil {
		return 0, "", time.Since(start), err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp.StatusCode, string(body), time.Since(start), err
}

func (r *rig) command(channel, text string) (int, string, time.Duration, error) {
	return r.post("/slack/commands", url.Values{
		"team_id": {slacktest.TeamID}, "channel_id": {channel}, "user_id": {requester},
		"command": {strings.Fields(text)[0]}, "text": {strings.TrimPrefix(text, strings.Fields(text)[0]+" ")},
		"response_url": {r.fake.ResponseURL()}, "trigger_id": {r.fake.Trigger()},
	})
}

var approveValue = regexp.MustCompile(`"value":"(approve:(\d+):[0-9a-f]+)"`)

// card is a posted card awaiting a click.
type card struct {
	channel, ts, value string
	id                 int64
}

// cards returns the cards with an Approve button not yet in seen.
func (r *rig) cards(seen map[string]bool) []card {
	var out []card
	for _, m := range r.fake.Messages("") {
		if m.ThreadTS != "" || seen[m.Channel+"/"+m.TS] {
			continue
		}
		mm := approveValue.FindStringSubmatch(string(m.Blocks))
		if mm == nil {
			continue
		}
		seen[m.Channel+"/"+m.TS] = true
		id, _ := strconv.ParseInt(mm[2], 10, 64)
		out = append(out, card{channel: m.Channel, ts: m.TS, value: mm[1], id: id})
	}
	return out
}

func (r *rig) approve(c card) (int, string, time.Duration, error) {
	payload := fmt.Sprintf(`{"type":"block_actions","user":{"id":%q},"trigger_id":%q,"response_url":%q,`+
		`"container":{"type":"message","channel_id":%q,"message_ts":%q},`+
		`"actions":[{"type":"button","block_id":"b","action_id":"countersign-0","value":%q}]}`,
		approver, r.fake.Trigger(), r.fake.ResponseURL(), c.channel, c.ts, c.value)
	return r.post("/slack/interactions", url.Values{"payload": {payload}})
}

// waitFinal waits until no request is pending, approved or running.
func (r *rig) waitFinal(ctx context.Context, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		counts, err := r.st.CountByState(ctx)
		if err != nil {
			return err
		}
		var open int64
		for _, c := range counts {
			if !c.State.Terminal() {
				open += c.N
			}
		}
		if open == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%d requests still open after %s", open, timeout)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// percentiles of ds: p50, p90, p99, max.
func percentiles(ds []time.Duration) [4]time.Duration {
	if len(ds) == 0 {
		return [4]time.Duration{}
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	at := func(p float64) time.Duration { return s[min(len(s)-1, int(p*float64(len(s))))] }
	return [4]time.Duration{at(0.50), at(0.90), at(0.99), s[len(s)-1]}
}

func fmtP(p [4]time.Duration) string {
	r := func(d time.Duration) string { return d.Round(10 * time.Microsecond).String() }
	return fmt.Sprintf("p50 %s  p90 %s  p99 %s  max %s", r(p[0]), r(p[1]), r(p[2]), r(p[3]))
}

// memSampler records the process's peak heap and memory obtained from the
// OS. It covers the bot and the in-process fakes and load generator.
type memSampler struct {
	mu       sync.Mutex
	peakHeap uint64
	peakSys  uint64
}

func startMemSampler() *memSampler {
	m := &memSampler{}
	go func() {
		var ms runtime.MemStats
		for {
			runtime.ReadMemStats(&ms)
			m.mu.Lock()
			m.peakHeap = max(m.peakHeap, ms.HeapInuse)
			m.peakSys = max(m.peakSys, ms.Sys)
			m.mu.Unlock()
			time.Sleep(250 * time.Millisecond)
		}
	}()
	return m
}

func (m *memSampler) print(w io.Writer) {
	m.mu.Lock()
	defer m.mu.Unlock()
	hwm := "n/a"
	if b, err := os.ReadFile("/proc/self/status"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(l, "VmHWM:") {
				hwm = strings.TrimSpace(strings.TrimPrefix(l, "VmHWM:"))
			}
		}
	}
	fmt.Fprintf(w, "memory (bot + fakes + load generator, one process): peak heap in use %.1f MiB, peak Go runtime %.1f MiB, peak RSS %s\n",
		float64(m.peakHeap)/(1<<20), float64(m.peakSys)/(1<<20), hwm)
}
