package commands

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// TestCoreImportsNoIO keeps the command grammar and the approval rules free
// of chat SDKs, HTTP, SQL and our own I/O packages (DESIGN §2, STYLE 4).
// Test files may import more (matrix_test.go imports providers); go list
// -deps without -test does not see them.
func TestCoreImportsNoIO(t *testing.T) {
	forbidden := []string{
		"net/http", "database/sql", "modernc.org/sqlite", "github.com/jackc/pgx", "github.com/mattn/go-sqlite3",
		"github.com/lib/pq", "github.com/slack-go/slack", "github.com/bwmarrin/discordgo", "github.com/riverqueue",
		"github.com/countersign/countersign/internal", "github.com/countersign/countersign/providers",
		"github.com/countersign/countersign/bot",
	}
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the go command is needed to list imports: %v", err)
	}
	for _, pkg := range []string{"github.com/countersign/countersign/commands", "github.com/countersign/countersign/approvals"} {
		out, err := exec.Command(goTool, "list", "-deps", pkg).Output()
		if err != nil {
			t.Fatalf("go list -deps %s: %v", pkg, err)
		}
		deps := strings.Fields(string(out))
		// The listing must be real: the package itself and the standard
		// library it certainly uses.
		for _, want := range []string{pkg, "strings"} {
			if !slices.Contains(deps, want) {
				t.Fatalf("go list -deps %s lacks %s: %v", pkg, want, deps)
			}
		}
		for _, d := range deps {
			for _, f := range forbidden {
				if d == f || strings.HasPrefix(d, f+"/") {
					t.Errorf("%s imports %s", pkg, d)
				}
			}
		}
	}
}
