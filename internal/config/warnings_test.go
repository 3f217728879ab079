package config

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestWarnings(t *testing.T) {
	const (
		people   = "people:\n  - {name: alice, email: alice@contoso.com, slack: U01ALICE, discord: \"111\"}\n  - {name: bob, email: bob@contoso.com, slack: U02BOB}\n"
		provider = "providers: {tmcas: {token: t}}\n"
		slack    = "slack: {bot_token: xoxb-1, app_token: xapp-1, approvers: [U02BOB]}\n"
	)
	noPeople := "people: is empty: nobody can file or approve a request; list each responder with their name and Slack or Discord id"
	noProvider := "providers: no provider is configured (providers.tmcas.token, or providers.graph tenant_id, client_id and client_secret): requests can be filed and approved but not carried out"
	roles := "discord.approver_roles: roles are resolved by Discord at run time and are not checked here; make sure every approver in people: holds one"
	for _, tc := range []struct {
		name string
		doc  string
		want []string
	}{
		{"complete", people + provider + slack, nil},
		// Regression: Slack without people: or a provider passed silently.
		{"slack without people or provider", slack, []string{
			noPeople,
			"slack.approvers[0]: U02BOB is no one's slack id in people:; unless the e-mail Slack verified for that account is a person's email, Countersign refuses them",
			noProvider}},
		{"nothing at all", "", []string{noPeople, noProvider}},
		{"graph on entraID accounts", people + "providers: {graph: {tenant_id: t, client_id: c, client_secret: s, identity_provider: entraID}}\n", []string{
			`providers.graph.identity_provider: is entraID, but Microsoft's invokeAction page supports no action for it ("Actions related to Entra ID are not covered in the current scope"): expect Graph to refuse every account action`}},
		{"graph on activeDirectory accounts", people + "providers: {graph: {tenant_id: t, client_id: c, client_secret: s}}\n", nil},
		{"approvers and requesters not in people", people + provider +
			"slack: {bot_token: xoxb-1, app_token: xapp-1, requesters: [U01ALICE, W0EVE], approvers: [U02BOB, U09MALLORY, S0SOC]}\n", []string{
			"slack.requesters[1]: W0EVE is no one's slack id in people:; unless the e-mail Slack verified for that account is a person's email, Countersign refuses them",
			"slack.approvers[1]: U09MALLORY is no one's slack id in people:; unless the e-mail Slack verified for that account is a person's email, Countersign refuses them",
			"slack.approvers: user groups (S…) are resolved by Slack at run time and are not checked here; make sure their members are in people:"}},
		{"slack digest outside channels", people + provider +
			"slack: {bot_token: xoxb-1, app_token: xapp-1, approvers: [U02BOB], channels: [C0SOC], digest_channel: C0DIGEST}\n", []string{
			"slack.digest_channel: C0DIGEST is not in slack.channels; the digest is posted there, but commands are not taken there"}},
		{"slack digest in channels", people + provider +
			"slack: {bot_token: xoxb-1, app_token: xapp-1, approvers: [U02BOB], channels: [C0SOC, C0DIGEST], digest_channel: C0DIGEST}\n", nil},
		{"slack digest, channels anywhere", people + provider +
			"slack: {bot_token: xoxb-1, app_token: xapp-1, approvers: [U02BOB], digest_channel: C0DIGEST}\n", nil},
		{"discord", people + provider +
			"discord: {bot_token: b, application_id: \"1\", guild_id: \"2\", approver_roles: [\"3\"], channels: [\"4\"], digest_channel: \"5\"}\n", []string{
			roles,
			"discord.digest_channel: 5 is not in discord.channels; the digest is posted there, but commands are not taken there"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Parse([]byte(withKey(tc.doc)), nil)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, w := range c.Warnings() {
				got = append(got, w.String())
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("warnings (-want +got):\n%s", diff)
			}
		})
	}
}
