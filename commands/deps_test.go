package commands

import (
	"os/exec"
	"strings"
	"testing"
)

// TestCoreImportsNoIO keeps the command grammar and the approval rules free
// of chat SDKs, HTTP, SQL and our own I/O packages (DESIGN §2, STYLE 4).
func TestCoreImportsNoIO(t *testing.T) {
	forbidden := []string{
		"net/http", "database/sql", "modernc.org/sqlite", "github.com/jackc/pgx",
		"github.com/slack-go/slack", "github.com/bwmarrin/discordgo", "github.com/riverqueue",
		"github.com/countersign/countersign/internal", "github.com/countersign/countersign/providers",
		"github.com/countersign/countersign/bot",
	}
	for _, pkg := range []string{"github.com/countersign/countersign/commands", "github.com/countersign/countersign/approvals"} {
		out, err := exec.Command("go", "list", "-deps", pkg).Output()
		if err != nil {
			t.Fatalf("go list -deps %s: %v", pkg, err)
		}
		deps := strings.Fields(string(out))
		if len(deps) < 5 {
			t.Fatalf("go list -deps %s listed only %v", pkg, deps)
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
