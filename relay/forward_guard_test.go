package relay_test

import (
	"context"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"testing"
	"time"

	"veil/crypto"
	"veil/relay"
	"veil/relay/relaytest"
	"veil/relay/store/memory"
	"veil/relay/wire"
)

// What a forwarder dials, spec/relay.md §7.6.2: only public addresses by
// default, the addresses it checked, and not again soon a destination
// that failed.

// dialCounter is a Config.DialR2R that records the addresses it is asked
// for and connects to them, or to redirect's address when set.
type dialCounter struct {
	mu       sync.Mutex
	addrs    []string
	redirect string
}

func (d *dialCounter) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	d.mu.Lock()
	d.addrs = append(d.addrs, addr)
	to := addr
	if d.redirect != "" {
		to = d.redirect
	}
	d.mu.Unlock()
	var nd net.Dialer
	return nd.DialContext(ctx, network, to)
}

func (d *dialCounter) n() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.addrs)
}

// startForwarder runs a forwarder whose relay-to-relay dials go through
// dc, with cfg.ForwardPrivate as opts leave it (false by default).
func startForwarder(t *testing.T, dc *dialCounter, opts ...relayOpt) *testRelay {
	t.Helper()
	clock := &testClock{t: time.Now()}
	id, err := crypto.GenerateSign(nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg := relay.Config{Store: memory.New(memory.Config{Now: clock.Now}), Identity: id, Now: clock.Now, DialR2R: dc.dial}
	for _, o := range opts {
		o(&cfg)
	}
	r := relaytest.ServeExact(t, cfg)
	return &testRelay{srv: r.Server, store: cfg.Store, addr: r.Address, clock: clock, stop: r.Stop}
}

func withHost(a wire.Address, host string, port uint16) wire.Address {
	a.Host, a.Port = host, port
	return a
}

func TestForwardRefusesNonPublic(t *testing.T) {
	d := startRelay(t)
	var dc dialCounter
	resolved := map[string][]netip.Addr{
		"mixed.example":    {netip.MustParseAddr("8.8.8.8"), netip.MustParseAddr("10.0.0.5")},
		"metadata.example": {netip.MustParseAddr("::ffff:169.254.169.254")},
	}
	f := startForwarder(t, &dc, func(cfg *relay.Config) {
		cfg.ResolveR2R = func(ctx context.Context, host string) ([]netip.Addr, error) {
			if ips, ok := resolved[host]; ok {
				return ips, nil
			}
			return net.DefaultResolver.LookupNetIP(ctx, "ip", host)
		}
	})
	ctx := tctx(t)
	c := f.dial(t)
	for _, a := range []wire.Address{
		d.addr, // 127.0.0.1, and a relay that answers
		withHost(d.addr, "10.0.0.5", 22),
		withHost(d.addr, "169.254.169.254", 80),
		withHost(d.addr, "::1", d.addr.Port),
		withHost(d.addr, "localhost", d.addr.Port),
		withHost(d.addr, "100.64.1.1", 443),
		withHost(d.addr, "::ffff:127.0.0.1", d.addr.Port),
		withHost(d.addr, "mixed.example", 443),    // one public and one private address
		withHost(d.addr, "metadata.example", 443), // an IPv4-mapped link-local address
		withHost(d.addr, "abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyz23.onion", 443),
	} {
		_, err := c.FKey(ctx, nil, a)
		wantCode(t, err, wire.CodeUnreachable)
	}
	if n := dc.n(); n != 0 {
		t.Fatalf("forwarder dialled %d times: %v", n, dc.addrs)
	}
	healthy(t, c)

	// --forward-private: the same relay at 127.0.0.1 is reached.
	var dp dialCounter
	fp := startForwarder(t, &dp, func(cfg *relay.Config) { cfg.ForwardPrivate = true })
	if _, err := fp.dial(t).FKey(ctx, nil, d.addr); err != nil {
		t.Fatal(err)
	}
	if dp.n() != 1 {
		t.Fatalf("%d dials with ForwardPrivate, want 1", dp.n())
	}
}

// TestForwardDialsCheckedAddress: the forwarder connects to the address
// it resolved and checked, never to the name, so an answer that changes
// afterwards (DNS rebinding) is not used.
func TestForwardDialsCheckedAddress(t *testing.T) {
	d := startRelay(t)
	dc := dialCounter{redirect: net.JoinHostPort(d.addr.Host, strconv.Itoa(int(d.addr.Port)))}
	var mu sync.Mutex
	lookups := 0
	f := startForwarder(t, &dc, func(cfg *relay.Config) {
		cfg.ResolveR2R = func(ctx context.Context, host string) ([]netip.Addr, error) {
			mu.Lock()
			defer mu.Unlock()
			lookups++
			if lookups == 1 {
				return []netip.Addr{netip.MustParseAddr("8.8.8.8")}, nil
			}
			return []netip.Addr{netip.MustParseAddr("127.0.0.1")}, nil // rebound
		}
	})
	ctx := tctx(t)
	if _, err := f.dial(t).FKey(ctx, nil, withHost(d.addr, "relay.example", 7443)); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if lookups != 1 || len(dc.addrs) != 1 || dc.addrs[0] != "8.8.8.8:7443" {
		t.Fatalf("%d lookups, dialled %v; want 1 lookup and 8.8.8.8:7443", lookups, dc.addrs)
	}
}

func TestForwardFailedDestinationBacksOff(t *testing.T) {
	var dc dialCounter
	f := startForwarder(t, &dc, func(cfg *relay.Config) { cfg.ForwardPrivate = true })
	dr := relaytest.Start(t)
	dr.Stop()
	ctx := tctx(t)
	c := f.dial(t)
	fkey := func(a wire.Address, code wire.Code, dials int) {
		t.Helper()
		_, err := c.FKey(ctx, nil, a)
		if code == 0 {
			if err != nil {
				t.Fatal(err)
			}
		} else {
			wantCode(t, err, code)
		}
		if dc.n() != dials {
			t.Fatalf("%d dials, want %d", dc.n(), dials)
		}
	}
	fkey(dr.Address, wire.CodeUnreachable, 1)
	fkey(dr.Address, wire.CodeUnreachable, 1)
	// host:port did not answer: another fingerprint there is not dialled.
	other := dr.Address
	other.Fingerprint[0] ^= 1
	fkey(other, wire.CodeUnreachable, 1)
	dr.Restart()
	fkey(dr.Address, wire.CodeUnreachable, 1) // still backing off
	f.clock.Advance(30 * time.Second)
	fkey(dr.Address, 0, 2) // a success forgets the failure
	fkey(other, wire.CodeUnreachable, 3)
	fkey(other, wire.CodeUnreachable, 3)
	// A wrong fingerprint blocks that address only.
	f.clock.Advance(time.Minute)
	fkey(dr.Address, 0, 3)

	// The back-off doubles: 30 s, then 60 s.
	dr.Stop()
	closed := withHost(dr.Address, "127.0.0.1", dr.Address.Port)
	closed.Fingerprint[1] ^= 1
	fkey(closed, wire.CodeUnreachable, 4)
	f.clock.Advance(30 * time.Second)
	fkey(closed, wire.CodeUnreachable, 5)
	f.clock.Advance(30 * time.Second)
	fkey(closed, wire.CodeUnreachable, 5)
	f.clock.Advance(30 * time.Second)
	fkey(closed, wire.CodeUnreachable, 6)
	healthy(t, c)
}

func TestForwardDestsPerMinute(t *testing.T) {
	d := startRelay(t)
	var dc dialCounter
	f := startForwarder(t, &dc, func(cfg *relay.Config) { cfg.ForwardPrivate = true })
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := uint16(ln.Addr().(*net.TCPAddr).Port)
	ln.Close()
	closed := func(i int) wire.Address {
		a := withHost(d.addr, "127.0.0.1", port)
		a.Fingerprint[0], a.Fingerprint[1] = byte(i), byte(i>>8)
		return a
	}
	ctx := tctx(t)
	c := f.dial(t)
	if _, err := c.FKey(ctx, nil, d.addr); err != nil {
		t.Fatal(err)
	}
	n := relay.DefaultLimits.ForwardDestsPerMinute
	for i := 1; i < n; i++ {
		_, err := c.FKey(ctx, nil, closed(i))
		wantCode(t, err, wire.CodeUnreachable)
	}
	_, err = c.FKey(ctx, nil, closed(n))
	wantCode(t, err, wire.CodeRate)
	// Asked already this minute, or held as a route: not counted.
	_, err = c.FKey(ctx, nil, closed(1))
	wantCode(t, err, wire.CodeUnreachable)
	if _, err := c.FKey(ctx, nil, d.addr); err != nil {
		t.Fatal(err)
	}
	// Another connection has its own count.
	_, err = f.dial(t).FKey(ctx, nil, closed(n))
	wantCode(t, err, wire.CodeUnreachable)
	f.clock.Advance(time.Minute)
	_, err = c.FKey(ctx, nil, closed(n+1))
	wantCode(t, err, wire.CodeUnreachable)
	healthy(t, c)
}
