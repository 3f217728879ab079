package digest_test

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"

	"github.com/countersign/countersign/approvals"
	"github.com/countersign/countersign/bot/chat"
	"github.com/countersign/countersign/internal/digest"
	"github.com/countersign/countersign/internal/store"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

var t0 = time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC) // a Monday

// committed is the window [from, to) of everything committed in src now.
func committed(t testing.TB, src digest.Source, from, to time.Time) digest.Window {
	t.Helper()
	w, err := digest.Committed(context.Background(), src, from, to)
	if err != nil {
		t.Fatal(err)
	}
	return w
}

func actor(name string) approvals.Actor {
	return approvals.Actor{Person: name, Platform: "console", Account: "U" + strings.ToUpper(name), Name: name}
}

// history seeds requests into a real store through the calls the bot and
// the engine make.
type history struct {
	t  testing.TB
	s  *store.Store
	at func(d time.Duration) time.Time
}

// file stores a request filed by requester at the given offset from t0,
// needing required approvals and living ttl.
func (h history) file(requester string, spec approvals.Spec, required int, ttl time.Duration, at time.Duration) approvals.Request {
	h.t.Helper()
	p := approvals.Policy{ApprovalsRequired: required, RequestTTL: ttl, MaxTargets: 100, RequireReason: true,
		Approvers: []string{"bob", "carol", "dave"}}
	var items []approvals.Item
	for _, tg := range spec.Canonical().Targets {
		items = append(items, approvals.Item{Key: tg, Target: tg, Display: tg, Before: "enabled", Identity: approvals.Identity{ID: tg}})
	}
	r, err := p.File(spec, items, actor(requester), h.at(at))
	if err != nil {
		h.t.Fatalf("File: %v", err)
	}
	r, err = h.s.Create(context.Background(), r, items)
	if err != nil {
		h.t.Fatalf("Create: %v", err)
	}
	return r
}

func (h history) apply(r approvals.Request, ev approvals.Event, at time.Duration) approvals.Request {
	h.t.Helper()
	if ev.Kind == approvals.EventApprove || ev.Kind == approvals.EventDeny {
		ev.Hash = r.Hash
	}
	out, err := h.s.Apply(context.Background(), r.ID, ev, h.at(at))
	if err != nil {
		h.t.Fatalf("request %d: %s: %v", r.ID, ev.Kind, err)
	}
	return out
}

func (h history) approve(r approvals.Request, person string, at time.Duration) approvals.Request {
	h.t.Helper()
	return h.apply(r, approvals.Event{Kind: approvals.EventApprove, Actor: actor(person)}, at)
}

// run claims an approved request, as the engine's first attempt does, and
// finishes it with ev (finish or attention).
func (h history) run(r approvals.Request, claim time.Duration, ev approvals.Event, at time.Duration) approvals.Request {
	h.t.Helper()
	x, err := h.s.Claim(context.Background(), r.ID, h.at(claim))
	if err != nil {
		h.t.Fatalf("Claim %d: %v", r.ID, err)
	}
	out, err := h.s.Finish(context.Background(), r.ID, x.Fence, ev, h.at(at))
	if err != nil {
		h.t.Fatalf("Finish %d: %v", r.ID, err)
	}
	return out
}

func finish(outcome approvals.State, note string) approvals.Event {
	return approvals.Event{Kind: approvals.EventFinish, Outcome: outcome, Reason: note}
}

func spec(a approvals.Action, provider string, targets ...string) approvals.Spec {
	return approvals.Spec{Action: a, Provider: provider, Targets: targets, Reason: "incident 4711"}
}

// render draws a message as an adapter would see it, one field a line.
func render(m chat.Message) string {
	var b strings.Builder
	fmt.Fprintf(&b, "title: %s\ntone: %s\ntext: %s\n", m.Title, m.Tone, m.Text)
	for _, f := range m.Fields {
		fmt.Fprintf(&b, "field %s: %s\n", f.Label, f.Value)
	}
	for _, l := range m.Lines {
		fmt.Fprintf(&b, "line [%s] %s | %s\n", l.Mark, l.Text, l.Detail)
	}
	fmt.Fprintf(&b, "more: %d\n", m.More)
	if m.Pre != "" {
		fmt.Fprintf(&b, "pre:\n%s\n", m.Pre)
	}
	fmt.Fprintf(&b, "footer: %s\n", m.Footer)
	return b.String()
}

// messageChars counts the characters of every string in m, as the
// platforms limit them.
func messageChars(m chat.Message) int {
	n := 0
	count := func(ss ...string) {
		for _, s := range ss {
			n += utf8.RuneCountInString(s)
		}
	}
	count(m.Title, m.Text, m.Pre, m.Footer)
	for _, f := range m.Fields {
		count(f.Label, f.Value)
	}
	for _, l := range m.Lines {
		count(string(l.Mark), l.Text, l.Detail)
	}
	for _, bt := range m.Buttons {
		count(bt.Label, bt.Value)
	}
	return n
}

// golden compares got with testdata/name, or rewrites it with -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("reading golden file (run with -update to create it): %v", err)
	}
	if diff := cmp.Diff(string(want), got); diff != "" {
		t.Errorf("%s differs (-want +got):\n%s", path, diff)
	}
}
