package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"time"

	"github.com/countersign/countersign/internal/app"
	"github.com/countersign/countersign/internal/digest"
)

// digestFlags: digest prints (or posts) the digest of the last --since.
func digestFlags(fs *flag.FlagSet) command {
	since := durationFlag(fs, "since", 24*time.Hour, "how far back the digest reaches: a `duration` such as 24h or 7d")
	format := fs.String("format", "text", "output format: text or json")
	post := fs.Bool("post", false, "post the digest to slack.digest_channel and discord.digest_channel instead of printing it")
	return command{
		check: func(env) error {
			if *since <= 0 {
				return fmt.Errorf("%w: --since must be positive", errUsage)
			}
			if *format != "text" && *format != "json" {
				return fmt.Errorf("%w: --format must be text or json", errUsage)
			}
			return nil
		},
		run: func(ctx context.Context, c *call) error {
			loc, err := time.LoadLocation(c.cfg.Digest.Timezone)
			if err != nil {
				return fmt.Errorf("digest.timezone: %w", err)
			}
			now := time.Now()
			w, err := digest.Committed(ctx, c.st, now.Add(-*since), now)
			if err != nil {
				return err
			}
			d, err := digest.Build(ctx, c.st, w, loc)
			if err != nil {
				return fmt.Errorf("building the digest: %w", err)
			}
			switch {
			case *post:
				return postDigest(ctx, c, d, loc)
			case *format == "json":
				enc := json.NewEncoder(c.stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(d)
			}
			_, err = fmt.Fprint(c.stdout, d.Text())
			return err
		},
	}
}

// postDigest posts d to the configured digest channels, as serve's
// scheduled digest does, and records it in the audit log.
func postDigest(ctx context.Context, c *call, d digest.Digest, loc *time.Location) error {
	platforms, err := app.Platforms(c.cfg, c.log, nil, c.st)
	if err != nil {
		return err
	}
	send, ok := app.DigestPoster(platforms)
	if !ok {
		return errors.New("no digest channel is configured: set slack.digest_channel or discord.digest_channel")
	}
	if err := send(ctx, d.Message()); err != nil {
		return err
	}
	if err := app.AuditDigest(ctx, c.st, d); err != nil {
		return fmt.Errorf("the digest was posted, but recording it in the audit log failed: %w", err)
	}
	fmt.Fprintf(c.stdout, "digest of %s – %s posted\n", d.From.In(loc).Format(time.RFC3339), d.To.In(loc).Format(time.RFC3339))
	return nil
}
