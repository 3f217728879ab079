package chat

import (
	"strconv"
	"strings"
)

// Count writes n of noun the way a message says it: "1 target",
// "3 targets", "2 mailboxes". noun is a singular English noun whose plural
// adds "s", or "es" after s and x.
func Count(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	if strings.HasSuffix(noun, "x") || strings.HasSuffix(noun, "s") {
		return strconv.Itoa(n) + " " + noun + "es"
	}
	return strconv.Itoa(n) + " " + noun + "s"
}
