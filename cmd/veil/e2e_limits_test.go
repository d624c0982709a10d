package main

import (
	"fmt"
	"strings"
	"testing"

	"veil/client"
)

// TestE2ETextLimit: veil send takes a text of exactly client.MaxText bytes
// and refuses one byte more with a clear message (spec/client.md §5.7).
func TestE2ETextLimit(t *testing.T) {
	t.Parallel()
	r := newTestRelay(t)
	ana := newProfile(t, r.addr)
	ben := newProfile(t, r.addr)
	anaChat, _ := connect(t, ana, ben)

	ana.ok("send", anaChat, strings.Repeat("x", client.MaxText))
	errOut := ana.fails(1, "send", anaChat, strings.Repeat("x", client.MaxText+1))
	if want := fmt.Sprintf("message too long (%d bytes, at most %d)", client.MaxText+1, client.MaxText); !strings.Contains(errOut, want) {
		t.Fatalf("stderr %q, want it to say %q", errOut, want)
	}
}
