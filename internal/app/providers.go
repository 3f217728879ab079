package app

import (
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/countersign/countersign/internal/config"
	"github.com/countersign/countersign/internal/httpx"
	"github.com/countersign/countersign/internal/metrics"
	"github.com/countersign/countersign/providers"
	"github.com/countersign/countersign/providers/msgraph"
	"github.com/countersign/countersign/providers/tmcas"
)

// hooks are what every provider client is given besides its own settings:
// an HTTP client and observers counted in the metrics, and the logger.
type hooks struct {
	client   *http.Client
	wait     func(time.Duration)
	observed func(httpx.Attempt)
	log      *slog.Logger
}

// Router builds the configured providers and the router that picks one
// per request. Their HTTP calls and rate-limit waits are counted in m (nil:
// not counted).
func Router(cfg *config.Config, log *slog.Logger, m *metrics.Metrics) (*providers.Router, error) {
	var ps []providers.Provider
	for _, p := range []struct {
		name    string
		enabled bool
		timeout time.Duration
		build   func(*config.Config, hooks) (providers.Provider, error)
	}{
		{providers.TMCAS, cfg.TMCASEnabled(), tmcas.DefaultTimeout, newTMCAS},
		{providers.Graph, cfg.GraphEnabled(), msgraph.DefaultTimeout, newGraph},
	} {
		if !p.enabled {
			continue
		}
		c, err := p.build(cfg, hooks{
			client:   &http.Client{Timeout: p.timeout, Transport: m.Transport(metrics.KindProvider, p.name, nil)},
			wait:     m.RateLimitObserver(p.name),
			observed: m.ProviderCallObserver(p.name),
			log:      log,
		})
		if err != nil {
			return nil, fmt.Errorf("configuring %s: %w", p.name, err)
		}
		ps = append(ps, c)
	}
	r, err := providers.NewRouter(cfg.Routes, ps...)
	if err != nil {
		return nil, fmt.Errorf("configuring routes: %w", err)
	}
	return r, nil
}

func newTMCAS(cfg *config.Config, h hooks) (providers.Provider, error) {
	t := cfg.Providers.TMCAS
	return tmcas.New(tmcas.Config{
		Region: t.Region, BaseURL: t.BaseURL, Token: t.Token,
		RequestsPerMinute: t.RequestsPerMinute, MaxItemsPerCall: t.MaxItemsPerCall, SweepDays: t.SweepDays,
		HTTPClient: h.client, RateLimitWait: h.wait, CallObserved: h.observed, Logger: h.log,
	})
}

func newGraph(cfg *config.Config, h hooks) (providers.Provider, error) {
	g := cfg.Providers.Graph
	c, err := msgraph.New(msgraph.Config{
		Cloud: g.Cloud, TenantID: g.TenantID, ClientID: g.ClientID, ClientSecret: g.ClientSecret,
		BaseURL: g.BaseURL, TokenURL: g.TokenURL, IdentityProvider: g.IdentityProvider,
		EnableLegacySecurityActions: g.EnableLegacySecurityActions,
		RequestsPerSecond:           float64(g.RequestsPerSecond), MailLookback: g.MailLookback,
		HTTPClient: h.client, RateLimitWait: h.wait, CallObserved: h.observed, Logger: h.log,
	})
	if err != nil {
		return nil, err
	}
	if g.EnableLegacySecurityActions {
		h.log.Warn("providers.graph.enable_legacy_security_actions is on: /block-ip uses the deprecated beta securityActions API, which Microsoft may remove without notice")
	}
	return c, nil
}
