package msgraph

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/countersign/countersign/approvals"
	"github.com/countersign/countersign/providers"
	"github.com/countersign/countersign/providers/internal/providertest"
	"github.com/countersign/countersign/providers/msgraph/graphtest"
)

// fixture is a fake Graph and a client wired to it.
type fixture struct {
	srv  *graphtest.Server
	c    *Client
	logs *providertest.Log
}

// newFixture starts a fake and a fast client: high pacing rate and
// millisecond backoff, so tests spend no time waiting on policy.
func newFixture(t testing.TB, opts graphtest.Options, mod func(*Config)) *fixture {
	t.Helper()
	srv := graphtest.New(opts)
	t.Cleanup(srv.Close)
	logs := providertest.NewLog()
	cfg := clientConfig(srv, logs)
	if mod != nil {
		mod(&cfg)
	}
	c, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return &fixture{srv: srv, c: c, logs: logs}
}

func clientConfig(srv *graphtest.Server, logs *providertest.Log) Config {
	tenant, id, secret := srv.Credentials()
	return Config{
		TenantID: tenant, ClientID: id, ClientSecret: secret,
		BaseURL: srv.URL(), TokenURL: srv.TokenURL(),
		RequestsPerSecond: 2000,
		RetryInitial:      time.Millisecond, RetryMax: 5 * time.Millisecond,
		Logger: logs.Logger(),
	}
}

// disableMallory seeds the directory and resolves disabling
// mallory@contoso.com, the batch most tests submit.
func (f *fixture) disableMallory(t testing.TB, ctx context.Context) providers.Batch {
	t.Helper()
	seedDirectory(f.srv)
	return providertest.Batch(t, ctx, f.c, accountSpec(approvals.ActionDisable, "mallory@contoso.com"))
}

func accountSpec(a approvals.Action, targets ...string) approvals.Spec {
	return approvals.Spec{Action: a, Provider: providers.Graph, Targets: targets}
}

// runToEnd resolves, submits item by item and polls until every item is
// terminal or maxPolls polls of one submission pass; it returns each key's
// final status and detail. A Submit error makes the item failed, as the
// engine does with an error that is neither temporary nor uncertain; those
// two are returned as errors.
func runToEnd(ctx context.Context, c *Client, spec approvals.Spec, maxPolls int) (map[string]providers.ItemStatus, error) {
	items, err := c.Resolve(ctx, spec)
	if err != nil {
		return nil, fmt.Errorf("resolve: %w", err)
	}
	out := map[string]providers.ItemStatus{}
	var ok []providers.Resolved
	for _, it := range items {
		if it.Problem != "" {
			out[it.Key] = providers.ItemStatus{Key: it.Key, Status: approvals.ItemSkipped, Detail: it.Problem}
			continue
		}
		ok = append(ok, it)
	}
	per := c.MaxItems(spec.Action)
	for len(ok) > 0 {
		n := min(per, len(ok))
		chunk := ok[:n]
		ok = ok[n:]
		sub, err := c.Submit(ctx, providers.Batch{RequestID: 42, Spec: spec, Items: chunk, Label: "Countersign request 42", Note: "test"})
		if err != nil {
			if errorsIsAny(err, providers.ErrTemporary, providers.ErrUncertain) {
				return out, fmt.Errorf("submit: %w", err)
			}
			for _, it := range chunk {
				out[it.Key] = providers.ItemStatus{Key: it.Key, Status: approvals.ItemFailed, Detail: err.Error()}
			}
			continue
		}
		for i := 0; ; i++ {
			if i == maxPolls {
				for _, it := range chunk {
					if _, done := out[it.Key]; !done {
						out[it.Key] = providers.ItemStatus{Key: it.Key, Status: approvals.ItemRunning, Detail: "deadline"}
					}
				}
				break
			}
			p, err := c.Poll(ctx, sub)
			if err != nil {
				return out, fmt.Errorf("poll: %w", err)
			}
			if p.Done {
				for _, st := range p.Items {
					out[st.Key] = st
				}
				break
			}
		}
	}
	return out, nil
}

func errorsIsAny(err error, targets ...error) bool {
	for _, t := range targets {
		if errors.Is(err, t) {
			return true
		}
	}
	return false
}
