package tui

import (
	"testing"
	"time"

	"veil/client"
)

func TestRelayBadge(t *testing.T) {
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	one := client.ChatInfo{Relays: []client.ChatRelay{{Relay: "a:1", Ours: true, State: "up"}, {Relay: "a:1", State: "up"}}}
	if got := relayBadge(one, now); got != "" {
		t.Errorf("one relay: %q", got)
	}
	two := client.ChatInfo{Relays: []client.ChatRelay{{Relay: "a:1", State: "up"}, {Relay: "b:2", Slot: 1, State: "down", Since: now.Add(-4 * time.Minute)}}}
	if got, want := relayBadge(two, now), "via a:1 · b:2 down 4m"; got != want {
		t.Errorf("B down: %q, want %q", got, want)
	}
	two.Relays[1].State = "up"
	if got, want := relayBadge(two, now), "via a:1, b:2"; got != want {
		t.Errorf("both up: %q, want %q", got, want)
	}
}
