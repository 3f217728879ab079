package main

import (
	"strings"
	"testing"
)

// TestNationalCloudRefusedAtStart: config check and serve both refuse Graph
// in a cloud that offers none of its operations, and a route sending an
// action to Graph there, naming the operation and the cloud.
func TestNationalCloudRefusedAtStart(t *testing.T) {
	environ := []string{
		"COUNTERSIGN_AUDIT_KEY=" + testKey,
		"COUNTERSIGN_STORE_URL=sqlite:" + t.TempDir() + "/cs.db",
		"COUNTERSIGN_PROVIDERS_GRAPH_CLOUD=china",
		"COUNTERSIGN_PROVIDERS_GRAPH_TENANT_ID=contoso.onmicrosoft.com",
		"COUNTERSIGN_PROVIDERS_GRAPH_CLIENT_ID=c",
		"COUNTERSIGN_PROVIDERS_GRAPH_CLIENT_SECRET=s",
		"COUNTERSIGN_ROUTES_DISABLE=graph",
	}
	for _, args := range [][]string{{"config", "check"}, {"serve", "--migrate=false"}} {
		code, _, stderr := runCLI(t, environ, args...)
		if code != 1 {
			t.Errorf("%s: code %d, want 1; stderr %q", args[0], code, stderr)
		}
		for _, want := range []string{
			`providers.graph.cloud: "china" offers none of the Graph operations Countersign calls (identityAccounts invokeAction (v1.0) for disable,`,
			`routes.disable: graph cannot disable in cloud china: identityAccounts invokeAction (v1.0) is not offered there`,
		} {
			if !strings.Contains(stderr, want) {
				t.Errorf("%s: stderr %q does not say %q", args[0], stderr, want)
			}
		}
	}
}
