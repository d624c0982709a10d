package client

import (
	"testing"
	"time"
)

// TestRelayHealthOutages: a failure hours after the previous one starts a
// new outage, so it does not count as down at once; failures close
// together for SlotDownAfter do.
func TestRelayHealthOutages(t *testing.T) {
	clk := newFakeClock()
	var h relayHealth
	h.failed("r", clk.Now(), SlotDownAfter)
	clk.Add(3 * time.Hour)
	start := clk.Now()
	h.failed("r", clk.Now(), SlotDownAfter)
	if since := h.downSince("r", clk.Now(), SlotDownAfter); !since.IsZero() {
		t.Fatalf("one failure now and one hours ago count as down since %v", since)
	}
	clk.Add(SlotDownAfter / 2)
	h.failed("r", clk.Now(), SlotDownAfter)
	clk.Add(SlotDownAfter)
	h.failed("r", clk.Now(), SlotDownAfter)
	if since := h.downSince("r", clk.Now(), SlotDownAfter); !since.Equal(start) {
		t.Fatalf("down since %v, want %v", since, start)
	}
	h.ok("r")
	h.failed("r", clk.Now(), SlotDownAfter)
	if since := h.downSince("r", clk.Now(), SlotDownAfter); !since.IsZero() {
		t.Fatal("an OK did not end the outage")
	}
}
