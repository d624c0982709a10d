package client

import (
	"fmt"
	"strings"
	"time"
)

// MaxDuration is the longest duration ParseDuration accepts: ten years,
// far past any timer or expiry a chat needs.
const MaxDuration = 10 * 365 * 24 * time.Hour

// ParseDuration reads a duration a user typed for a timer or an expiry
// (spec/client.md §10.4): "off" or "0" for none, or an optional sign and
// one or more terms of a decimal number and a unit, as Go's
// time.ParseDuration reads them (ns, us, µs, ms, s, m, h), with two more
// units: d (24 h) and w (7 d). Examples: 90s, 10m, 2h, 1.5h, 7d, 2w, 1d12h. A negative result or
// one past MaxDuration is an error. The caller decides what zero means
// (off, or a default).
func ParseDuration(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	switch s {
	case "off", "0":
		return 0, nil
	case "":
		return 0, badInput("give a duration such as 10m, 2h or 7d, or off")
	}
	bad := badInput("%q is not a duration such as 10m, 2h or 7d (at most ten years)", s)
	rest, neg := s, false
	if rest[0] == '-' || rest[0] == '+' {
		neg, rest = rest[0] == '-', rest[1:]
	}
	switch rest {
	case "":
		return 0, bad
	case "0":
		return 0, nil
	}
	var total time.Duration
	for rest != "" {
		i := 0
		for i < len(rest) && (rest[i] == '.' || rest[i] >= '0' && rest[i] <= '9') {
			i++
		}
		j := i
		for j < len(rest) && rest[j] != '.' && (rest[j] < '0' || rest[j] > '9') {
			j++
		}
		num, unit := rest[:i], rest[i:j]
		rest = rest[j:]
		if num == "" || unit == "" {
			return 0, bad
		}
		scale := time.Duration(1)
		switch unit {
		case "d":
			unit, scale = "h", 24
		case "w":
			unit, scale = "h", 7*24
		}
		d, err := time.ParseDuration(num + unit)
		if err != nil || d > MaxDuration/scale {
			return 0, bad
		}
		if total += d * scale; total > MaxDuration {
			return 0, bad
		}
	}
	if neg && total != 0 {
		return 0, bad
	}
	return total, nil
}

// FormatDuration writes d as ParseDuration reads it back, in the largest
// unit that divides it: 7d, 36h, 90m; other durations in Go's form (1m30s).
func FormatDuration(d time.Duration) string {
	switch {
	case d%(24*time.Hour) == 0:
		return fmt.Sprintf("%dd", d/(24*time.Hour))
	case d%time.Hour == 0:
		return fmt.Sprintf("%dh", d/time.Hour)
	case d%time.Minute == 0:
		return fmt.Sprintf("%dm", d/time.Minute)
	}
	return d.String()
}
