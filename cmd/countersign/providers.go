package main

import (
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/countersign/countersign/internal/config"
	"github.com/countersign/countersign/internal/metrics"
	"github.com/countersign/countersign/providers"
	"github.com/countersign/countersign/providers/msgraph"
	"github.com/countersign/countersign/providers/tmcas"
)

// newRouter builds the configured providers and the router that picks one
// per request. Their HTTP calls and rate-limit waits are counted in m (nil:
// not counted).
func newRouter(cfg *config.Config, log *slog.Logger, m *metrics.Metrics) (*providers.Router, error) {
	var ps []providers.Provider
	if cfg.TMCASEnabled() {
		t := cfg.Providers.TMCAS
		c, err := tmcas.New(tmcas.Config{
			Region:            t.Region,
			BaseURL:           t.BaseURL,
			Token:             t.Token,
			RequestsPerMinute: t.RequestsPerMinute,
			MaxItemsPerCall:   t.MaxItemsPerCall,
			SweepDays:         t.SweepDays,
			HTTPClient:        providerClient(m, providers.TMCAS, tmcas.DefaultTimeout),
			RateLimitWait:     m.RateLimitObserver(providers.TMCAS),
			CallObserved:      m.ProviderCallObserver(providers.TMCAS),
			Logger:            log,
		})
		if err != nil {
			return nil, fmt.Errorf("configuring tmcas: %w", err)
		}
		ps = append(ps, c)
	}
	if cfg.GraphEnabled() {
		g := cfg.Providers.Graph
		c, err := msgraph.New(msgraph.Config{
			Cloud:                       g.Cloud,
			TenantID:                    g.TenantID,
			ClientID:                    g.ClientID,
			ClientSecret:                g.ClientSecret,
			BaseURL:                     g.BaseURL,
			TokenURL:                    g.TokenURL,
			IdentityProvider:            g.IdentityProvider,
			EnableLegacySecurityActions: g.EnableLegacySecurityActions,
			RequestsPerSecond:           float64(g.RequestsPerSecond),
			MailLookback:                g.MailLookback,
			HTTPClient:                  providerClient(m, providers.Graph, msgraph.DefaultTimeout),
			RateLimitWait:               m.RateLimitObserver(providers.Graph),
			CallObserved:                m.ProviderCallObserver(providers.Graph),
			Logger:                      log,
		})
		if err != nil {
			return nil, fmt.Errorf("configuring graph: %w", err)
		}
		if g.EnableLegacySecurityActions {
			log.Warn("providers.graph.enable_legacy_security_actions is on: /block-ip uses the deprecated beta securityActions API, which Microsoft may remove without notice")
		}
		ps = append(ps, c)
	}
	r, err := providers.NewRouter(cfg.Routes, ps...)
	if err != nil {
		return nil, fmt.Errorf("configuring routes: %w", err)
	}
	return r, nil
}

// providerClient returns the HTTP client of one provider, counted in m.
func providerClient(m *metrics.Metrics, name string, timeout time.Duration) *http.Client {
	return &http.Client{Timeout: timeout, Transport: m.Transport(metrics.KindProvider, name, nil)}
}
