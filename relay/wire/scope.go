package wire

import "net/netip"

// Address scope, spec/relay.md §7.6.2.

// notGlobal lists the special-purpose blocks of the IANA registries
// (RFC 6890 and its updates) that are not globally reachable and that
// netip's own predicates do not cover.
var notGlobal = [...]netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),       // "this network"
	netip.MustParsePrefix("100.64.0.0/10"),   // shared address space (CGNAT), RFC 6598
	netip.MustParsePrefix("192.0.0.0/24"),    // IETF protocol assignments
	netip.MustParsePrefix("192.0.2.0/24"),    // documentation
	netip.MustParsePrefix("198.18.0.0/15"),   // benchmarking
	netip.MustParsePrefix("198.51.100.0/24"), // documentation
	netip.MustParsePrefix("203.0.113.0/24"),  // documentation
	netip.MustParsePrefix("240.0.0.0/4"),     // reserved, and the broadcast address
	netip.MustParsePrefix("64:ff9b:1::/48"),  // local-use IPv4/IPv6 translation
	netip.MustParsePrefix("100::/64"),        // discard-only
	netip.MustParsePrefix("2001::/23"),       // IETF protocol assignments (Teredo, ORCHID, benchmarking)
	netip.MustParsePrefix("2001:db8::/32"),   // documentation
	netip.MustParsePrefix("3fff::/20"),       // documentation
	netip.MustParsePrefix("fec0::/10"),       // site-local (deprecated)
}

// Prefixes whose addresses carry an IPv4 address that a translator or
// relay on the forwarder's network would reach.
var (
	nat64Prefix = netip.MustParsePrefix("64:ff9b::/96") // RFC 6052
	sixToFour   = netip.MustParsePrefix("2002::/16")    // RFC 3056
)

// PublicIP reports whether ip (unmapped, without zone) is a global
// unicast address: not loopback, private (RFC 1918, RFC 4193), link-local,
// unspecified, multicast, shared (CGNAT) or otherwise special-purpose.
// A forwarder dials only public destinations (§7.6.2), and a client
// refuses a relay a peer names that is not public unless its own chat
// already uses such a relay (spec/client.md §4.1).
func PublicIP(ip netip.Addr) bool {
	if !ip.IsValid() || !ip.IsGlobalUnicast() || ip.IsPrivate() {
		return false
	}
	for _, p := range notGlobal {
		if p.Contains(ip) {
			return false
		}
	}
	b := ip.As16()
	switch {
	case nat64Prefix.Contains(ip):
		return PublicIP(netip.AddrFrom4([4]byte(b[12:16])))
	case sixToFour.Contains(ip):
		return PublicIP(netip.AddrFrom4([4]byte(b[2:6])))
	}
	return true
}
