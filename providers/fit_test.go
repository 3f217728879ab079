package providers_test

import (
	"strconv"
	"testing"

	"github.com/countersign/countersign/approvals"
	"github.com/countersign/countersign/providers"
)

// capped is a stub with a per-call cap.
type capped struct {
	stub
	max int
}

func (c capped) MaxItems(approvals.Action) int { return c.max }

// rowed is a capped stub whose items carry as many rows as their Target
// says.
type rowed struct{ capped }

func (rowed) Rows(it providers.Resolved) int {
	n, err := strconv.Atoi(it.Target)
	if err != nil {
		panic(err)
	}
	return n
}

func items(rows ...int) []providers.Resolved {
	out := make([]providers.Resolved, len(rows))
	for i, r := range rows {
		out[i] = providers.Resolved{Key: strconv.Itoa(i), Target: strconv.Itoa(r)}
	}
	return out
}

func TestFit(t *testing.T) {
	tests := []struct {
		name  string
		p     providers.Provider
		items []providers.Resolved
		want  int
	}{
		{"no cap takes all", stub{"tmcas"}, items(1, 1, 1), 3},
		{"item cap", capped{stub{"tmcas"}, 2}, items(5, 5, 5), 2},
		{"item cap above count", capped{stub{"tmcas"}, 10}, items(1, 1), 2},
		{"rows fit exactly", rowed{capped{stub{"tmcas"}, 4}}, items(1, 3, 1), 2},
		{"rows stop before the item that overflows", rowed{capped{stub{"tmcas"}, 4}}, items(2, 1, 2), 2},
		{"all rows fit", rowed{capped{stub{"tmcas"}, 10}}, items(2, 3, 4), 3},
		{"a first item over the cap goes alone", rowed{capped{stub{"tmcas"}, 2}}, items(3, 1), 1},
		{"one row each is the item cap", rowed{capped{stub{"tmcas"}, 2}}, items(1, 1, 1), 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := providers.Fit(tt.p, approvals.ActionPurgeMail, tt.items); got != tt.want {
				t.Errorf("Fit: got %d, want %d", got, tt.want)
			}
		})
	}
}
