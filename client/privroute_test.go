package client

import (
	"context"
	"net/netip"
	"testing"

	"veil/relay/relaytest"
	"veil/relay/wire"
)

// Local addresses of the parties in the routing tests: every 127/8
// address is this machine, so each relay can tell who connected.
var (
	ipAna = netip.MustParseAddr("127.0.0.2")
	ipBen = netip.MustParseAddr("127.0.0.3")
	ipFwd = netip.MustParseAddr("127.0.0.4") // the forwarder's relay-to-relay connections
)

// dialFrom makes an engine's relay connections come from ip.
func dialFrom(ip netip.Addr) func(*Config) {
	return func(c *Config) { c.Dial = relaytest.DialFrom(ip.String()) }
}

// setRouting sets l's private routing and forwarder.
func setRouting(t *testing.T, l *live, mode, fwd string) {
	t.Helper()
	ctx := context.Background()
	if err := l.SetRouting(ctx, mode); err != nil {
		t.Fatal(err)
	}
	if err := l.SetForwarder(ctx, fwd); err != nil {
		t.Fatal(err)
	}
}

// writes reports whether it writes to someone's mailbox or blob.
func writes(it relaytest.Item) bool {
	switch it.Type {
	case wire.TypeSEND, wire.TypeSKEY, wire.TypeTAKE, wire.TypeRFWD:
		return true
	}
	return false
}

// TestPrivateRoutingHidesSender: with private routing through a
// forwarder, the recipient's relay never sees the sender's address on a
// connection that writes to the recipient's mailbox, and every message
// still arrives.
func TestPrivateRoutingHidesSender(t *testing.T) {
	var recD, recF relaytest.Recorder
	ra := relaytest.Start(t)
	rd := relaytest.Start(t, relaytest.WithObserver(&recD))
	rf := relaytest.Start(t, relaytest.WithObserver(&recF), relaytest.WithR2RFrom(ipFwd.String()))
	ana := startLive(t, ra.Address.String(), dialFrom(ipAna))
	ben := startLive(t, rd.Address.String(), dialFrom(ipBen))
	// The test relays are on loopback, which auto does not forward
	// through (it would hide nothing in real life): always does.
	setRouting(t, ana, RoutingAlways, rf.Address.String())
	withBen, benChat := liveChat(t, ana, ben, InviteOptions{}, JoinOptions{Relay: rd.Address.String()})
	for _, s := range []string{"one", "two", "three"} {
		say(t, ana, withBen, s)
		ben.waitText(t, benChat, s)
	}

	sends := 0
	for _, it := range recD.Items() {
		remote := recD.Remote(it.Conn).Addr()
		if remote == ipAna {
			t.Errorf("the recipient's relay saw the sender's address on connection %d (%v)", it.Conn, it.Type)
		}
		if it.Type == wire.TypeSEND {
			sends++
			if remote != ipFwd {
				t.Errorf("a SEND reached the recipient's relay from %v, not the forwarder", remote)
			}
		}
	}
	if sends < 4 { // the greeting and three messages
		t.Errorf("the recipient's relay saw %d SENDs", sends)
	}
	fkeys := 0
	for _, it := range recF.Items() {
		if recF.Remote(it.Conn).Addr() == ipAna && len(it.IDs) > 0 {
			t.Errorf("the forwarder learnt IDs %x from the sender's %v", it.IDs, it.Type)
		}
		if it.Type == wire.TypeFKEY {
			fkeys++
		}
	}
	if fkeys == 0 || fkeys > 2 {
		t.Errorf("%d FKEYs for one destination: the route is not cached", fkeys)
	}
}
