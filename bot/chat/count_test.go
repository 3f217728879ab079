package chat_test

import (
	"testing"

	"github.com/countersign/countersign/bot/chat"
)

func TestCount(t *testing.T) {
	tests := []struct {
		n    int
		noun string
		want string
	}{
		{1, "target", "1 target"},
		{0, "target", "0 targets"},
		{3, "request", "3 requests"},
		{2, "mailbox", "2 mailboxes"},
		{1, "mailbox", "1 mailbox"},
		{2, "address", "2 addresses"},
		{4, "more approval", "4 more approvals"},
	}
	for _, tt := range tests {
		if got := chat.Count(tt.n, tt.noun); got != tt.want {
			t.Errorf("Count(%d, %q) = %q, want %q", tt.n, tt.noun, got, tt.want)
		}
	}
}
