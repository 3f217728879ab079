package kubeschema

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/util/yaml"
	sigsyaml "sigs.k8s.io/yaml"
)

// typed returns a fresh object of the API type for apiVersion and kind.
func typed(apiVersion, kind string) (any, bool) {
	switch apiVersion + " " + kind {
	case "v1 ConfigMap":
		return &corev1.ConfigMap{}, true
	case "v1 Secret":
		return &corev1.Secret{}, true
	case "v1 Service":
		return &corev1.Service{}, true
	case "v1 ServiceAccount":
		return &corev1.ServiceAccount{}, true
	case "apps/v1 Deployment":
		return &appsv1.Deployment{}, true
	case "policy/v1 PodDisruptionBudget":
		return &policyv1.PodDisruptionBudget{}, true
	case "networking.k8s.io/v1 Ingress":
		return &networkingv1.Ingress{}, true
	case "networking.k8s.io/v1 NetworkPolicy":
		return &networkingv1.NetworkPolicy{}, true
	}
	return nil, false
}

// validate decodes every document of data strictly into its API type and
// returns the kinds it found.
func validate(t *testing.T, name string, data []byte) []string {
	t.Helper()
	var kinds []string
	r := yaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	for i := 0; ; i++ {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			return kinds
		}
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		var head struct {
			APIVersion string `json:"apiVersion"`
			Kind       string `json:"kind"`
		}
		if err := sigsyaml.Unmarshal(doc, &head); err != nil {
			t.Fatalf("%s document %d: %v", name, i, err)
		}
		if head.Kind == "" {
			continue // an empty document
		}
		if head.Kind == "Kustomization" {
			continue // not an API object
		}
		obj, ok := typed(head.APIVersion, head.Kind)
		if !ok {
			t.Errorf("%s document %d: %s %s is not a kind these tests know; add it to typed", name, i, head.APIVersion, head.Kind)
			continue
		}
		if err := sigsyaml.UnmarshalStrict(doc, obj); err != nil {
			t.Errorf("%s: %s: %v", name, head.Kind, err)
		}
		kinds = append(kinds, head.Kind)
	}
}

func TestManifestsMatchTheAPITypes(t *testing.T) {
	files, err := filepath.Glob("../kubernetes/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no manifests: %v", err)
	}
	var n int
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		n += len(validate(t, f, data))
	}
	if n < len(files)-1 {
		t.Errorf("validated %d objects in %d files", n, len(files))
	}
}

func TestHelmChartMatchesTheAPITypes(t *testing.T) {
	for _, set := range [][]string{nil, {"ingress.enabled=false", "networkPolicy.enabled=false"}} {
		args := []string{"template", "countersign", "../helm/countersign"}
		for _, s := range set {
			args = append(args, "--set", s)
		}
		out, err := exec.Command("helm", args...).Output()
		if err != nil {
			t.Fatalf("helm %s: %v (is helm on PATH? .ci/run installs it)", strings.Join(args, " "), err)
		}
		kinds := validate(t, "helm "+strings.Join(args, " "), out)
		if len(kinds) < 5 {
			t.Errorf("helm %v rendered %v, want at least 5 objects", set, kinds)
		}
	}
}

// A misspelt field must fail: the check is only worth having if strict.
func TestUnknownFieldFails(t *testing.T) {
	obj, _ := typed("v1", "Service")
	err := sigsyaml.UnmarshalStrict([]byte("apiVersion: v1\nkind: Service\nspec:\n  slector: {a: b}\n"), obj)
	if err == nil || !strings.Contains(err.Error(), "slector") {
		t.Errorf("got %v, want an error naming the unknown field slector", err)
	}
}
