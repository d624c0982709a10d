package relay

import (
	"testing"
	"time"

	"veil/relay/wire"
)

func TestFailCacheBackoff(t *testing.T) {
	var fc failCache
	a := wire.Address{Host: "relay.example", Port: 443}
	now := time.Unix(1_800_000_000, 0)
	want := []time.Duration{30 * time.Second, time.Minute, 2 * time.Minute, 4 * time.Minute, 8 * time.Minute, 10 * time.Minute, 10 * time.Minute}
	for i, w := range want {
		fc.failed(a, true, now)
		if !fc.blocked(a, now.Add(w-time.Second)) {
			t.Fatalf("failure %d: not blocked %v later", i+1, w-time.Second)
		}
		if fc.blocked(a, now.Add(w)) {
			t.Fatalf("failure %d: still blocked %v later", i+1, w)
		}
		// A second failure reported while blocked (a dial that was under
		// way) does not double the back-off.
		fc.failed(a, true, now.Add(time.Second))
		now = now.Add(w)
	}
	fc.succeeded(a)
	fc.failed(a, true, now)
	if fc.blocked(a, now.Add(failFirst)) {
		t.Fatal("a success did not reset the back-off")
	}
	// A failure of the hello blocks that address only, not host:port.
	b := wire.Address{Host: "other.example", Port: 443}
	fc.failed(b, false, now)
	other := b
	other.Fingerprint[0] = 1
	if !fc.blocked(b, now) || fc.blocked(other, now) {
		t.Fatal("a failure after the TCP connection is not kept under the whole address")
	}
	// Forgotten once quiet for failForgotIn past the deadline.
	fc.sweep(now.Add(failFirst + failForgotIn))
	if len(fc.m) != 0 {
		t.Fatalf("%d entries after the sweep", len(fc.m))
	}
}

func TestFailCacheBounded(t *testing.T) {
	var fc failCache
	now := time.Unix(1_800_000_000, 0)
	first := wire.Address{Host: "first.example", Port: 1}
	fc.failed(first, true, now)
	for i := range maxFailed + 10 {
		fc.failed(wire.Address{Host: "h.example", Port: uint16(i + 1)}, true, now.Add(time.Second))
	}
	if len(fc.m) != maxFailed {
		t.Fatalf("%d entries, want %d", len(fc.m), maxFailed)
	}
	if fc.blocked(first, now) {
		t.Fatal("the entry with the earliest deadline was kept")
	}
}
