package store_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/countersign/countersign/internal/audit"
	"github.com/countersign/countersign/internal/store"
	"github.com/countersign/countersign/internal/testdb"
)

// TestAuditCheckpoints cuts the tail and puts back an authentic earlier
// head, as someone with a copy of the database from then could: the head
// verifies, and only a checkpoint taken in between shows the loss.
func TestAuditCheckpoints(t *testing.T) {
	testdb.Each(t, func(t *testing.T, url string) {
		ctx := context.Background()
		s := open(t, url)
		seedChain(t, s)
		at10 := readHeadRow(t, url)
		cp10, err := s.AuditCheckpoint(ctx, t0)
		if err != nil {
			t.Fatalf("AuditCheckpoint: %v", err)
		}
		for i := range 3 {
			if err := s.AppendAudit(ctx, t0, 0, "test", "system", map[string]int{"i": i}); err != nil {
				t.Fatal(err)
			}
		}
		cp13, err := s.AuditCheckpoint(ctx, t0.Add(time.Minute))
		if err != nil {
			t.Fatalf("AuditCheckpoint: %v", err)
		}
		if cp10.Seq != 10 || cp13.Seq != 13 {
			t.Fatalf("checkpoints at entries %d and %d, want 10 and 13", cp10.Seq, cp13.Seq)
		}
		if n, err := s.VerifyAudit(ctx, cp10, cp13); n != 13 || err != nil {
			t.Fatalf("VerifyAudit with the checkpoints of an intact chain = %d, %v; want 13, nil", n, err)
		}

		raw(t, url, append(dropGuards(url), `DELETE FROM audit_log WHERE seq > 10`,
			fmt.Sprintf(`UPDATE audit_head SET seq = %d, hash = '%s', mac = '%s'`, at10.seq, at10.hash, at10.mac))...)
		cases := []struct {
			name    string
			cps     []audit.Checkpoint
			wantSeq int64 // 0: verifies
		}{
			{"no checkpoint", nil, 0}, // the limit checkpoints exist for
			{"checkpoint before the cut", []audit.Checkpoint{cp10}, 0},
			{"checkpoint after the cut", []audit.Checkpoint{cp10, cp13}, 11},
			{"checkpoint of another chain", []audit.Checkpoint{audit.NewCheckpoint(testKey, 5, cp10.Hash, t0)}, 5},
		}
		for _, tc := range cases {
			_, err := s.VerifyAudit(ctx, tc.cps...)
			var be *audit.BreakError
			switch {
			case tc.wantSeq == 0 && err != nil:
				t.Errorf("%s: VerifyAudit = %v, want nil", tc.name, err)
			case tc.wantSeq != 0 && (!errors.As(err, &be) || be.Seq != tc.wantSeq):
				t.Errorf("%s: VerifyAudit = %v, want a break at %d", tc.name, err, tc.wantSeq)
			}
		}
	})
}

// TestAuditCheckpointRefusesForgedHead checks that a rewritten head is never
// signed: a checkpoint of it would make the rewrite pass later checks.
func TestAuditCheckpointRefusesForgedHead(t *testing.T) {
	testdb.Each(t, func(t *testing.T, url string) {
		s := open(t, url)
		seedChain(t, s)
		raw(t, url, append(dropGuards(url), `DELETE FROM audit_log WHERE seq > 8`,
			`UPDATE audit_head SET seq = 8, hash = (SELECT hash FROM audit_log WHERE seq = 8)`)...)
		if cp, err := s.AuditCheckpoint(context.Background(), t0); !errors.Is(err, audit.ErrBroken) {
			t.Fatalf("AuditCheckpoint of a forged head = %+v, %v; want ErrBroken", cp, err)
		}
	})
}

// TestAuditHeadSealedOnUpgrade migrates a database that an older release
// filled (a head without MAC) and checks that the migration adding the MAC
// seals it, once: a head cleared later is not sealed again by a restart.
func TestAuditHeadSealedOnUpgrade(t *testing.T) {
	testdb.Each(t, func(t *testing.T, url string) {
		ctx := context.Background()
		s, err := store.Open(ctx, url, store.Options{AuditKey: testKey})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		if err := s.MigrateUpTo(ctx, 3); err != nil {
			t.Fatal(err)
		}
		// Three entries as the older release appended them.
		prev := ""
		var stmts []string
		for i := int64(1); i <= 3; i++ {
			e := audit.Entry{Seq: i, At: t0, Kind: "test", Actor: "system", Detail: []byte(`{}`)}
			audit.Seal(testKey, &e, prev)
			prev = e.Hash
			stmts = append(stmts, fmt.Sprintf(`INSERT INTO audit_log (seq, at, request_id, kind, actor, detail, prev_hash, hash)
				VALUES (%d, %d, 0, 'test', 'system', '{}', '%s', '%s')`, e.Seq, e.At.UnixMicro(), e.PrevHash, e.Hash))
		}
		raw(t, url, append(stmts, fmt.Sprintf(`UPDATE audit_head SET seq = 3, hash = '%s'`, prev))...)

		if err := s.Migrate(ctx); err != nil {
			t.Fatalf("Migrate: %v", err)
		}
		if n, err := s.VerifyAudit(ctx); n != 3 || err != nil {
			t.Fatalf("VerifyAudit after the upgrade = %d, %v; want 3, nil", n, err)
		}
		if err := s.AppendAudit(ctx, t0, 0, "test", "system", nil); err != nil {
			t.Fatalf("AppendAudit after the upgrade: %v", err)
		}
		if n, err := s.VerifyAudit(ctx); n != 4 || err != nil {
			t.Fatalf("VerifyAudit after an append = %d, %v; want 4, nil", n, err)
		}

		raw(t, url, append(dropGuards(url), `DELETE FROM audit_log WHERE seq = 4`,
			fmt.Sprintf(`UPDATE audit_head SET seq = 3, hash = '%s', mac = ''`, prev))...)
		if err := s.Migrate(ctx); err != nil {
			t.Fatalf("Migrate again: %v", err)
		}
		var be *audit.BreakError
		if _, err := s.VerifyAudit(ctx); !errors.As(err, &be) || be.Seq != 4 {
			t.Fatalf("VerifyAudit of a head cleared after the upgrade = %v, want a break at 4", err)
		}
	})
}
