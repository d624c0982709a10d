package relay

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"strings"
	"sync/atomic"
)

// Dialling a destination, spec/relay.md §7.6.2: the forwarder resolves
// the host itself, refuses the destination when any address it resolves
// to is not public (unless Config.ForwardPrivate), and connects to
// exactly the addresses it checked, never to the name again, so a DNS
// answer that changes between the check and the dial cannot bring in an
// internal address.

// errNotPublic refuses a destination that is, or resolves to, an address
// that is not public; its text names no address.
var errNotPublic = errors.New("relay: destination is not a public address")

// destIPs returns the addresses the forwarder may dial for host.
func (s *Server) destIPs(ctx context.Context, host string) ([]netip.Addr, error) {
	if strings.HasSuffix(strings.TrimSuffix(host, "."), ".onion") {
		// The relay has no SOCKS5 dialer: an onion service cannot be
		// reached, and the name must not leak to a DNS resolver.
		return nil, errNotPublic
	}
	var ips []netip.Addr
	if ip, err := netip.ParseAddr(host); err == nil {
		ips = []netip.Addr{ip}
	} else {
		resolve := s.resolveR2R
		if resolve == nil {
			resolve = func(ctx context.Context, host string) ([]netip.Addr, error) {
				return net.DefaultResolver.LookupNetIP(ctx, "ip", host)
			}
		}
		if ips, err = resolve(ctx, host); err != nil {
			return nil, err
		}
		if len(ips) == 0 {
			return nil, errors.New("relay: destination resolves to no address")
		}
	}
	checked := make([]netip.Addr, len(ips)) // not ips: the resolver may keep it
	for i, ip := range ips {
		ip = ip.Unmap().WithZone("")
		if !s.fwdPrivate && !publicIP(ip) {
			return nil, errNotPublic
		}
		checked[i] = ip
	}
	return checked, nil
}

// pinnedDial returns a dial function for conn.Options.Dial that ignores
// the host it is given (the destination's name, still used for TLS and
// the HTTP request) and connects to ips in turn on port. tcpFailed is
// set when no connection could be made.
func (s *Server) pinnedDial(ips []netip.Addr, port uint16, tcpFailed *atomic.Bool) func(ctx context.Context, network, addr string) (net.Conn, error) {
	base := s.dialR2R
	if base == nil {
		var d net.Dialer
		base = d.DialContext
	}
	return func(ctx context.Context, network, _ string) (net.Conn, error) {
		var err error
		for _, ip := range ips {
			var c net.Conn
			if c, err = base(ctx, network, netip.AddrPortFrom(ip, port).String()); err == nil {
				return c, nil
			}
		}
		tcpFailed.Store(true)
		return nil, err
	}
}

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

// publicIP reports whether ip (unmapped, without zone) is a global
// unicast address: not loopback, private (RFC 1918, RFC 4193), link-local,
// unspecified, multicast, shared (CGNAT) or otherwise special-purpose.
func publicIP(ip netip.Addr) bool {
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
		return publicIP(netip.AddrFrom4([4]byte(b[12:16])))
	case sixToFour.Contains(ip):
		return publicIP(netip.AddrFrom4([4]byte(b[2:6])))
	}
	return true
}
