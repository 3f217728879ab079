package deploy

import (
	"bufio"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// instruction is one Dockerfile instruction with its continuation lines
// joined.
type instruction struct {
	Op, Args string
}

// dockerfile reads ../Dockerfile into stages of instructions.
func dockerfile(t *testing.T) [][]instruction {
	t.Helper()
	f, err := os.Open("../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var stages [][]instruction
	var cur string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if cur == "" && (line == "" || strings.HasPrefix(line, "#")) {
			continue
		}
		if rest, ok := strings.CutSuffix(line, "\\"); ok {
			cur += rest + " "
			continue
		}
		cur += line
		op, args, _ := strings.Cut(cur, " ")
		cur = ""
		in := instruction{strings.ToUpper(op), strings.TrimSpace(args)}
		if in.Op == "FROM" {
			stages = append(stages, nil)
		}
		if len(stages) == 0 {
			t.Fatalf("Dockerfile: %s before the first FROM", in.Op)
		}
		stages[len(stages)-1] = append(stages[len(stages)-1], in)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return stages
}

func find(stage []instruction, op string) []string {
	var out []string
	for _, in := range stage {
		if in.Op == op {
			out = append(out, in.Args)
		}
	}
	return out
}

func TestDockerfileFinalStage(t *testing.T) {
	stages := dockerfile(t)
	if len(stages) < 2 {
		t.Fatalf("got %d stages, want a builder and a final stage", len(stages))
	}
	if from := stages[0][0].Args; !strings.Contains(from, "golang:1.26") {
		t.Errorf("builder: FROM %s, want golang:1.26", from)
	}
	final := stages[len(stages)-1]
	from := final[0].Args
	if from != "gcr.io/distroless/static-debian12:nonroot" && from != "scratch" {
		t.Errorf("final stage: FROM %s, want distroless static nonroot (no shell, CA certificates, tzdata)", from)
	}
	for _, tt := range []struct{ op, want string }{
		{"USER", "nonroot:nonroot"},
		{"EXPOSE", "8080"},
		{"ENTRYPOINT", `["/countersign"]`},
		{"CMD", `["serve"]`},
	} {
		got := find(final, tt.op)
		if len(got) != 1 || got[0] != tt.want {
			t.Errorf("final stage %s: got %q, want %q", tt.op, got, tt.want)
		}
	}
	if runs := find(final, "RUN"); len(runs) != 0 {
		t.Errorf("final stage runs %q; distroless has no shell", runs)
	}
}

// buildCommand returns the environment and arguments of the builder's
// "go build", with the build arguments filled in for this machine.
func buildCommand(t *testing.T, out, version string) (env, args []string) {
	t.Helper()
	for _, run := range find(dockerfile(t)[0], "RUN") {
		if !strings.Contains(run, "go build") {
			continue
		}
		cmdline, _, _ := strings.Cut(run, "&&")
		repl := strings.NewReplacer("${VERSION}", version, "$TARGETOS", runtime.GOOS, "$TARGETARCH", runtime.GOARCH)
		words := split(t, repl.Replace(cmdline))
		for len(words) > 0 && strings.HasPrefix(words[0], "--mount=") {
			words = words[1:]
		}
		for len(words) > 0 && strings.Contains(words[0], "=") {
			env, words = append(env, words[0]), words[1:]
		}
		if len(words) < 2 || words[0] != "go" || words[1] != "build" {
			t.Fatalf("cannot read the go build command from %q", run)
		}
		for j := 0; j < len(words); j++ {
			if words[j] == "-o" && j+1 < len(words) {
				words[j+1] = out
			}
		}
		return env, words[1:]
	}
	t.Fatal("the builder stage has no go build")
	return nil, nil
}

// split splits a shell command line on blanks, honouring double quotes.
func split(t *testing.T, s string) []string {
	t.Helper()
	var words []string
	var b strings.Builder
	inWord, quoted := false, false
	for _, r := range s {
		switch {
		case r == '"':
			quoted, inWord = !quoted, true
		case (r == ' ' || r == '\t') && !quoted:
			if inWord {
				words = append(words, b.String())
				b.Reset()
				inWord = false
			}
		default:
			b.WriteRune(r)
			inWord = true
		}
	}
	if quoted {
		t.Fatalf("unbalanced quotes in %q", s)
	}
	if inWord {
		words = append(words, b.String())
	}
	return words
}

// TestDockerignoreKeepsBuildInputs checks that no .dockerignore pattern
// drops a file the build needs, and that local secrets and state are
// dropped.
func TestDockerignoreKeepsBuildInputs(t *testing.T) {
	data, err := os.ReadFile("../.dockerignore")
	if err != nil {
		t.Fatal(err)
	}
	var patterns []string
	for _, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if strings.HasPrefix(line, "!") || strings.Contains(line, "**") {
			t.Fatalf("pattern %q: the test only understands plain patterns; extend it", line)
		}
		patterns = append(patterns, strings.TrimPrefix(line, "/"))
	}
	ignored := func(rel string) bool {
		// A pattern matches the path or any directory above it.
		for p := rel; p != "." && p != "/"; p = filepath.Dir(p) {
			for _, pat := range patterns {
				if ok, _ := filepath.Match(pat, p); ok {
					return true
				}
			}
		}
		return false
	}

	var needed int
	err = filepath.WalkDir("..", func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel("..", path)
		if d.IsDir() {
			if rel == ".git" {
				return filepath.SkipDir
			}
			return nil
		}
		need := rel == "go.mod" || rel == "go.sum" ||
			(strings.HasSuffix(rel, ".go") && !strings.HasSuffix(rel, "_test.go") && !strings.HasPrefix(rel, "deploy/")) ||
			strings.Contains(rel, "/migrations/")
		if need {
			needed++
			if ignored(rel) {
				t.Errorf(".dockerignore drops %s, which the build needs", rel)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if needed < 10 {
		t.Fatalf("found only %d build inputs; is the walk rooted at the repository?", needed)
	}
	for _, secret := range []string{"countersign.yaml", "countersign.db", "prod.db-wal", ".env", ".git", "countersign", "tls.key"} {
		if !ignored(secret) {
			t.Errorf(".dockerignore keeps %s in the build context", secret)
		}
	}
}
