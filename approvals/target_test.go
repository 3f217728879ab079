package approvals_test

import (
	"strings"
	"testing"

	"github.com/countersign/countersign/approvals"
)

// TestTargetShapes: the one shape check of each kind of message target.
func TestTargetShapes(t *testing.T) {
	longest := "<" + strings.Repeat("a", approvals.MaxMessageID-len("<@x>")) + "@x>"
	messageIDs := []struct {
		in   string
		want bool
	}{
		{"<abc123@mail.contoso.com>", true},
		{"<a@b>", true},
		{"<a@b@c>", true}, // the last @ splits; the left side may hold one
		{longest, true},
		{longest[:1] + "a" + longest[1:], false},
		{"abc123@mail.contoso.com", false},
		{"<abc123mail.contoso.com>", false},
		{"<@contoso.com>", false},
		{"<abc@>", false},
		{"<ab c@contoso.com>", false},
		{"<ab<c@contoso.com>", false},
		{"<abc@contoso.com\x7f>", false},
		{"<abé@contoso.com>", false},
		{"<>", false},
		{"", false},
	}
	guids := []struct {
		in   string
		want bool
	}{
		{"6c2a1f3e-4b5d-4e6f-8a9b-0c1d2e3f4a5b", true},
		{"6C2A1F3E-4B5D-4E6F-8A9B-0C1D2E3F4A5B", true},
		{"{6c2a1f3e-4b5d-4e6f-8a9b-0c1d2e3f4a5b}", false},
		{"6c2a1f3e4b5d4e6f8a9b0c1d2e3f4a5b", false},
		{"6c2a1f3e-4b5d-4e6f-8a9b-0c1d2e3f4a5g", false},
		{"6c2a1f3e-4b5d-4e6f-8a9b_0c1d2e3f4a5b", false},
		{"", false},
	}
	for _, tt := range messageIDs {
		if got := approvals.IsMessageID(tt.in); got != tt.want {
			t.Errorf("IsMessageID(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
	for _, tt := range guids {
		if got := approvals.IsGUID(tt.in); got != tt.want {
			t.Errorf("IsGUID(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}
