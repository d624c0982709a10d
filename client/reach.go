package client

import (
	"net/netip"
	"strings"

	"veil/client/internal/format"
	"veil/relay/wire"
)

// Who can reach a relay, judged from its address alone (no name is
// resolved, so nothing is looked up on anyone's network).
const (
	ReachAnyone  = ""             // a public address or a host name
	ReachMachine = "this machine" // loopback: 127.0.0.0/8, ::1, localhost
	ReachNetwork = "this network" // any other address that is not public: private, link-local, CGNAT, … (wire.PublicIP)
)

// RelayReach says who can reach the relay at addr (spec/client.md §4.1):
// ReachMachine, ReachNetwork or ReachAnyone (also for an address that
// does not parse).
func RelayReach(addr string) string {
	a, err := wire.ParseAddress(addr)
	if err != nil {
		return ReachAnyone
	}
	return hostReach(a.Host)
}

func hostReach(host string) string {
	h := strings.ToLower(strings.TrimSuffix(host, "."))
	if h == "localhost" || strings.HasSuffix(h, ".localhost") {
		return ReachMachine
	}
	ip, err := netip.ParseAddr(h)
	if err != nil {
		return ReachAnyone
	}
	ip = ip.Unmap().WithZone("")
	switch {
	case ip.IsLoopback() || ip.IsUnspecified():
		return ReachMachine
	case !wire.PublicIP(ip):
		// Private, link-local, shared (CGNAT), a translation of such
		// an address, or another block that is not globally reachable:
		// the relay's own table (spec/relay.md §7.6.2).
		return ReachNetwork
	}
	return ReachAnyone
}

// InviteReach is RelayReach for the relay an invite key names.
func InviteReach(key string) string {
	k, err := format.ParseInviteKey(key)
	if err != nil {
		return ReachAnyone
	}
	return hostReach(k.Relay.Host)
}

// ReachWarning is the warning for an invite on a relay only reach can
// use, or "" when anyone can.
func ReachWarning(reach string) string {
	if reach == ReachAnyone {
		return ""
	}
	return "this invite's relay can be reached from " + reach + " only, so the key works only there (and only while that relay runs); " +
		"for someone elsewhere, add a relay they can reach (veil relay add URL) and invite on it (--relay URL)"
}

// peerRelayReach returns who alone can reach addr, a relay a peer names
// (an invite's second relay, a HELLO's mailbox, a MOVE), when that is not
// anyone and none of ours (the chat's relays, or the invite's) is one
// only the same can reach; "" otherwise. Such an address is refused: a
// peer must not make us connect inside our own machine or network
// (spec/client.md §4.1, §7.6).
func peerRelayReach(addr string, ours ...string) string {
	reach := RelayReach(addr)
	if reach == ReachAnyone {
		return ""
	}
	for _, o := range ours {
		if RelayReach(o) == reach {
			return ""
		}
	}
	return reach
}
