package providers_test

import (
	"context"
	"errors"
	"testing"

	"github.com/countersign/countersign/approvals"
	"github.com/countersign/countersign/providers"
)

// stub is a provider that only answers what it supports; routing never
// calls it.
type stub struct{ name string }

func (s stub) Name() string                     { return s.name }
func (s stub) Supports(a approvals.Action) bool { return providers.Capable(s.name, a) }
func (s stub) Resolve(context.Context, approvals.Spec) ([]providers.Resolved, error) {
	return nil, errors.New("not called")
}
func (s stub) Submit(context.Context, providers.Batch) (providers.Submission, error) {
	return providers.Submission{}, errors.New("not called")
}
func (s stub) Poll(context.Context, providers.Submission) (providers.Progress, error) {
	return providers.Progress{}, errors.New("not called")
}

func TestRoute(t *testing.T) {
	both, err := providers.NewRouter(map[string]string{"disable": "tmcas", "purge-mail": "graph"}, stub{"tmcas"}, stub{"graph"})
	if err != nil {
		t.Fatal(err)
	}
	onlyGraph, err := providers.NewRouter(nil, stub{"graph"})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		r        *providers.Router
		spec     approvals.Spec
		provider string
		mail     string
		wantErr  error
		wantMsg  string // what people are shown of the refusal
	}{
		{"route", both, approvals.Spec{Action: approvals.ActionDisable}, "tmcas", "", nil, ""},
		{"flag beats route", both, approvals.Spec{Action: approvals.ActionDisable, Provider: "graph"}, "graph", "", nil, ""},
		{"the only capable", both, approvals.Spec{Action: approvals.ActionEnableMFA}, "tmcas", "", nil, ""},
		{"two capable, no route", both, approvals.Spec{Action: approvals.ActionRevokeSessions}, "", "", providers.ErrNoProvider,
			"revoke-sessions is supported by graph and tmcas; add a routes: entry or pass --provider"},
		{"not configured", onlyGraph, approvals.Spec{Action: approvals.ActionEnableMFA}, "", "", providers.ErrNoProvider,
			"no configured provider supports enable-mfa"},
		{"unsupported by the flag", both, approvals.Spec{Action: approvals.ActionEnable, Provider: "tmcas"}, "", "", providers.ErrUnsupported,
			"tmcas cannot enable"},
		{"graph mail default", both, approvals.Spec{Action: approvals.ActionPurgeMail}, "graph", "soft-delete", nil, ""},
		{"tmcas mail default", both, approvals.Spec{Action: approvals.ActionPurgeMail, Provider: "tmcas", Mail: &approvals.MailOptions{}}, "tmcas", "quarantine", nil, ""},
		{"provider not configured", onlyGraph, approvals.Spec{Action: approvals.ActionDisable, Provider: "tmcas"}, "", "", providers.ErrNoProvider,
			`provider "tmcas" is not configured`},
		{"mail action of the other provider", both, approvals.Spec{Action: approvals.ActionPurgeMail, Mail: &approvals.MailOptions{Action: "quarantine"}}, "", "", providers.ErrUnsupported,
			"graph cannot purge mail with --action quarantine (use soft-delete, hard-delete, junk, deleted-items, inbox)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, p, err := tt.r.Route(tt.spec)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("Route: %v, want %v", err, tt.wantErr)
				}
				var perr *providers.Error
				if !errors.As(err, &perr) || perr.Msg != tt.wantMsg {
					t.Fatalf("Route: %#v, want a *providers.Error saying %q", err, tt.wantMsg)
				}
				return
			}
			if err != nil || p.Name() != tt.provider || got.Provider != tt.provider {
				t.Fatalf("Route = %q (%v), %v; want %q", got.Provider, p, err, tt.provider)
			}
			if tt.mail != "" && (got.Mail == nil || got.Mail.Action != tt.mail) {
				t.Errorf("mail action = %+v, want %s", got.Mail, tt.mail)
			}
		})
	}
}

func TestNewRouterRefusesBadRoutes(t *testing.T) {
	for _, routes := range []map[string]string{
		{"launch": "tmcas"},
		{"disable": "okta"},
		{"enable": "tmcas"},
	} {
		if _, err := providers.NewRouter(routes, stub{"tmcas"}); err == nil {
			t.Errorf("NewRouter(%v) accepted", routes)
		}
	}
}

func TestMatrixCoversEveryAction(t *testing.T) {
	for _, a := range approvals.Actions() {
		if !providers.Capable(providers.TMCAS, a) && !providers.Capable(providers.Graph, a) {
			t.Errorf("no provider can %s", a)
		}
	}
	if len(approvals.MailActions(providers.Graph)) != 5 || approvals.MailActions(providers.TMCAS)[0] != "quarantine" {
		t.Errorf("mail actions: graph %v, tmcas %v", approvals.MailActions(providers.Graph), approvals.MailActions(providers.TMCAS))
	}
}
