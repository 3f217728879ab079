//go:build long

package deploy

import (
	"bytes"
	"errors"
	"io"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"go.yaml.in/yaml/v3"
)

// helmTemplate renders the chart with the real helm (.ci/run installs it)
// and returns its objects by kind.
func helmTemplate(t *testing.T, release string, set ...string) map[string][]object {
	t.Helper()
	args := []string{"template", release, "helm/countersign"}
	for _, s := range set {
		args = append(args, "--set", s)
	}
	out, err := exec.Command("helm", args...).Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			t.Fatalf("helm %s: %v\n%s", strings.Join(args, " "), err, ee.Stderr)
		}
		t.Fatalf("helm %s: %v (is helm on PATH? .ci/run installs it)", strings.Join(args, " "), err)
	}
	byKind := map[string][]object{}
	for _, doc := range decodeAll(t, "helm template", out) {
		var o object
		if err := doc.Decode(&o); err != nil {
			t.Fatal(err)
		}
		byKind[o.Kind] = append(byKind[o.Kind], o)
	}
	return byKind
}

// decodeAll returns every non-empty YAML document of data.
func decodeAll(t *testing.T, name string, data []byte) []*yaml.Node {
	t.Helper()
	var docs []*yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	for {
		var n yaml.Node
		err := dec.Decode(&n)
		if errors.Is(err, io.EOF) {
			return docs
		}
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if len(n.Content) > 0 && n.Content[0].Kind == yaml.MappingNode {
			docs = append(docs, &n)
		}
	}
}

// TestHelmChartRendersTheKustomization renders the chart with its default
// values as the release "countersign" and compares every object with the
// one kustomization.yaml applies (its image set as the kustomization sets
// it): the chart and the manifests must not drift apart.
func TestHelmChartRendersTheKustomization(t *testing.T) {
	out, err := exec.Command("helm", "template", "countersign", "helm/countersign").Output()
	if err != nil {
		t.Fatalf("helm template: %v (is helm on PATH? .ci/run installs it)", err)
	}
	got := map[string]any{}
	for _, doc := range decodeAll(t, "helm template", out) {
		var m map[string]any
		if err := doc.Decode(&m); err != nil {
			t.Fatal(err)
		}
		// The chart rolls the pods when the config changes; kubectl
		// apply -k has no equivalent.
		if m["kind"] == "Deployment" {
			ann := dig(m, "spec", "template", "metadata", "annotations").(map[string]any)
			if _, ok := ann["checksum/config"]; !ok {
				t.Error("the chart's Deployment has no checksum/config annotation")
			}
			delete(ann, "checksum/config")
		}
		got[key(m)] = m
	}

	var kust struct {
		Resources []string `yaml:"resources"`
		Images    []struct {
			Name    string `yaml:"name"`
			NewName string `yaml:"newName"`
			NewTag  string `yaml:"newTag"`
		} `yaml:"images"`
	}
	data, err := os.ReadFile("kubernetes/kustomization.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(data, &kust); err != nil {
		t.Fatal(err)
	}
	if len(kust.Images) != 1 {
		t.Fatalf("kustomization images: %+v, want one", kust.Images)
	}
	img := kust.Images[0]
	want := map[string]any{}
	for _, f := range kust.Resources {
		data, err := os.ReadFile("kubernetes/" + f)
		if err != nil {
			t.Fatal(err)
		}
		for _, doc := range decodeAll(t, f, data) {
			var m map[string]any
			if err := doc.Decode(&m); err != nil {
				t.Fatal(err)
			}
			if m["kind"] == "Deployment" {
				pod := dig(m, "spec", "template", "spec").(map[string]any)
				for _, list := range []string{"initContainers", "containers"} {
					for _, c := range pod[list].([]any) {
						c := c.(map[string]any)
						if c["image"] == img.Name {
							c["image"] = img.NewName + ":" + img.NewTag
						}
					}
				}
			}
			want[key(m)] = m
		}
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("helm template vs deploy/kubernetes (-kustomization +chart):\n%s", diff)
	}
}

// TestHelmChartWithOtherValues renders the chart under another release
// name and with values changed: names follow the release, the Ingress
// still exposes only the chat endpoints, and the switches work.
func TestHelmChartWithOtherValues(t *testing.T) {
	all := helmTemplate(t, "prod", "image.tag=v1.2.3", "ingress.host=bot.contoso.com", "existingSecret=bot-secrets")
	flat := map[string][]object{"rendered": nil}
	for _, objs := range all {
		flat["rendered"] = append(flat["rendered"], objs...)
	}
	svc := one(t, flat, "Service")
	if svc.Metadata.Name != "prod-countersign" {
		t.Errorf("Service name %q, want prod-countersign", svc.Metadata.Name)
	}
	checkIngress(t, spec[ingressSpec](t, one(t, flat, "Ingress")), svc.Metadata.Name)
	d := spec[deploymentSpec](t, one(t, flat, "Deployment"))
	checkNetworkPolicy(t, spec[netpolSpec](t, one(t, flat, "NetworkPolicy")), d.Template.Metadata.Labels)
	for _, c := range append(d.Template.Spec.InitContainers, d.Template.Spec.Containers...) {
		if c.Image != "ghcr.io/countersign/countersign:v1.2.3" {
			t.Errorf("container %s: image %q, want the tag set", c.Name, c.Image)
		}
		if len(c.EnvFrom) != 1 || c.EnvFrom[0].SecretRef == nil || c.EnvFrom[0].SecretRef.Name != "bot-secrets" {
			t.Errorf("container %s: envFrom %+v, want the Secret bot-secrets", c.Name, c.EnvFrom)
		}
	}

	off := helmTemplate(t, "prod", "ingress.enabled=false", "networkPolicy.enabled=false")
	for _, kind := range []string{"Ingress", "NetworkPolicy"} {
		if n := len(off[kind]); n != 0 {
			t.Errorf("%s disabled: rendered %d", kind, n)
		}
	}
	if len(off["Deployment"]) != 1 {
		t.Errorf("Deployments rendered with ingress and network policy off: %d, want 1", len(off["Deployment"]))
	}
}

func key(m map[string]any) string {
	name, _ := dig(m, "metadata", "name").(string)
	return m["kind"].(string) + "/" + name
}

// dig walks nested maps.
func dig(m map[string]any, path ...string) any {
	var v any = m
	for _, p := range path {
		mm, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = mm[p]
	}
	return v
}
