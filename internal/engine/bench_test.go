package engine

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/countersign/countersign/internal/testdb"
)

// BenchmarkExecute measures end-to-end execution: b.N approved requests of
// two targets each, run by one engine (10 workers) against an in-process
// provider that finishes on the first poll, until every one is final. The
// cost is the engine's: claims, fenced steps, polls and River scheduling.
func BenchmarkExecute(b *testing.B) {
	testdb.Each(b, func(b *testing.B, url string) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
		defer cancel()
		s := testdb.Store(b, url)
		cfg, changed := watched(Config{Store: s, Providers: newFakeProvider(), PollInterval: 10 * time.Millisecond,
			FetchPollInterval: 10 * time.Millisecond})
		e, err := New(cfg)
		if err != nil {
			b.Fatal(err)
		}
		var ids []int64
		for i := range b.N {
			ids = append(ids, approvedRequest(b, s, "fake", time.Now(), fmt.Sprintf("u%d-a@x.io", i), fmt.Sprintf("u%d-b@x.io", i)).ID)
		}
		b.ResetTimer()
		start := time.Now()
		if err := e.Start(ctx); err != nil {
			b.Fatal(err)
		}
		waitAll(ctx, b, s, ids, changed)
		elapsed := time.Since(start)
		b.StopTimer()
		if err := e.Stop(ctx); err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(b.N)/elapsed.Seconds(), "requests/s")
	})
}
