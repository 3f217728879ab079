// Command countersign-load drives the Slack adapter and the real bot with
// signed slash commands and button clicks at a chosen rate, against the
// Slack fake (which enforces Slack's rate limits) and the TMCAS fake, all
// in one process on SQLite. It reports acknowledgement latency
// percentiles, end-to-end times, Slack API calls, 429s and peak memory.
//
//	go run ./cmd/countersign-load -rate 50 -duration 60s -batch 2000
//
// Phase "ack": slash commands at -rate for -duration, spread over
// -channels channels (Slack allows about one post per second per channel),
// and an Approve click on every card as soon as it is posted. Slack's Tier
// 3 limit on chat.update (about 50 a minute per workspace) cannot carry 50
// approvals a second, so this phase enforces the per-channel posting limit
// only and measures the bot.
//
// Phase "batch": one purge-mail over -batch mailboxes, approved, with every
// Slack limit enforced; it reports the progress edits the batch made
// against the acceptance bound (duration in seconds + 3) and the 429s.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"time"
)

func main() {
	rate := flag.Float64("rate", 50, "slash commands per second in the ack phase (each card also gets an Approve click)")
	duration := flag.Duration("duration", 60*time.Second, "length of the ack phase")
	channels := flag.Int("channels", 200, "channels the ack phase spreads its requests over (each request posts three messages in its channel)")
	batch := flag.Int("batch", 2000, "mailboxes of the batch phase's purge-mail (0 skips the phase)")
	phase := flag.String("phase", "all", "ack, batch or all")
	tmcasRPM := flag.Int("tmcas-rpm", 20, "TMCAS requests per minute in the batch phase (the fake enforces it; 20 is TMCAS's limit; 0 is unlimited)")
	tmcasLatency := flag.Duration("tmcas-latency", 0, "latency the TMCAS fake adds to every answer in the batch phase")
	tmcasPolls := flag.Int("tmcas-polls", 0, "polls a TMCAS batch reports Executing before it finishes, in the batch phase")
	tmcasPerCall := flag.Int("tmcas-per-call", 0, "mailboxes per TMCAS mitigation call in the batch phase (0: the client's default, 100)")
	verbose := flag.Bool("v", false, "log the bot's warnings to stderr")
	flag.Parse()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if *verbose {
		log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	dir, err := os.MkdirTemp("", "countersign-load-")
	if err != nil {
		fatal(err)
	}
	defer os.RemoveAll(dir)
	ctx := context.Background()
	mem := startMemSampler()
	if *phase == "ack" || *phase == "all" {
		r, err := runAck(ctx, log, filepath.Join(dir, "ack.db"), *rate, *duration, *channels)
		if err != nil {
			fatal(err)
		}
		r.print(os.Stdout)
	}
	if (*phase == "batch" || *phase == "all") && *batch > 0 {
		r, err := runBatch(ctx, log, filepath.Join(dir, "batch.db"), *batch, tmcasLoad{perMinute: *tmcasRPM, latency: *tmcasLatency, polls: *tmcasPolls, perCall: *tmcasPerCall})
		if err != nil {
			fatal(err)
		}
		r.print(os.Stdout)
	}
	mem.print(os.Stdout)
}

func fatal(err error) {
	fmt.Fprintln(os.Stderr, "countersign-load:", err)
	os.Exit(1)
}
