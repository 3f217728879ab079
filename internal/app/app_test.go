package app_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/countersign/countersign/bot"
	"github.com/countersign/countersign/bot/console"
	"github.com/countersign/countersign/internal/app"
	"github.com/countersign/countersign/internal/config"
	"github.com/countersign/countersign/internal/engine"
	"github.com/countersign/countersign/internal/testdb"
	"github.com/countersign/countersign/providers"
	"github.com/countersign/countersign/providers/tmcas/tmcastest"
)

// recorder is an engine notifier wrapper that remembers what it wrapped.
type recorder struct {
	engine.Notifier
	wrapped bool
}

// testConfig is the default configuration on a new SQLite database,
// changed by configure (nil: unchanged).
func testConfig(t *testing.T, configure func(cfg *config.Config)) *config.Config {
	t.Helper()
	cfg := config.Default()
	cfg.Store.URL, cfg.Audit.Key = testdb.SQLite(t), testdb.AuditKey
	if configure != nil {
		configure(cfg)
	}
	return cfg
}

// TestNewRefuses: New refuses a system that could not work, naming the
// key at fault, before anything runs.
func TestNewRefuses(t *testing.T) {
	for _, tc := range []struct {
		name      string
		configure func(cfg *config.Config)
		want      string
	}{
		{"a route to a provider that is not configured", func(cfg *config.Config) {
			cfg.Routes = map[string]string{"disable": providers.Graph}
		}, "configuring routes"},
		{"a checkpoint file that cannot be written", func(cfg *config.Config) {
			cfg.Audit.CheckpointFile = filepath.Join(t.TempDir(), "missing-dir", "checkpoints.jsonl")
		}, "audit.checkpoint_file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := app.New(context.Background(), testConfig(t, tc.configure), app.Options{Migrate: true})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("New: %v, want an error saying %q", err, tc.want)
			}
		})
	}
}

// TestNew builds systems from configurations and checks what New made of
// each: the providers behind the router, the bot and the notifier wrapper,
// and that they start and stop.
func TestNew(t *testing.T) {
	tm := tmcastest.New(tmcastest.Options{Limit: -1})
	t.Cleanup(tm.Close)
	for _, tc := range []struct {
		name       string
		configure  func(cfg *config.Config)
		console    bool // add a console platform
		providers  []string
		wantBot    bool
		wantLogged string
	}{
		{
			name:       "neither chat nor provider",
			wantLogged: "no chat platform is configured",
		},
		{
			name: "TMCAS and a console",
			configure: func(cfg *config.Config) {
				cfg.Providers.TMCAS.BaseURL, cfg.Providers.TMCAS.Token = tm.URL(), tm.Token()
			},
			console:   true,
			providers: []string{providers.TMCAS},
			wantBot:   true,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig(t, tc.configure)
			var logs bytes.Buffer
			opts := app.Options{Logger: slog.New(slog.NewTextHandler(&logs, nil)), Migrate: true}
			if tc.console {
				c, err := console.New(io.Discard, []console.Person{{Name: "alice"}}, false)
				if err != nil {
					t.Fatal(err)
				}
				opts.Platforms = []app.Platform{{Name: bot.PlatformConsole, Chat: c, Access: c}}
			}
			rec := &recorder{}
			opts.Notifier = func(n engine.Notifier) engine.Notifier { rec.Notifier, rec.wrapped = n, true; return rec }
			ctx := context.Background()
			sys, err := app.New(ctx, cfg, opts)
			if err != nil {
				t.Fatalf("New: %v", err)
			}
			for _, name := range tc.providers {
				if _, ok := sys.Router.Provider(name); !ok {
					t.Errorf("the router has no %s", name)
				}
			}
			if got := sys.Bot != nil; got != tc.wantBot {
				t.Errorf("bot built: %v, want %v", got, tc.wantBot)
			}
			if !rec.wrapped || (rec.Notifier != nil) != tc.wantBot {
				t.Errorf("notifier wrapper given %v (called %v), want the bot: %v", rec.Notifier, rec.wrapped, tc.wantBot)
			}
			if !strings.Contains(logs.String(), tc.wantLogged) {
				t.Errorf("log lacks %q:\n%s", tc.wantLogged, logs.String())
			}
			if err := sys.Start(ctx); err != nil {
				t.Fatalf("Start: %v", err)
			}
			cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			defer cancel()
			if err := sys.Close(cctx); err != nil {
				t.Fatalf("Close: %v", err)
			}
			// Close closed the store New opened.
			if err := sys.Store.Ping(ctx); err == nil {
				t.Error("the store New opened is still open after Close")
			}
		})
	}
}
