package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/countersign/countersign/approvals"
	slackbot "github.com/countersign/countersign/bot/slack"
	"github.com/countersign/countersign/bot/slack/slacktest"
	"github.com/countersign/countersign/providers/tmcas/tmcastest"
)

// slackMethods are the Web API methods the report counts.
var slackMethods = []string{"chat.postMessage", "chat.update", "chat.postEphemeral", "views.open", "users.info"}

type ackReport struct {
	rate               float64
	duration           time.Duration
	commands, clicks   []time.Duration
	errors             int64
	firstErr           string
	filed              int
	finalWait          time.Duration
	toDone, approvedTo [4]time.Duration
	calls, limited     map[string]int
	responses          int
}

// runAck sends slash commands at rate for duration, each filing a request,
// while an approver clicks Approve on every card as soon as it is posted.
func runAck(ctx context.Context, log *slog.Logger, db string, rate float64, duration time.Duration, channels int) (*ackReport, error) {
	r, err := newRig(ctx, log, db,
		slacktest.Limits{PostPerChannel: 1, PostBurst: 3},
		slackbot.Limits{PostPerChannel: slackbot.SlackLimits.PostPerChannel, PostBurst: slackbot.SlackLimits.PostBurst}, 200*time.Millisecond, tmcasLoad{})
	if err != nil {
		return nil, err
	}
	defer r.close()
	n := int(rate*duration.Seconds()) + 1
	for i := range n {
		r.sys.TMCAS.AddAccount(fmt.Sprintf("user%05d@contoso.com", i))
	}
	rep := &ackReport{rate: rate, duration: duration}
	var mu sync.Mutex
	var wg sync.WaitGroup
	var errs atomic.Int64
	fail := func(msg string) {
		if errs.Add(1) == 1 {
			mu.Lock()
			rep.firstErr = msg
			mu.Unlock()
		}
	}
	seen := map[string]bool{}
	click := func(c card) {
		defer wg.Done()
		code, _, d, err := r.approve(c)
		if err != nil || code != http.StatusOK {
			fail(fmt.Sprintf("click: %d %v", code, err))
			return
		}
		mu.Lock()
		rep.clicks = append(rep.clicks, d)
		mu.Unlock()
	}
	// An approver clicks Approve on every card as soon as it appears,
	// on top of the commands' rate.
	stopClicks := make(chan struct{})
	clicksDone := make(chan struct{})
	go func() {
		defer close(clicksDone)
		t := time.NewTicker(20 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-stopClicks:
				return
			case <-t.C:
				for _, c := range r.cards(seen) {
					wg.Add(1)
					go click(c)
				}
			}
		}
	}()
	tick := time.NewTicker(time.Duration(float64(time.Second) / rate))
	defer tick.Stop()
	end := time.Now().Add(duration)
	filed := 0
	for now := range tick.C {
		if now.After(end) {
			break
		}
		i := filed
		filed++
		wg.Add(1)
		go func() {
			defer wg.Done()
			text := fmt.Sprintf("/disable user%05d@contoso.com --reason load-test", i)
			code, body, d, err := r.command(fmt.Sprintf("C0LOAD%04d", i%channels), text)
			if err != nil || code != http.StatusOK || !strings.Contains(body, "Looking up") {
				fail(fmt.Sprintf("command: %d %v %s", code, err, body))
				return
			}
			mu.Lock()
			rep.commands = append(rep.commands, d)
			mu.Unlock()
		}()
	}
	close(stopClicks)
	<-clicksDone
	wg.Wait()
	rep.errors = errs.Load()
	rep.filed = filed
	// Approve what is left, then wait for every request to finish.
	start := time.Now()
	for time.Since(start) < 2*time.Minute {
		for _, c := range r.cards(seen) {
			wg.Add(1)
			click(c)
		}
		reqs, err := r.st.List(ctx, approvals.Filter{States: []approvals.State{approvals.StatePending}})
		if err != nil {
			return nil, err
		}
		if len(reqs) == 0 {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err := r.waitFinal(ctx, 3*time.Minute); err != nil {
		return nil, err
	}
	rep.finalWait = time.Since(start)
	rep.errors = errs.Load()
	reqs, err := r.st.List(ctx, approvals.Filter{})
	if err != nil {
		return nil, err
	}
	var toDone, approvedTo []time.Duration
	for _, q := range reqs {
		if q.FinishedAt.IsZero() {
			continue
		}
		toDone = append(toDone, q.FinishedAt.Sub(q.CreatedAt))
		approvedTo = append(approvedTo, q.FinishedAt.Sub(q.ApprovedAt))
	}
	rep.toDone, rep.approvedTo = percentiles(toDone), percentiles(approvedTo)
	rep.calls, rep.limited = map[string]int{}, map[string]int{}
	for _, m := range slackMethods {
		rep.calls[m] = r.fake.Calls(m)
		rep.limited[m] = r.fake.RateLimited(m)
	}
	for _, e := range r.fake.Ephemerals() {
		if e.URL != "" {
			rep.responses++
		}
	}
	return rep, nil
}

func (rep *ackReport) print(w io.Writer) {
	fmt.Fprintf(w, "ack phase: %.0f commands/s for %s, plus an Approve click per card: %d commands, %d clicks, %d errors", rep.rate, rep.duration, len(rep.commands), len(rep.clicks), rep.errors)
	if rep.firstErr != "" {
		fmt.Fprintf(w, " (first: %s)", rep.firstErr)
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "  command ack: %s\n", fmtP(percentiles(rep.commands)))
	fmt.Fprintf(w, "  click ack:   %s\n", fmtP(percentiles(rep.clicks)))
	fmt.Fprintf(w, "  filed → done:    %s\n", fmtP(rep.toDone))
	fmt.Fprintf(w, "  approved → done: %s\n", fmtP(rep.approvedTo))
	fmt.Fprintf(w, "  all %d requests final %s after the last tick\n", rep.filed, rep.finalWait.Round(time.Millisecond))
	fmt.Fprint(w, "  Slack calls:")
	for _, m := range slackMethods {
		fmt.Fprintf(w, " %s %d (429: %d);", m, rep.calls[m], rep.limited[m])
	}
	fmt.Fprintf(w, " response_url %d\n", rep.responses)
}

type batchReport struct {
	mailboxes    int
	duration     time.Duration
	edits        int
	cardEdits    int
	replies      int
	limited      map[string]int
	state        approvals.State
	succeeded    int
	ackCommand   time.Duration
	approveClick time.Duration
}

// runBatch purges one message from mailboxes mailboxes with every Slack
// limit enforced and counts the progress edits.
func runBatch(ctx context.Context, log *slog.Logger, db string, mailboxes int, tmcas tmcasLoad) (*batchReport, error) {
	r, err := newRig(ctx, log, db, slacktest.SlackLimits, slackbot.SlackLimits, time.Second, tmcas)
	if err != nil {
		return nil, err
	}
	defer r.close()
	const msgID = "<load-batch-0001@phish.example.net>"
	for i := range mailboxes {
		r.sys.TMCAS.AddMail(tmcastest.Mail{Mailbox: fmt.Sprintf("mbx%05d@contoso.com", i), MessageID: msgID, Subject: "Invoice", Sender: "x@phish.example.net"})
	}
	rep := &batchReport{mailboxes: mailboxes, limited: map[string]int{}}
	code, body, d, err := r.command("C0BATCH", "/purge-mail "+msgID+" --reason load-test")
	if err != nil || code != http.StatusOK {
		return nil, fmt.Errorf("filing the batch: %d %v %s", code, err, body)
	}
	rep.ackCommand = d
	seen := map[string]bool{}
	var c card
	deadline := time.Now().Add(2 * time.Minute)
	for {
		if cs := r.cards(seen); len(cs) > 0 {
			c = cs[0]
			break
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("no card for the batch; ephemeral answers: %v", r.fake.Ephemerals())
		}
		time.Sleep(50 * time.Millisecond)
	}
	code, _, d, err = r.approve(c)
	if err != nil || code != http.StatusOK {
		return nil, fmt.Errorf("approving the batch: %d %v", code, err)
	}
	rep.approveClick = d
	if err := r.waitFinal(ctx, 10*time.Minute); err != nil {
		return nil, err
	}
	// The summary is the last reply; wait until it is there.
	deadline = time.Now().Add(time.Minute)
	for {
		msgs := r.fake.Messages("C0BATCH")
		var replies []slacktest.Message
		for _, m := range msgs {
			if m.ThreadTS == c.ts {
				replies = append(replies, m)
			}
		}
		if len(replies) >= 2 || time.Now().After(deadline) {
			rep.replies = len(replies)
			if len(replies) > 0 {
				rep.edits = replies[0].Edits
			}
			for _, m := range msgs {
				if m.TS == c.ts {
					rep.cardEdits = m.Edits
				}
			}
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	q, err := r.st.Get(ctx, c.id)
	if err != nil {
		return nil, err
	}
	rep.state = q.State
	rep.duration = q.FinishedAt.Sub(q.ApprovedAt)
	items, err := r.st.Items(ctx, c.id)
	if err != nil {
		return nil, err
	}
	for _, it := range items {
		if it.Status == approvals.ItemSucceeded {
			rep.succeeded++
		}
	}
	for _, m := range slackMethods {
		rep.limited[m] = r.fake.RateLimited(m)
	}
	return rep, nil
}

func (rep *batchReport) print(w io.Writer) {
	bound := rep.duration.Seconds() + 3
	verdict := "within"
	if float64(rep.edits) > bound {
		verdict = "OVER"
	}
	limited := 0
	for _, n := range rep.limited {
		limited += n
	}
	fmt.Fprintf(w, "batch phase: purge-mail over %d mailboxes, Slack's limits enforced: %s, %d items succeeded, approved → done %s\n",
		rep.mailboxes, rep.state, rep.succeeded, rep.duration.Round(time.Millisecond))
	fmt.Fprintf(w, "  progress edits %d (%s the bound of duration+3 = %.1f), card edits %d, thread replies %d, 429s %d\n",
		rep.edits, verdict, bound, rep.cardEdits, rep.replies, limited)
	fmt.Fprintf(w, "  command ack %s, approve ack %s\n", rep.ackCommand.Round(10*time.Microsecond), rep.approveClick.Round(10*time.Microsecond))
}
