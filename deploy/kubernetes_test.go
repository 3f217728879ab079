package deploy

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"go.yaml.in/yaml/v3"

	"github.com/countersign/countersign/internal/config"
)

// The parts of the Kubernetes objects the tests look at.

type object struct {
	APIVersion string `yaml:"apiVersion"`
	Kind       string `yaml:"kind"`
	Metadata   struct {
		Name      string            `yaml:"name"`
		Namespace string            `yaml:"namespace"`
		Labels    map[string]string `yaml:"labels"`
	} `yaml:"metadata"`
	Spec       yaml.Node         `yaml:"spec"`
	Data       map[string]string `yaml:"data"`
	StringData map[string]string `yaml:"stringData"`
	// ServiceAccount
	AutomountServiceAccountToken *bool `yaml:"automountServiceAccountToken"`
	// Kustomization
	Resources []string `yaml:"resources"`
}

type deploymentSpec struct {
	Replicas int `yaml:"replicas"`
	Selector struct {
		MatchLabels map[string]string `yaml:"matchLabels"`
	} `yaml:"selector"`
	Template struct {
		Metadata struct {
			Labels map[string]string `yaml:"labels"`
		} `yaml:"metadata"`
		Spec podSpec `yaml:"spec"`
	} `yaml:"template"`
}

type podSpec struct {
	ServiceAccountName           string `yaml:"serviceAccountName"`
	AutomountServiceAccountToken *bool  `yaml:"automountServiceAccountToken"`
	SecurityContext              struct {
		RunAsNonRoot   *bool   `yaml:"runAsNonRoot"`
		RunAsUser      *int    `yaml:"runAsUser"`
		SeccompProfile seccomp `yaml:"seccompProfile"`
	} `yaml:"securityContext"`
	InitContainers []container `yaml:"initContainers"`
	Containers     []container `yaml:"containers"`
	Volumes        []struct {
		Name      string `yaml:"name"`
		ConfigMap *struct {
			Name string `yaml:"name"`
		} `yaml:"configMap"`
	} `yaml:"volumes"`
}

type seccomp struct {
	Type string `yaml:"type"`
}

type container struct {
	Name  string   `yaml:"name"`
	Image string   `yaml:"image"`
	Args  []string `yaml:"args"`
	Ports []struct {
		Name          string `yaml:"name"`
		ContainerPort int    `yaml:"containerPort"`
	} `yaml:"ports"`
	Env []struct {
		Name  string  `yaml:"name"`
		Value *string `yaml:"value"`
	} `yaml:"env"`
	EnvFrom []struct {
		SecretRef *struct {
			Name string `yaml:"name"`
		} `yaml:"secretRef"`
	} `yaml:"envFrom"`
	VolumeMounts []struct {
		Name      string `yaml:"name"`
		MountPath string `yaml:"mountPath"`
	} `yaml:"volumeMounts"`
	SecurityContext *struct {
		RunAsNonRoot             *bool `yaml:"runAsNonRoot"`
		AllowPrivilegeEscalation *bool `yaml:"allowPrivilegeEscalation"`
		Privileged               *bool `yaml:"privileged"`
		ReadOnlyRootFilesystem   *bool `yaml:"readOnlyRootFilesystem"`
		Capabilities             struct {
			Drop []string `yaml:"drop"`
			Add  []string `yaml:"add"`
		} `yaml:"capabilities"`
		SeccompProfile seccomp `yaml:"seccompProfile"`
	} `yaml:"securityContext"`
	LivenessProbe  *probe `yaml:"livenessProbe"`
	ReadinessProbe *probe `yaml:"readinessProbe"`
	Resources      struct {
		Limits map[string]string `yaml:"limits"`
	} `yaml:"resources"`
}

type probe struct {
	HTTPGet struct {
		Path string `yaml:"path"`
		Port string `yaml:"port"`
	} `yaml:"httpGet"`
	TimeoutSeconds int `yaml:"timeoutSeconds"`
}

type serviceSpec struct {
	Selector map[string]string `yaml:"selector"`
	Ports    []struct {
		TargetPort string `yaml:"targetPort"`
	} `yaml:"ports"`
}

type pdbSpec struct {
	MinAvailable int `yaml:"minAvailable"`
	Selector     struct {
		MatchLabels map[string]string `yaml:"matchLabels"`
	} `yaml:"selector"`
}

// manifests parses every document of every YAML file in kubernetes/, by
// file name.
func manifests(t *testing.T) map[string][]object {
	t.Helper()
	files, err := filepath.Glob("kubernetes/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no manifests in kubernetes/: %v", err)
	}
	out := map[string][]object{}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		dec := yaml.NewDecoder(bytes.NewReader(data))
		for {
			var o object
			err := dec.Decode(&o)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			out[filepath.Base(f)] = append(out[filepath.Base(f)], o)
		}
	}
	return out
}

// one returns the only object of kind in the manifests.
func one(t *testing.T, all map[string][]object, kind string) object {
	t.Helper()
	var found []object
	for _, objs := range all {
		for _, o := range objs {
			if o.Kind == kind {
				found = append(found, o)
			}
		}
	}
	if len(found) != 1 {
		t.Fatalf("found %d objects of kind %s, want 1", len(found), kind)
	}
	return found[0]
}

func spec[T any](t *testing.T, o object) T {
	t.Helper()
	var s T
	if err := o.Spec.Decode(&s); err != nil {
		t.Fatalf("%s %s: spec: %v", o.Kind, o.Metadata.Name, err)
	}
	return s
}

func TestManifestsParseAndNameNoNamespace(t *testing.T) {
	all := manifests(t)
	for file, objs := range all {
		for i, o := range objs {
			if o.APIVersion == "" || o.Kind == "" {
				t.Errorf("%s document %d: apiVersion %q kind %q, want both", file, i, o.APIVersion, o.Kind)
			}
			if o.Kind != "Kustomization" && o.Metadata.Name == "" {
				t.Errorf("%s %s: no metadata.name", file, o.Kind)
			}
			if o.Metadata.Namespace != "" {
				t.Errorf("%s %s: names namespace %q; the manifests must be namespace-agnostic", file, o.Kind, o.Metadata.Namespace)
			}
		}
	}
	// kustomization.yaml applies every manifest but the example Secret.
	var want []string
	for f := range all {
		if f != "kustomization.yaml" && f != "secret.example.yaml" {
			want = append(want, f)
		}
	}
	got := slices.Clone(one(t, all, "Kustomization").Resources)
	slices.Sort(got)
	slices.Sort(want)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("kustomization resources (-want +got):\n%s", diff)
	}
}

func TestDeploymentSecurityAndProbes(t *testing.T) {
	all := manifests(t)
	d := spec[deploymentSpec](t, one(t, all, "Deployment"))
	pod := d.Template.Spec

	if d.Replicas < 2 {
		t.Errorf("replicas: got %d, want at least 2 for high availability", d.Replicas)
	}
	if !subset(d.Selector.MatchLabels, d.Template.Metadata.Labels) {
		t.Errorf("selector %v does not select the pod labels %v", d.Selector.MatchLabels, d.Template.Metadata.Labels)
	}
	if pod.SecurityContext.RunAsNonRoot == nil || !*pod.SecurityContext.RunAsNonRoot {
		t.Error("pod securityContext.runAsNonRoot: want true")
	}
	if u := pod.SecurityContext.RunAsUser; u == nil || *u == 0 {
		t.Error("pod securityContext.runAsUser: want a non-root uid (65532, distroless nonroot)")
	}
	if pod.SecurityContext.SeccompProfile.Type != "RuntimeDefault" {
		t.Errorf("pod seccompProfile: got %q, want RuntimeDefault", pod.SecurityContext.SeccompProfile.Type)
	}
	if pod.AutomountServiceAccountToken == nil || *pod.AutomountServiceAccountToken {
		t.Error("automountServiceAccountToken: want false; countersign calls no Kubernetes API")
	}
	sa := one(t, all, "ServiceAccount")
	if pod.ServiceAccountName != sa.Metadata.Name {
		t.Errorf("serviceAccountName %q, want the ServiceAccount %q", pod.ServiceAccountName, sa.Metadata.Name)
	}

	if len(pod.InitContainers) != 1 || len(pod.InitContainers[0].Args) == 0 || pod.InitContainers[0].Args[0] != "migrate" {
		t.Errorf("init containers: want one running migrate, got %+v", pod.InitContainers)
	}
	if len(pod.Containers) != 1 {
		t.Fatalf("containers: got %d, want 1", len(pod.Containers))
	}
	main := pod.Containers[0]
	if cmp.Diff([]string{"serve", "--config", "/etc/countersign/countersign.yaml", "--migrate=false"}, main.Args) != "" {
		t.Errorf("main container args: got %q, want serve with the mounted config, migrations left to the init container", main.Args)
	}

	cm := one(t, all, "ConfigMap")
	for _, c := range append(slices.Clone(pod.InitContainers), pod.Containers...) {
		sc := c.SecurityContext
		if sc == nil {
			t.Errorf("container %s: no securityContext", c.Name)
			continue
		}
		for _, check := range []struct {
			name string
			v    *bool
			want bool
		}{
			{"runAsNonRoot", sc.RunAsNonRoot, true},
			{"allowPrivilegeEscalation", sc.AllowPrivilegeEscalation, false},
			{"readOnlyRootFilesystem", sc.ReadOnlyRootFilesystem, true},
		} {
			if check.v == nil || *check.v != check.want {
				t.Errorf("container %s: securityContext.%s: want %v", c.Name, check.name, check.want)
			}
		}
		if sc.Privileged != nil && *sc.Privileged {
			t.Errorf("container %s: privileged", c.Name)
		}
		if !slices.Contains(sc.Capabilities.Drop, "ALL") || len(sc.Capabilities.Add) > 0 {
			t.Errorf("container %s: capabilities drop %v add %v, want drop ALL and add none", c.Name, sc.Capabilities.Drop, sc.Capabilities.Add)
		}
		if sc.SeccompProfile.Type != "RuntimeDefault" {
			t.Errorf("container %s: seccompProfile %q, want RuntimeDefault", c.Name, sc.SeccompProfile.Type)
		}
		if c.Image != main.Image {
			t.Errorf("container %s: image %q, want the main container's %q", c.Name, c.Image, main.Image)
		}
		if c.Resources.Limits["memory"] == "" {
			t.Errorf("container %s: no memory limit", c.Name)
		}
		// Secrets come only from the Secret, never as literal values.
		if len(c.EnvFrom) != 1 || c.EnvFrom[0].SecretRef == nil || c.EnvFrom[0].SecretRef.Name != "countersign" {
			t.Errorf("container %s: envFrom %+v, want the Secret countersign", c.Name, c.EnvFrom)
		}
		for _, e := range c.Env {
			if e.Value != nil && strings.HasPrefix(e.Name, config.EnvPrefix) {
				t.Errorf("container %s: %s has a literal value; configuration goes in the ConfigMap, secrets in the Secret", c.Name, e.Name)
			}
		}
		mounted := map[string]string{}
		for _, m := range c.VolumeMounts {
			mounted[m.MountPath] = m.Name
		}
		if mounted["/etc/countersign"] == "" {
			t.Errorf("container %s: the config is not mounted at /etc/countersign", c.Name)
		}
		if mounted["/tmp"] == "" {
			t.Errorf("container %s: no writable /tmp under the read-only root", c.Name)
		}
	}
	var configVolume bool
	for _, v := range pod.Volumes {
		if v.ConfigMap != nil && v.ConfigMap.Name == cm.Metadata.Name {
			configVolume = true
		}
	}
	if !configVolume {
		t.Errorf("no volume from the ConfigMap %q", cm.Metadata.Name)
	}

	ports := map[string]int{}
	for _, p := range main.Ports {
		ports[p.Name] = p.ContainerPort
	}
	for _, tt := range []struct {
		name, path string
		p          *probe
	}{{"liveness", "/healthz", main.LivenessProbe}, {"readiness", "/readyz", main.ReadinessProbe}} {
		if tt.p == nil {
			t.Errorf("no %s probe", tt.name)
			continue
		}
		if tt.p.HTTPGet.Path != tt.path {
			t.Errorf("%s probe path: got %q, want %q", tt.name, tt.p.HTTPGet.Path, tt.path)
		}
		if _, ok := ports[tt.p.HTTPGet.Port]; !ok {
			t.Errorf("%s probe port %q is not a container port %v", tt.name, tt.p.HTTPGet.Port, ports)
		}
	}
	// /readyz bounds each check at 2s (internal/health); the probe must
	// wait longer or a slow check reads as a probe failure.
	if main.ReadinessProbe != nil && main.ReadinessProbe.TimeoutSeconds <= 2 {
		t.Errorf("readiness timeoutSeconds %d, want more than the 2s check timeout", main.ReadinessProbe.TimeoutSeconds)
	}

	svc := spec[serviceSpec](t, one(t, all, "Service"))
	if !subset(svc.Selector, d.Template.Metadata.Labels) {
		t.Errorf("Service selector %v does not select the pods %v", svc.Selector, d.Template.Metadata.Labels)
	}
	for _, p := range svc.Ports {
		if _, ok := ports[p.TargetPort]; !ok {
			t.Errorf("Service targetPort %q is not a container port %v", p.TargetPort, ports)
		}
	}
	pdb := spec[pdbSpec](t, one(t, all, "PodDisruptionBudget"))
	if !subset(pdb.Selector.MatchLabels, d.Template.Metadata.Labels) {
		t.Errorf("PodDisruptionBudget selector %v does not select the pods", pdb.Selector.MatchLabels)
	}
	if pdb.MinAvailable < 1 || pdb.MinAvailable >= d.Replicas {
		t.Errorf("PodDisruptionBudget minAvailable %d: want at least 1 and fewer than the %d replicas, so drains can proceed", pdb.MinAvailable, d.Replicas)
	}
}

// subset reports whether every label of sel is in labels.
func subset(sel, labels map[string]string) bool {
	if len(sel) == 0 {
		return false
	}
	for k, v := range sel {
		if labels[k] != v {
			return false
		}
	}
	return true
}

// placeholderMark is what the example Secret holds where a real value
// goes.
const placeholderMark = "CHANGE-ME"

// secretEnviron returns the example Secret's keys as the environment the
// pods get, each value passed through fill.
func secretEnviron(t *testing.T, fill func(string) string) (doc string, environ []string) {
	t.Helper()
	all := manifests(t)
	cm := one(t, all, "ConfigMap")
	doc, ok := cm.Data["countersign.yaml"]
	if !ok {
		t.Fatalf("ConfigMap %s has no countersign.yaml", cm.Metadata.Name)
	}
	secret := one(t, all, "Secret")
	for _, k := range slices.Sorted(maps.Keys(secret.StringData)) {
		environ = append(environ, k+"="+fill(secret.StringData[k]))
	}
	return doc, environ
}

// TestExampleSecretIsRefused loads the ConfigMap with the example Secret
// as written: every placeholder must be refused, by the key it sets, so
// that applying the example unchanged cannot start a server.
func TestExampleSecretIsRefused(t *testing.T) {
	secret := one(t, manifests(t), "Secret")
	// The Secret's variables and the keys they set.
	vars := map[string]string{
		"COUNTERSIGN_STORE_URL":                     "store.url",
		"COUNTERSIGN_AUDIT_KEY":                     "audit.key",
		"COUNTERSIGN_SLACK_BOT_TOKEN":               "slack.bot_token",
		"COUNTERSIGN_SLACK_SIGNING_SECRET":          "slack.signing_secret",
		"COUNTERSIGN_PROVIDERS_TMCAS_TOKEN":         "providers.tmcas.token",
		"COUNTERSIGN_PROVIDERS_GRAPH_CLIENT_SECRET": "providers.graph.client_secret",
	}
	if diff := cmp.Diff(slices.Sorted(maps.Keys(vars)), slices.Sorted(maps.Keys(secret.StringData))); diff != "" {
		t.Fatalf("the Secret's variables changed; update this test (-want +got):\n%s", diff)
	}
	var want []string
	for name, key := range vars {
		if config.EnvName(key) != name {
			t.Fatalf("%s sets %s, not %s", name, config.EnvName(key), key)
		}
		if !strings.Contains(secret.StringData[name], placeholderMark) {
			t.Errorf("%s holds no %s placeholder", name, placeholderMark)
		}
		want = append(want, key)
	}

	doc, environ := secretEnviron(t, func(v string) string { return v })
	_, err := config.Parse([]byte(doc), environ)
	var got []string
	for _, e := range unjoin(err) {
		var ke *config.KeyError
		if !errors.As(e, &ke) || !strings.Contains(ke.Msg, "placeholder") {
			t.Errorf("problem %q: want only placeholder problems", e)
			continue
		}
		got = append(got, ke.Key)
	}
	slices.Sort(want)
	slices.Sort(got)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("keys refused as placeholders (-want +got):\n%s", diff)
	}
}

// unjoin returns the problems errors.Join put together.
func unjoin(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	if err != nil {
		return []error{err}
	}
	return nil
}

// TestConfigIsValidWithTheSecret loads the ConfigMap's countersign.yaml
// with the example Secret's keys as the environment, placeholders filled
// with strong values, as the pods do: the configuration must validate,
// every Secret key must be a variable Countersign knows, and the ConfigMap
// must hold no secret.
func TestConfigIsValidWithTheSecret(t *testing.T) {
	doc, environ := secretEnviron(t, func(v string) string {
		b := make([]byte, 16)
		if _, err := rand.Read(b); err != nil {
			t.Fatal(err)
		}
		return strings.ReplaceAll(v, placeholderMark, hex.EncodeToString(b))
	})
	for _, want := range []string{"COUNTERSIGN_STORE_URL=", "COUNTERSIGN_AUDIT_KEY="} {
		if !slices.ContainsFunc(environ, func(e string) bool { return strings.HasPrefix(e, want) }) {
			t.Errorf("the Secret has no %s", strings.TrimSuffix(want, "="))
		}
	}
	cfg, err := config.Parse([]byte(doc), environ)
	if err != nil {
		t.Fatalf("countersign.yaml with the Secret's variables does not load:\n%v", err)
	}
	if !strings.HasPrefix(cfg.Store.URL, "postgres://") {
		t.Errorf("store.url: want PostgreSQL for replicas sharing one database")
	}

	for _, key := range []string{"bot_token", "signing_secret", "app_token", "token", "client_secret", "key", "url"} {
		if containsKey(doc, key) {
			t.Errorf("the ConfigMap sets %s; secrets belong in the Secret", key)
		}
	}
}

// containsKey reports whether a YAML document sets key at any depth.
func containsKey(doc, key string) bool {
	var n yaml.Node
	if err := yaml.Unmarshal([]byte(doc), &n); err != nil {
		return false
	}
	var walk func(*yaml.Node) bool
	walk = func(n *yaml.Node) bool {
		if n.Kind == yaml.MappingNode {
			for i := 0; i+1 < len(n.Content); i += 2 {
				k := n.Content[i].Value
				if k == key || k == key+"_file" {
					return true
				}
			}
		}
		for _, c := range n.Content {
			if walk(c) {
				return true
			}
		}
		return false
	}
	return walk(&n)
}
