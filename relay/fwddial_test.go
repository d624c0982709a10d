package relay

import (
	"net/netip"
	"testing"
	"time"

	"veil/relay/wire"
)

func TestPublicIP(t *testing.T) {
	for s, want := range map[string]bool{
		"8.8.8.8":                  true,
		"1.1.1.1":                  true,
		"100.128.0.1":              true,
		"2606:4700:4700::1111":     true,
		"64:ff9b::808:808":         true, // NAT64 of 8.8.8.8
		"2002:808:808::1":          true, // 6to4 of 8.8.8.8
		"127.0.0.1":                false,
		"127.5.6.7":                false,
		"10.0.0.5":                 false,
		"172.16.0.1":               false,
		"192.168.1.1":              false,
		"169.254.169.254":          false,
		"100.64.0.1":               false,
		"100.127.255.254":          false,
		"0.0.0.0":                  false,
		"0.1.2.3":                  false,
		"224.0.0.1":                false,
		"239.1.1.1":                false,
		"255.255.255.255":          false,
		"240.0.0.1":                false,
		"192.0.0.8":                false,
		"192.0.2.1":                false,
		"198.18.0.1":               false,
		"::":                       false,
		"::1":                      false,
		"fd00::1":                  false,
		"fc00::1":                  false,
		"fe80::1":                  false,
		"fec0::1":                  false,
		"ff02::1":                  false,
		"2001:db8::1":              false,
		"2001::1":                  false, // Teredo
		"64:ff9b::a00:5":           false, // NAT64 of 10.0.0.5
		"64:ff9b::7f00:1":          false, // NAT64 of 127.0.0.1
		"64:ff9b:1::1":             false,
		"2002:a00:5::1":            false, // 6to4 of 10.0.0.5
		"2002:a9fe:a9fe::1":        false, // 6to4 of 169.254.169.254
		"100::1":                   false,
		"3fff::1":                  false,
		"::ffff:127.0.0.1":         false, // unmapped first, as destIPs does
		"::ffff:10.0.0.1":          false,
		"::ffff:8.8.8.8":           true,
		"fe80::1%eth0":             false,
		"2a00:1450:4001:81b::200e": true,
	} {
		ip := netip.MustParseAddr(s).Unmap().WithZone("")
		if got := publicIP(ip); got != want {
			t.Errorf("publicIP(%s) = %v, want %v", s, got, want)
		}
	}
}

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
