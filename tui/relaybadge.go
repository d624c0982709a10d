package tui

import (
	"strings"
	"time"

	"veil/client"
)

// relayBadge is the header's words for a 1:1 chat on two relays
// (spec/client.md §7.5): the relays the peer receives on, a relay down
// with how long, e.g. "via A:1 · B:2 down 4m". A chat on one relay shows
// nothing.
func relayBadge(c client.ChatInfo, now time.Time) string {
	var up, down []string
	seen := map[string]bool{}
	for _, r := range c.Relays {
		if r.Ours || r.State == "moving" || seen[r.Relay] {
			continue
		}
		seen[r.Relay] = true
		name := client.SanitizeLine(r.Relay)
		if r.State == "down" {
			d := now.Sub(r.Since).Truncate(time.Minute)
			down = append(down, name+" down "+client.FormatDuration(max(d, time.Minute)))
			continue
		}
		up = append(up, name)
	}
	if len(up)+len(down) < 2 {
		return ""
	}
	out := down
	if len(up) > 0 {
		out = append([]string{"via " + strings.Join(up, ", ")}, down...)
	}
	return strings.Join(out, " · ")
}
