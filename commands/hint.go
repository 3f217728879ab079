package commands

import (
	"strings"
	"unicode/utf8"
)

// suggest returns the candidates closest to s when they are close enough
// to be a likely typo: within one edit for short words and two for longer
// ones (a swap of neighbours is one edit), or s is the start of exactly one
// candidate ("purge" for purge-mail).
func suggest(s string, candidates []string) []string {
	s = strings.ToLower(s)
	n := utf8.RuneCountInString(s)
	if n < 2 || n > 64 {
		return nil
	}
	limit := 1
	if n > 4 {
		limit = 2
	}
	var best []string
	bestD := limit + 1
	for _, c := range candidates {
		d := distance(s, c)
		switch {
		case d < bestD:
			best, bestD = []string{c}, d
		case d == bestD:
			best = append(best, c)
		}
	}
	if len(best) > 0 {
		return best
	}
	var prefixed []string
	for _, c := range candidates {
		if n >= 3 && strings.HasPrefix(c, s) {
			prefixed = append(prefixed, c)
		}
	}
	if len(prefixed) == 1 {
		return prefixed
	}
	return nil
}

// distance is the optimal string alignment distance of a and b: insertions,
// deletions, substitutions and swaps of neighbours each count one.
func distance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	d := make([][]int, len(ra)+1)
	for i := range d {
		d[i] = make([]int, len(rb)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(ra); i++ {
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(ra)][len(rb)]
}

// orList joins words as "a", "a or b", "a, b or c".
func orList(words []string) string {
	switch len(words) {
	case 0:
		return ""
	case 1:
		return words[0]
	}
	return strings.Join(words[:len(words)-1], ", ") + " or " + words[len(words)-1]
}
