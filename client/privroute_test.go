package client

import (
	"context"
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"

	"veil/crypto"
	"veil/relay"
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

// TestPrivateRoutingHidesSender: with private routing through a
// forwarder, the recipient's relay never sees the sender's address on a
// connection that writes to the recipient's mailbox, and every message
// still arrives.
func TestPrivateRoutingHidesSender(t *testing.T) {
	t.Parallel()
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

// TestPrivateRoutingFallbacks: a forwarder that does not forward (an
// older relay answers UNKNOWN) makes auto send directly, with one
// routing_direct event per relay, and makes always hold the item with a
// warning instead; a forwarder that cannot be reached is an error, never
// a direct send.
func TestPrivateRoutingFallbacks(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	var recD relaytest.Recorder
	rd := relaytest.Start(t, relaytest.WithObserver(&recD))
	old := relaytest.Start(t, func(c *relay.Config) { c.Forward = relay.ForwardOff })
	evs := make(chan Event, 64)
	e := relayEngine(t, rd.Address.String(), func(c *Config) { c.Events = evs })
	dest, fwd := rd.Address.String(), old.Address.String()

	// A mailbox on D, secured with cp.
	oc, err := e.pool.get(ctx, dest)
	if err != nil {
		t.Fatal(err)
	}
	key, _ := crypto.GenerateSign(nil)
	_, sid, err := oc.New(ctx, key, nil)
	if err != nil {
		t.Fatal(err)
	}
	var cp [wire.CapSize]byte
	cp[0] = 7
	if err := oc.SecureSender(ctx, sid, &cp); err != nil {
		t.Fatal(err)
	}
	body := make([]byte, 1024)
	courierVia := func(mode, via string) *courier {
		c, err := e.pool.conn(ctx, connKey{addr: via, role: roleFwd})
		if err != nil {
			t.Fatal(err)
		}
		return &courier{e: e, addr: dest, rt: routing{mode: mode, fwd: via}, c: c}
	}
	count := func(typ EventType) int {
		n := 0
		for {
			select {
			case ev := <-evs:
				if ev.Type == typ {
					n++
				}
			default:
				return n
			}
		}
	}

	for range 2 {
		if err := courierVia(RoutingAuto, fwd).Send(ctx, sid, &cp, body); err != nil {
			t.Fatalf("auto through a relay that does not forward: %v", err)
		}
	}
	if n := count(EventRoutingDirect); n != 1 {
		t.Errorf("%d routing_direct events for two direct sends, want 1", n)
	}
	if rt, _ := e.routingFor(ctx, dest); rt.fwd != "" {
		t.Error("auto still routes through the relay that does not forward")
	}
	sends := 0
	for _, it := range recD.Items() {
		if it.Type == wire.TypeSEND {
			sends++
		}
	}
	if sends != 2 {
		t.Errorf("D stored %d SENDs, want 2", sends)
	}

	n0 := len(recD.Items())
	e.routes = routes{}
	if err := courierVia(RoutingAlways, fwd).Send(ctx, sid, &cp, body); !errors.Is(err, errRouteHeld) {
		t.Fatalf("always through a relay that does not forward: %v", err)
	}
	if n := count(EventWarning); n != 1 {
		t.Errorf("%d warnings for a held item, want 1", n)
	}
	if isCode(errRouteHeld, wire.CodeUnknown) || !isConnErr(errRouteHeld) {
		t.Error("a held item would not be retried")
	}

	// A forwarder that is down: deliver fails, nothing goes directly.
	old.Stop()
	setRouting(t, &live{Engine: e}, RoutingAlways, fwd)
	if _, err := e.deliver(ctx, dest, "chat"); err == nil {
		t.Error("deliver through a stopped forwarder worked")
	}
	if n := len(recD.Items()); n != n0 {
		t.Errorf("D saw %d commands while the item was held or the forwarder down", n-n0)
	}
}

// TestPrivateRoutingStaleClock: a destination whose clock is far from
// ours answers STALE; the route is fetched again once, then the item is
// held with a warning about this machine's clock (never sent directly).
func TestPrivateRoutingStaleClock(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	var recD relaytest.Recorder
	skewed := func() time.Time { return time.Now().Add(time.Hour) }
	rd := relaytest.Start(t, relaytest.WithObserver(&recD), func(c *relay.Config) { c.Now = skewed })
	rf := relaytest.Start(t)
	evs := make(chan Event, 64)
	e := relayEngine(t, rd.Address.String(), func(c *Config) { c.Events = evs })
	setRouting(t, &live{Engine: e}, RoutingAlways, rf.Address.String())
	k, err := e.deliver(ctx, rd.Address.String(), "chat")
	if err != nil {
		t.Fatal(err)
	}
	var cp [wire.CapSize]byte
	err = k.Send(ctx, crypto.ID{1}, &cp, make([]byte, 1024))
	if !errors.Is(err, errClock) {
		t.Fatalf("Send to a relay an hour ahead: %v", err)
	}
	if !isConnErr(err) {
		t.Error("an item refused for the clock would not be retried")
	}
	warned := false
	for len(evs) > 0 {
		if ev := <-evs; ev.Type == EventWarning && strings.Contains(ev.Err, "clock") {
			warned = true
		}
	}
	if !warned {
		t.Error("no warning about the clock")
	}
	fkeys, rfwds := 0, 0
	for _, it := range recD.Items() {
		switch it.Type {
		case wire.TypeFKEY:
			fkeys++
		case wire.TypeRFWD:
			rfwds++
		case wire.TypeSEND:
			t.Error("the item was stored")
		}
	}
	if rfwds != 2 {
		t.Errorf("%d RFWDs: want one try and one after fetching the route again", rfwds)
	}
	if fkeys == 0 {
		t.Error("the forwarder never asked the destination for its key")
	}
}

// TestPrivateRoutingAlarm: a joiner who finds the invite taken raises the
// leak alarm through its forwarder, like the TAKE before it: the
// inviter's relay, which whoever took the invite may watch, never sees
// the joiner's address, and the inviter still gets the alarm.
func TestPrivateRoutingAlarm(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	var recA relaytest.Recorder
	ra := relaytest.Start(t, relaytest.WithObserver(&recA))
	rb := relaytest.Start(t)
	rf := relaytest.Start(t, relaytest.WithR2RFrom(ipFwd.String()))
	anaEv := make(chan Event, 256)
	ana := relayEngine(t, ra.Address.String(), func(c *Config) { c.Events = anaEv })
	ben := relayEngine(t, rb.Address.String(), dialFrom(ipBen))
	setRouting(t, &live{Engine: ben}, RoutingAlways, rf.Address.String())
	key, chat, err := ana.Invite(ctx, InviteOptions{As: "ana"})
	if err != nil {
		t.Fatal(err)
	}
	newCopier(t, ra.Address, key).takeAndReput(t)
	if _, err := ben.Join(ctx, key, JoinOptions{As: "ben"}); !errors.Is(err, ErrInviteUsed) {
		t.Fatalf("the joiner: %v, want ErrInviteUsed", err)
	}
	ana.checkAlarms(ctx)
	if evs := pendingEvents(anaEv); !leaked(evs, chat) {
		t.Fatalf("the inviter's events: %+v", evs)
	}
	appends := 0
	for _, it := range recA.Items() {
		remote := recA.Remote(it.Conn).Addr()
		if remote == ipBen {
			t.Errorf("the inviter's relay saw the joiner's address (%v)", it.Type)
		}
		if it.Type == wire.TypeLAPPEND && remote == ipFwd {
			appends++
		}
	}
	if appends != 1 {
		t.Errorf("the inviter's relay saw %d forwarded alarm appends, want 1", appends)
	}
}

// TestPrivateRoutingNoForwardDestination: a destination relay that does
// not take forwarded items (built with relaytest.AsOlderRelay: it answers
// UNKNOWN to FKEY and RFWD) is NOFORWARD at the forwarder, and the item
// is held in auto as in always, with one warning per relay: a contact's
// relay answering so must not make us send directly and show it our
// address. (The forwarder's own UNKNOWN still sends directly in auto:
// TestPrivateRoutingFallbacks.)
func TestPrivateRoutingNoForwardDestination(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	var recD relaytest.Recorder
	rd := relaytest.Start(t, relaytest.WithObserver(&recD), relaytest.AsOlderRelay())
	rf := relaytest.Start(t, relaytest.WithR2RFrom(ipFwd.String()))
	ra := relaytest.Start(t)
	evs := make(chan Event, 64)
	e := relayEngine(t, ra.Address.String(), func(c *Config) { c.Events = evs; c.Dial = relaytest.DialFrom(ipAna.String()) })
	dest, fwd := rd.Address.String(), rf.Address.String()

	// A mailbox on D, made and secured by someone else.
	oc := dialGroupRelay(t, rd.Address)
	key, _ := crypto.GenerateSign(nil)
	_, sid, err := oc.New(ctx, key, nil)
	if err != nil {
		t.Fatal(err)
	}
	var cp [wire.CapSize]byte
	cp[0] = 7
	if err := oc.SecureSender(ctx, sid, &cp); err != nil {
		t.Fatal(err)
	}
	body := make([]byte, 1024)
	c, err := e.pool.conn(ctx, connKey{addr: fwd, role: roleFwd})
	if err != nil {
		t.Fatal(err)
	}
	for _, mode := range []string{RoutingAuto, RoutingAuto, RoutingAlways} {
		k := &courier{e: e, addr: dest, rt: routing{mode: mode, fwd: fwd}, c: c}
		if err := k.Send(ctx, sid, &cp, body); !errors.Is(err, errNoForward) {
			t.Fatalf("%s to a destination that does not take forwarded items: %v", mode, err)
		}
	}
	warnings := 0
	for _, ev := range pendingEvents(evs) {
		switch {
		case ev.Type == EventRoutingDirect:
			t.Errorf("routing_direct for a destination that does not take forwarded items: %s", ev.Err)
		case ev.Type == EventWarning && ev.Relay == dest:
			warnings++
			if !strings.Contains(ev.Err, shortRelay(dest)) || !strings.Contains(ev.Err, `"off"`) {
				t.Errorf("the warning does not name the relay or say how to send directly: %s", ev.Err)
			}
		}
	}
	if warnings != 1 {
		t.Errorf("%d warnings for three held items, want 1", warnings)
	}
	if e.routes.isOld(routeKey{fwd, dest}) || !isConnErr(errNoForward) {
		t.Error("auto would send directly later, or the held item would not be retried")
	}
	sawFKey := false
	for _, it := range recD.Items() {
		if recD.Remote(it.Conn).Addr() == ipAna {
			t.Errorf("the destination saw the client's address (%v)", it.Type)
		}
		if it.Type == wire.TypeSEND {
			t.Error("the destination stored a SEND")
		}
		sawFKey = sawFKey || it.Type == wire.TypeFKEY
	}
	if !sawFKey {
		t.Fatal("the destination was never asked for its forward key: the test would check nothing")
	}
}
