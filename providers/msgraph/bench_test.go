package msgraph

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/countersign/countersign/approvals"
	"github.com/countersign/countersign/providers"
	"github.com/countersign/countersign/providers/internal/providertest"
	"github.com/countersign/countersign/providers/msgraph/graphtest"
)

// Acceptance limits of the Graph500 benchmark.
const (
	benchAccounts  = 500
	benchRPS       = 20
	benchWorkers   = 10 // like the engine's default worker count
	maxRatio       = 1.15
	max429Fraction = 0.02
)

// BenchmarkGraph500 runs 500 Graph account actions against the fake
// throttled to 20 requests per second (sliding one-second window), with the
// client paced at its default 20 requests per second and 10 workers
// sharing it:
//
//   - submit: 500 invokeAction calls (one Submit each);
//   - submit+poll: each Submit followed by the Poll that re-reads the
//     identity account to verify it (1000 calls).
//
// Lookups (Resolve) happen before the timer, unthrottled: they belong to
// the preview, not to execution. The wall time is compared with the least
// time the server's limit allows for the calls it admitted: with at most
// 20 requests in any one second, N requests need floor((N-1)/20) seconds.
// It fails when the ratio exceeds 1.15 or more than 2% of calls get 429.
//
//	go test -bench=Graph500 -run=^$ ./providers/msgraph
func BenchmarkGraph500(b *testing.B) {
	for _, poll := range []bool{false, true} {
		name := "submit"
		if poll {
			name = "submit+poll"
		}
		b.Run(name, func(b *testing.B) { benchGraph500(b, poll) })
	}
}

func benchGraph500(b *testing.B, poll bool) {
	srv := graphtest.New(graphtest.Options{Seed: 500, PageSize: 100})
	defer srv.Close()
	targets := make([]string, benchAccounts)
	for i := range targets {
		u := srv.AddUser(graphtest.User{DisplayName: fmt.Sprintf("Bench %d", i), UPN: fmt.Sprintf("bench%03d@contoso.com", i), Enabled: true})
		targets[i] = u.UPN
	}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	fastCfg := clientConfig(srv, providertest.NewLog())
	fastCfg.Logger = quiet
	fast, err := New(fastCfg)
	if err != nil {
		b.Fatal(err)
	}
	cfg := clientConfig(srv, providertest.NewLog())
	cfg.Logger, cfg.RequestsPerSecond = quiet, benchRPS
	c, err := New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()

	var wall time.Duration
	var calls, throttled int
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		action := approvals.ActionDisable
		if i%2 == 1 {
			action = approvals.ActionEnable // undo the last round
		}
		srv.SetFaults(graphtest.Faults{})
		spec := accountSpec(action, targets...)
		items, err := fast.Resolve(ctx, spec)
		if err != nil {
			b.Fatalf("Resolve: %v", err)
		}
		for _, it := range items {
			if it.Problem != "" {
				b.Fatalf("Resolve %s: %s", it.Key, it.Problem)
			}
		}
		srv.ResetCalls()
		srv.SetFaults(graphtest.Faults{ThrottlePerSecond: benchRPS, Window: graphtest.Sliding})
		work := make(chan providers.Resolved)
		errs := make(chan error, benchWorkers)
		var wg sync.WaitGroup
		b.StartTimer()
		start := time.Now()
		for range benchWorkers {
			wg.Go(func() {
				for it := range work {
					sub, err := c.Submit(ctx, providers.Batch{Spec: spec, Items: []providers.Resolved{it}, Label: "bench"})
					if err != nil {
						errs <- fmt.Errorf("Submit %s: %w", it.Key, err)
						return
					}
					if !poll {
						continue
					}
					p, err := c.Poll(ctx, sub)
					if err != nil || !p.Done || p.Items[0].Status != approvals.ItemSucceeded {
						errs <- fmt.Errorf("Poll %s: %v %+v", it.Key, err, p)
						return
					}
				}
			})
		}
	feed:
		for _, it := range items {
			select {
			case work <- it:
			case err := <-errs:
				b.Error(err)
				break feed
			}
		}
		close(work)
		wg.Wait()
		wall += time.Since(start)
		b.StopTimer()
		close(errs)
		for err := range errs {
			b.Error(err)
		}
		for _, cl := range srv.Calls() {
			if cl.Path == srv.TokenURL()[len(srv.URL()):] {
				continue
			}
			calls++
			if cl.Status == 429 {
				throttled++
			}
		}
	}
	admitted := calls - throttled
	perRound := max((admitted/b.N-1)/benchRPS, 1)
	minimum := time.Duration(perRound*b.N) * time.Second
	ratio := wall.Seconds() / minimum.Seconds()
	frac := float64(throttled) / float64(max(calls, 1))
	b.ReportMetric(wall.Seconds()/float64(b.N), "wall-s/op")
	b.ReportMetric(minimum.Seconds()/float64(b.N), "limit-min-s/op")
	b.ReportMetric(ratio, "x-limit-min")
	b.ReportMetric(100*frac, "429-%")
	b.ReportMetric(float64(calls)/float64(b.N), "calls/op")
	b.Logf("%d rounds: wall %v, limit minimum %v (%d admitted calls at %d/s), ratio %.3f; %d calls, %d answered 429 (%.2f%%); at N/rate the minimum would be %v (ratio %.3f)",
		b.N, wall.Round(time.Millisecond), minimum, admitted, benchRPS, ratio, calls, throttled, 100*frac,
		time.Duration(float64(admitted)/benchRPS*float64(time.Second)), wall.Seconds()/(float64(admitted)/benchRPS))
	if ratio > maxRatio {
		b.Errorf("wall time is %.3f× the limit's minimum, want at most %.2f×", ratio, maxRatio)
	}
	if frac > max429Fraction {
		b.Errorf("%.2f%% of calls were answered 429, want at most %.0f%%", 100*frac, 100*max429Fraction)
	}
}
