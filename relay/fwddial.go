package relay

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"strings"
	"sync/atomic"

	"veil/relay/wire"
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
		if !s.fwdPrivate && !wire.PublicIP(ip) {
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
