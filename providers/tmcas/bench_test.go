package tmcas_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/countersign/countersign/approvals"
	"github.com/countersign/countersign/providers"
	"github.com/countersign/countersign/providers/tmcas"
	"github.com/countersign/countersign/providers/tmcas/tmcastest"
)

// BenchmarkSubmitPoll measures one Submit and one Poll (to done) of a batch
// against the fake over loopback HTTP, with throttling off on both sides so
// the client's own cost is what is measured.
func BenchmarkSubmitPoll(b *testing.B) {
	for _, n := range []int{1, 10, 100} {
		b.Run(fmt.Sprintf("accounts=%d", n), func(b *testing.B) {
			f := newFake(b, tmcastest.Options{Limit: -1})
			var targets []string
			for i := 0; i < n; i++ {
				e := fmt.Sprintf("user%03d@contoso.com", i)
				f.AddAccount(e)
				targets = append(targets, e)
			}
			c := newClient(b, f, func(cfg *tmcas.Config) { cfg.RequestsPerMinute = 1 << 20 })
			spec := accountSpec(approvals.ActionDisable, targets...)
			items, err := c.Resolve(context.Background(), spec)
			if err != nil {
				b.Fatal(err)
			}
			benchSubmitPoll(b, c, f, providers.Batch{Spec: spec, Items: items})
		})
	}
	b.Run("mailboxes=10", func(b *testing.B) {
		f := newFake(b, tmcastest.Options{Limit: -1})
		const id = "<bench@fabrikam.example>"
		for i := 0; i < 10; i++ {
			f.AddMail(tmcastest.Mail{Mailbox: fmt.Sprintf("box%02d@contoso.com", i), MessageID: id, Delivered: time.Now()})
		}
		c := newClient(b, f, func(cfg *tmcas.Config) { cfg.RequestsPerMinute = 1 << 20 })
		spec := mailSpec("quarantine", nil, id)
		items, err := c.Resolve(context.Background(), spec)
		if err != nil {
			b.Fatal(err)
		}
		benchSubmitPoll(b, c, f, providers.Batch{Spec: spec, Items: items})
	})
}

func benchSubmitPoll(b *testing.B, c *tmcas.Client, f *tmcastest.Server, batch providers.Batch) {
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		sub, err := c.Submit(ctx, batch)
		if err != nil {
			b.Fatal(err)
		}
		p, err := c.Poll(ctx, sub)
		if err != nil || !p.Done {
			b.Fatalf("Poll: %+v, %v", p, err)
		}
	}
	b.StopTimer()
	f.Reset() // the fake keeps every batch; drop them between runs
}
