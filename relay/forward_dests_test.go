package relay_test

import (
	"net"
	"testing"

	"veil/relay"
	"veil/relay/relaytest"
	"veil/relay/wire"
)

// closedPort returns a port on 127.0.0.1 that nothing listens on.
func closedPort(t *testing.T) uint16 {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := uint16(l.Addr().(*net.TCPAddr).Port)
	l.Close()
	return p
}

// TestForwardUnreachableDestsDoNotFillTable names as many unreachable
// destinations as the forwarder keeps: they must not shut an honest
// client out of a working one (spec/relay.md §7.6.2).
func TestForwardUnreachableDestsDoNotFillTable(t *testing.T) {
	d, f := forwardPair(t, &relaytest.Recorder{}, func(cfg *relay.Config) { cfg.Limits.MaxForwardDests = 4 })
	ctx := tctx(t)
	bad := f.dialFrom(t, clientIP)
	for i := range 4 {
		a := withHost(d.addr, "127.0.0.1", closedPort(t))
		a.Fingerprint[0] ^= byte(i + 1)
		_, err := bad.FKey(ctx, nil, a)
		wantCode(t, err, wire.CodeUnreachable)
	}
	// A destination with the right host and port and a wrong fingerprint
	// fails after the connection: it is dropped too.
	wrong := d.addr
	wrong.Fingerprint[5] ^= 1
	_, err := bad.FKey(ctx, nil, wrong)
	wantCode(t, err, wire.CodeUnreachable)
	honest := f.dialFrom(t, clientIP)
	route, err := honest.FKey(ctx, nil, d.addr)
	if err != nil {
		t.Fatalf("honest FKEY after unreachable ones: %v", err)
	}
	m := newMailbox(t, d.dial(t))
	if r, err := honest.ForwardCommand(ctx, route, sendItem(m, 1), d.clock.Now(), nil); err != nil || r.Type != wire.TypeOK {
		t.Fatalf("forwarded SEND: %v %v", &r, err)
	}
	// Working destinations still count: with four held, a fifth is QUOTA.
	for range 3 {
		other := startRelay(t)
		if _, err := honest.FKey(ctx, nil, other.addr); err != nil {
			t.Fatal(err)
		}
	}
	_, err = honest.FKey(ctx, nil, startRelay(t).addr)
	wantCode(t, err, wire.CodeQuota)
}
