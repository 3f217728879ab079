package main

import (
	"errors"
	"flag"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// parseDuration reads a Go duration that may also count days: "7d",
// "1d12h", "90m". Its errors say what was wrong, not just "parse error".
func parseDuration(s string) (time.Duration, error) {
	const hint = "want a duration such as 90m, 24h or 7d"
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, errors.New("empty duration; " + hint)
	}
	var days time.Duration
	if i := strings.IndexByte(s, 'd'); i >= 0 {
		n, err := strconv.ParseUint(s[:i], 10, 16)
		if err != nil {
			return 0, fmt.Errorf("%q: days must be a whole number before the d; %s", s, hint)
		}
		days, s = time.Duration(n)*24*time.Hour, s[i+1:]
		if s == "" {
			return days, nil
		}
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		if _, numErr := strconv.ParseFloat(s, 64); numErr == nil {
			return 0, fmt.Errorf("%q has no unit; %s", s, hint)
		}
		return 0, fmt.Errorf("%q is not a duration; %s (units: d, h, m, s)", s, hint)
	}
	if days > 0 && d < 0 {
		return 0, fmt.Errorf("%q mixes signs; %s", s, hint)
	}
	return days + d, nil
}

// durationValue is a flag.Value for parseDuration.
type durationValue time.Duration

// durationFlag declares a duration flag on fs that accepts days.
func durationFlag(fs *flag.FlagSet, name string, value time.Duration, usage string) *time.Duration {
	p := new(time.Duration)
	*p = value
	fs.Var((*durationValue)(p), name, usage)
	return p
}

func (v *durationValue) Set(s string) error {
	d, err := parseDuration(s)
	if err != nil {
		return err
	}
	*v = durationValue(d)
	return nil
}

func (v *durationValue) String() string {
	if v == nil {
		return ""
	}
	return formatDuration(time.Duration(*v))
}

// formatDuration shows whole days as days: 168h is "7d".
func formatDuration(d time.Duration) string {
	const day = 24 * time.Hour
	if d > 0 && d%day == 0 {
		return fmt.Sprintf("%dd", d/day)
	}
	return d.String()
}
