package deploy

import (
	"slices"
	"testing"
)

type ingressSpec struct {
	TLS []struct {
		Hosts      []string `yaml:"hosts"`
		SecretName string   `yaml:"secretName"`
	} `yaml:"tls"`
	Rules []struct {
		Host string `yaml:"host"`
		HTTP struct {
			Paths []struct {
				Path     string `yaml:"path"`
				PathType string `yaml:"pathType"`
				Backend  struct {
					Service struct {
						Name string `yaml:"name"`
						Port struct {
							Name string `yaml:"name"`
						} `yaml:"port"`
					} `yaml:"service"`
				} `yaml:"backend"`
			} `yaml:"paths"`
		} `yaml:"http"`
	} `yaml:"rules"`
	DefaultBackend any `yaml:"defaultBackend"`
}

type netpolPort struct {
	Port     any    `yaml:"port"`
	Protocol string `yaml:"protocol"`
}

type netpolSpec struct {
	PodSelector struct {
		MatchLabels map[string]string `yaml:"matchLabels"`
	} `yaml:"podSelector"`
	PolicyTypes []string `yaml:"policyTypes"`
	Ingress     []struct {
		From []struct {
			NamespaceSelector *struct {
				MatchLabels map[string]string `yaml:"matchLabels"`
			} `yaml:"namespaceSelector"`
			IPBlock any `yaml:"ipBlock"`
		} `yaml:"from"`
		Ports []netpolPort `yaml:"ports"`
	} `yaml:"ingress"`
	Egress []struct {
		To    []any        `yaml:"to"`
		Ports []netpolPort `yaml:"ports"`
	} `yaml:"egress"`
}

// checkIngress asserts that only /slack/ and /discord/ reach the Service,
// over TLS for every host.
func checkIngress(t *testing.T, ing ingressSpec, service string) {
	t.Helper()
	if ing.DefaultBackend != nil {
		t.Error("Ingress has a defaultBackend: every path, /metrics included, would be public")
	}
	tlsHosts := map[string]bool{}
	for _, tls := range ing.TLS {
		if tls.SecretName == "" {
			t.Errorf("Ingress tls for %v names no certificate Secret", tls.Hosts)
		}
		for _, h := range tls.Hosts {
			tlsHosts[h] = true
		}
	}
	var paths []string
	for _, r := range ing.Rules {
		if r.Host == "" || !tlsHosts[r.Host] {
			t.Errorf("Ingress rule for host %q is not covered by tls %v", r.Host, tlsHosts)
		}
		for _, p := range r.HTTP.Paths {
			paths = append(paths, p.Path)
			if p.PathType != "Prefix" {
				t.Errorf("Ingress path %s: pathType %q, want Prefix", p.Path, p.PathType)
			}
			if p.Backend.Service.Name != service || p.Backend.Service.Port.Name != "http" {
				t.Errorf("Ingress path %s: backend %+v, want Service %s port http", p.Path, p.Backend.Service, service)
			}
		}
	}
	slices.Sort(paths)
	if want := []string{"/discord/", "/slack/"}; !slices.Equal(paths, want) {
		t.Errorf("Ingress paths: got %q, want %q: /metrics, /healthz and /readyz stay internal", paths, want)
	}
}

// checkNetworkPolicy asserts ingress only to the HTTP port from selected
// namespaces, and egress only to DNS, HTTPS and PostgreSQL.
func checkNetworkPolicy(t *testing.T, np netpolSpec, podLabels map[string]string) {
	t.Helper()
	if !subset(np.PodSelector.MatchLabels, podLabels) {
		t.Errorf("NetworkPolicy podSelector %v does not select the pods %v", np.PodSelector.MatchLabels, podLabels)
	}
	if !slices.Contains(np.PolicyTypes, "Ingress") || !slices.Contains(np.PolicyTypes, "Egress") {
		t.Errorf("NetworkPolicy policyTypes %v, want Ingress and Egress", np.PolicyTypes)
	}
	if len(np.Ingress) == 0 {
		t.Error("NetworkPolicy allows no ingress: Slack, Discord and Prometheus could not connect")
	}
	for i, rule := range np.Ingress {
		if len(rule.From) == 0 {
			t.Errorf("NetworkPolicy ingress rule %d: no from, which allows every source", i)
		}
		for _, f := range rule.From {
			if f.NamespaceSelector == nil || len(f.NamespaceSelector.MatchLabels) == 0 || f.IPBlock != nil {
				t.Errorf("NetworkPolicy ingress rule %d: from %+v, want a namespace selected by label", i, f)
			}
		}
		if len(rule.Ports) != 1 || rule.Ports[0].Port != "http" {
			t.Errorf("NetworkPolicy ingress rule %d: ports %+v, want only http", i, rule.Ports)
		}
	}
	var got []int
	for i, rule := range np.Egress {
		if len(rule.Ports) == 0 {
			t.Errorf("NetworkPolicy egress rule %d: no ports, which allows every port", i)
		}
		for _, p := range rule.Ports {
			n, ok := p.Port.(int)
			if !ok {
				t.Errorf("NetworkPolicy egress rule %d: port %v, want a number", i, p.Port)
			}
			got = append(got, n)
		}
	}
	slices.Sort(got)
	got = slices.Compact(got)
	if want := []int{53, 443, 5432}; !slices.Equal(got, want) {
		t.Errorf("NetworkPolicy egress ports: got %v, want %v (DNS, HTTPS, PostgreSQL)", got, want)
	}
}

func TestIngressExposesOnlyChatEndpoints(t *testing.T) {
	all := manifests(t)
	checkIngress(t, spec[ingressSpec](t, one(t, all, "Ingress")), one(t, all, "Service").Metadata.Name)
}

func TestNetworkPolicyAllowsOnlyWhatTheBotNeeds(t *testing.T) {
	all := manifests(t)
	d := spec[deploymentSpec](t, one(t, all, "Deployment"))
	checkNetworkPolicy(t, spec[netpolSpec](t, one(t, all, "NetworkPolicy")), d.Template.Metadata.Labels)
}
