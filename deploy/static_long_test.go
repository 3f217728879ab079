//go:build long

package deploy

import (
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestDockerfileBuildsAStaticBinary runs the Dockerfile's go build here and
// checks that the binary is static (it must run on distroless/static) and
// carries the version.
func TestDockerfileBuildsAStaticBinary(t *testing.T) {
	out := filepath.Join(t.TempDir(), "countersign")
	env, args := buildCommand(t, out, "v9.9.9-dockerfile-test")
	if !slices.Contains(env, "CGO_ENABLED=0") {
		t.Errorf("build environment %q lacks CGO_ENABLED=0", env)
	}
	for _, want := range []string{"-trimpath", "./cmd/countersign"} {
		if !slices.Contains(args, want) {
			t.Errorf("go build %q lacks %s", args, want)
		}
	}
	cmd := exec.Command("go", args...)
	cmd.Dir = ".."
	cmd.Env = append(os.Environ(), env...)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, b)
	}

	f, err := elf.Open(out)
	if err != nil {
		t.Fatalf("reading the binary: %v", err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Error("the binary has a dynamic loader (PT_INTERP): it is not static")
		}
	}
	if libs, _ := f.ImportedLibraries(); len(libs) > 0 {
		t.Errorf("the binary links %v: it is not static", libs)
	}
	if f.Section(".symtab") != nil {
		t.Error("the binary has a symbol table: -s was not applied")
	}

	v, err := exec.Command(out, "version").CombinedOutput()
	if err != nil {
		t.Fatalf("countersign version: %v\n%s", err, v)
	}
	if !strings.HasPrefix(string(v), "countersign v9.9.9-dockerfile-test ") {
		t.Errorf("countersign version: got %q, want the version set by -ldflags", v)
	}
}
