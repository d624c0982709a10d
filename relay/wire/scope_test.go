package wire

import (
	"net/netip"
	"testing"
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
		if got := PublicIP(ip); got != want {
			t.Errorf("PublicIP(%s) = %v, want %v", s, got, want)
		}
	}
}
