package store_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/countersign/countersign/internal/store/storetest"
	"github.com/countersign/countersign/internal/testdb"
)

// BenchmarkFileAndApprove measures one request filed and approved (quorum of
// one, so the approval also enqueues the execution job): two transactions,
// each with its audit entry. Reported as approvals/s.
func BenchmarkFileAndApprove(b *testing.B) {
	testdb.Each(b, func(b *testing.B, url string) {
		s := testdb.Store(b, url)
		p := storetest.Policy(1)
		ctx := context.Background()
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; b.Loop(); i++ {
			r := storetest.File(b, s, p, "tmcas", t0, fmt.Sprintf("user%d@contoso.com", i))
			if _, err := s.Apply(ctx, r.ID, storetest.Approval("bob", r.Hash), t0); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "approvals/s")
	})
}
