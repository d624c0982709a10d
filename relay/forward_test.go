package relay_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"veil/crypto"
	"veil/relay"
	"veil/relay/conn"
	"veil/relay/relaytest"
	"veil/relay/wire"
)

// Forwarding, spec/relay.md §7.6, between real relays on loopback
// addresses: clients dial from 127.0.0.2, the forwarder's relay-to-relay
// connections come from 127.0.0.4.

const (
	clientIP = "127.0.0.2"
	r2rIP    = "127.0.0.4"
)

// dialFrom dials tr from the local address ip.
func (tr *testRelay) dialFrom(t testing.TB, ip string) *conn.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := conn.DialAddress(ctx, tr.addr, &conn.Options{Dial: relaytest.DialFrom(ip)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// forwardPair starts a destination D (observed by rec) and a forwarder F.
func forwardPair(t *testing.T, rec *relaytest.Recorder, fopts ...relayOpt) (d, f *testRelay) {
	t.Helper()
	d = startRelay(t, relaytest.WithObserver(rec))
	f = startRelay(t, append([]relayOpt{relaytest.WithR2RFrom(r2rIP)}, fopts...)...)
	return d, f
}

func sendItem(m *mailbox, b byte) wire.Frame {
	return wire.Frame{Type: wire.TypeSEND, ID: m.sid, Cap: m.cap, Body: body(1024, b)}
}

func TestForwardSendLands(t *testing.T) {
	rec := &relaytest.Recorder{}
	d, f := forwardPair(t, rec)
	ctx := tctx(t)
	rc := d.dial(t)
	m := newMailbox(t, rc)
	if err := rc.Subscribe(ctx, m.rid, m.key); err != nil {
		t.Fatal(err)
	}
	c := f.dialFrom(t, clientIP)
	route, err := c.FKey(ctx, nil, d.addr)
	if err != nil {
		t.Fatal(err)
	}
	if route.ID == ([wire.RouteIDSize]byte{}) || route.Dest != d.addr.Fingerprint {
		t.Fatalf("route %+v", route)
	}
	if r, err := c.ForwardCommand(ctx, route, sendItem(m, 0x5a), d.clock.Now(), nil); err != nil || r.Type != wire.TypeOK {
		t.Fatalf("forwarded SEND: %v %v", &r, err)
	}
	p := nextPush(t, rc)
	if p.Type != wire.TypeMSG || p.Recipient != m.rid || !bytes.Equal(p.Body, body(1024, 0x5a)) {
		t.Fatalf("push %v %x…", p.Type, p.Body[:4])
	}
	// A second FKEY for the same destination keeps the route.
	if again, err := c.FKey(ctx, nil, d.addr); err != nil || again.ID != route.ID {
		t.Fatalf("second FKEY: %v %v", again.ID, err)
	}
	// SKEY and TAKE through the forwarder; the wrong capability is AUTH, sealed.
	m2k, _ := crypto.GenerateSign(nil)
	_, sid2, err := rc.New(ctx, m2k, nil)
	if err != nil {
		t.Fatal(err)
	}
	cp := [32]byte{9}
	h := crypto.Hash(cp[:])
	if _, err := c.ForwardCommand(ctx, route, wire.Frame{Type: wire.TypeSKEY, ID: sid2, Cap: h}, d.clock.Now(), nil); err != nil {
		t.Fatalf("forwarded SKEY: %v", err)
	}
	bid := crypto.ID{7}
	if err := rc.Put(ctx, bid, time.Hour, nil, body(1024, 3)); err != nil {
		t.Fatal(err)
	}
	r, err := c.ForwardCommand(ctx, route, wire.Frame{Type: wire.TypeTAKE, ID: bid}, d.clock.Now(), nil)
	if err != nil || r.Type != wire.TypeBLOB || !bytes.Equal(r.Body, body(1024, 3)) {
		t.Fatalf("forwarded TAKE: %v %v", &r, err)
	}
	bad := sendItem(m, 1)
	bad.Cap[0] ^= 1
	r, err = c.ForwardCommand(ctx, route, bad, d.clock.Now(), nil)
	wantCode(t, err, wire.CodeAuth)
	if r.Type != wire.TypeERR {
		t.Fatal("AUTH for a forwarded SEND is not sealed")
	}

	// What D saw: the forwarded commands came from the forwarder's
	// address, never the client's.
	sawInner := false
	for _, it := range rec.Items() {
		from := rec.Remote(it.Conn).Addr()
		if from == netip.MustParseAddr(clientIP) {
			t.Errorf("D saw the client's address on a %v", it.Type)
		}
		for _, id := range it.IDs {
			if id == m.sid && it.Type == wire.TypeSEND && from != netip.MustParseAddr(r2rIP) {
				t.Errorf("SEND to the mailbox from %v", from)
			}
			if id == m.sid && it.Type == wire.TypeSEND {
				sawInner = true
			}
		}
	}
	if !sawInner {
		t.Fatal("the observer never saw the forwarded SEND: the test would check nothing")
	}
}

// PUT and LAPPEND go through the forwarder too (the invite's leak alarm,
// spec/client.md §4.4) and are answered as the direct commands are.
func TestForwardPutAndAppend(t *testing.T) {
	rec := &relaytest.Recorder{}
	d, f := forwardPair(t, rec)
	ctx := tctx(t)
	rc := d.dial(t)
	wcap, rcap := [32]byte{1}, [32]byte{2}
	logID, err := rc.NewLog(ctx, &wcap, &rcap, time.Hour, nil)
	if err != nil {
		t.Fatal(err)
	}
	c := f.dialFrom(t, clientIP)
	route, err := c.FKey(ctx, nil, d.addr)
	if err != nil {
		t.Fatal(err)
	}
	app := wire.Frame{Type: wire.TypeLAPPEND, ID: logID, Cap: wcap, Body: body(1024, 4)}
	if r, err := c.ForwardCommand(ctx, route, app, d.clock.Now(), nil); err != nil || r.Type != wire.TypeSEQ || r.Seq != 1 {
		t.Fatalf("forwarded LAPPEND: %v %v", &r, err)
	}
	es, err := rc.ReadLog(ctx, logID, &rcap, 0, 10)
	if err != nil || len(es) != 1 || !bytes.Equal(es[0].Body, body(1024, 4)) {
		t.Fatalf("log after a forwarded LAPPEND: %d entries, %v", len(es), err)
	}
	app.Cap[0] ^= 1
	r, err := c.ForwardCommand(ctx, route, app, d.clock.Now(), nil)
	wantCode(t, err, wire.CodeAuth)
	if r.Type != wire.TypeERR {
		t.Fatal("AUTH for a forwarded LAPPEND is not sealed")
	}
	put := wire.Frame{Type: wire.TypePUT, ID: crypto.ID{8}, Seconds: 60, Body: body(1024, 5)}
	if r, err := c.ForwardCommand(ctx, route, put, d.clock.Now(), nil); err != nil || r.Type != wire.TypeOK {
		t.Fatalf("forwarded PUT: %v %v", &r, err)
	}
	_, err = c.ForwardCommand(ctx, route, put, d.clock.Now(), nil)
	wantCode(t, err, wire.CodeExists)
	if b, err := rc.Take(ctx, crypto.ID{8}); err != nil || !bytes.Equal(b, body(1024, 5)) {
		t.Fatalf("TAKE of the forwarded PUT: %v", err)
	}
	saw := 0
	for _, it := range rec.Items() {
		if rec.Remote(it.Conn).Addr() == netip.MustParseAddr(clientIP) {
			t.Errorf("D saw the client's address on a %v", it.Type)
		}
		if it.Type == wire.TypePUT || it.Type == wire.TypeLAPPEND {
			saw++
		}
	}
	if saw == 0 {
		t.Fatal("the observer never saw the forwarded items: the test would check nothing")
	}
}

// A destination that does not take forwarded items (a relay older than
// forwarding, built here with relaytest.AsOlderRelay: it answers UNKNOWN
// to FKEY and RFWD) is NOFORWARD at the forwarder, never UNKNOWN, so the
// client can tell it from a forwarder that does not forward.
func TestForwardNoForwardDestination(t *testing.T) {
	rec := &relaytest.Recorder{}
	d := startRelay(t, relaytest.WithObserver(rec), relaytest.AsOlderRelay())
	f := startRelay(t, relaytest.WithR2RFrom(r2rIP))
	ctx := tctx(t)
	dc := d.dial(t)
	_, err := dc.FKey(ctx, nil, wire.Address{})
	wantCode(t, err, wire.CodeUnknown)
	_, err = dc.RelayForward(ctx, 1, crypto.DHPublic{}, []byte{1})
	wantCode(t, err, wire.CodeUnknown)
	c := f.dialFrom(t, clientIP)
	_, err = c.FKey(ctx, nil, d.addr)
	wantCode(t, err, wire.CodeNoForward)
	healthy(t, c)
	// A forwarder that does not forward still answers its own UNKNOWN.
	off := startRelay(t, func(cfg *relay.Config) { cfg.Forward = relay.ForwardOff })
	_, err = off.dial(t).FKey(ctx, nil, d.addr)
	wantCode(t, err, wire.CodeUnknown)
	for _, it := range rec.Items() {
		if rec.Remote(it.Conn).Addr() == netip.MustParseAddr(clientIP) {
			t.Errorf("D saw the client's address on a %v", it.Type)
		}
	}
}

func TestForwardLoopRefused(t *testing.T) {
	id, _ := crypto.GenerateSign(nil)
	f := startRelay(t, func(cfg *relay.Config) { cfg.Identity = id })
	ctx := tctx(t)
	c := f.dial(t)
	_, err := c.FKey(ctx, nil, f.addr)
	wantCode(t, err, wire.CodeLoop)
	alias := f.addr
	alias.Host = "localhost"
	_, err = c.FKey(ctx, nil, alias)
	wantCode(t, err, wire.CodeLoop)
	// A node sharing the forwarder's identity is the same relay.
	twin := relaytest.Start(t, func(cfg *relay.Config) { cfg.Identity = id })
	_, err = c.FKey(ctx, nil, twin.Address)
	wantCode(t, err, wire.CodeLoop)
	healthy(t, c)
}

func TestForwardUnknownRelay(t *testing.T) {
	d := startRelay(t)
	f := startRelay(t, func(cfg *relay.Config) { cfg.Limits.ForwardTimeout = 500 * time.Millisecond })
	ctx := tctx(t)
	c := f.dial(t)
	wrong := d.addr
	wrong.Fingerprint[0] ^= 1
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := d.addr
	closed.Port = uint16(ln.Addr().(*net.TCPAddr).Port)
	ln.Close()
	// A listener that accepts and never answers.
	hole, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer hole.Close()
	go func() { // owned by the test: ends when hole closes
		var held []net.Conn
		defer func() {
			for _, c := range held {
				c.Close()
			}
		}()
		for {
			c, err := hole.Accept()
			if err != nil {
				return
			}
			held = append(held, c)
		}
	}()
	silent := d.addr
	silent.Port = uint16(hole.Addr().(*net.TCPAddr).Port)
	for name, a := range map[string]wire.Address{"wrong fingerprint": wrong, "closed port": closed, "silent": silent} {
		start := time.Now()
		_, err := c.FKey(ctx, nil, a)
		wantCode(t, err, wire.CodeUnreachable)
		if el := time.Since(start); el > 5*time.Second {
			t.Fatalf("%s: UNREACHABLE after %v", name, el)
		}
	}
	healthy(t, c)
}

func TestForwardRouteOfAnotherConnection(t *testing.T) {
	d, f := forwardPair(t, &relaytest.Recorder{})
	ctx := tctx(t)
	m := newMailbox(t, d.dial(t))
	c1, c2 := f.dial(t), f.dial(t)
	route, err := c1.FKey(ctx, nil, d.addr)
	if err != nil {
		t.Fatal(err)
	}
	_, err = c2.ForwardCommand(ctx, route, sendItem(m, 1), d.clock.Now(), nil)
	wantCode(t, err, wire.CodeAuth)
	other := route
	other.ID[0] ^= 1
	_, err = c1.ForwardCommand(ctx, other, sendItem(m, 1), d.clock.Now(), nil)
	wantCode(t, err, wire.CodeAuth)
	if _, err := c1.ForwardCommand(ctx, route, sendItem(m, 1), d.clock.Now(), nil); err != nil {
		t.Fatal(err)
	}
}

func TestForwardInnerCommandsRefused(t *testing.T) {
	d, f := forwardPair(t, &relaytest.Recorder{})
	ctx := tctx(t)
	c := f.dial(t)
	route, err := c.FKey(ctx, nil, d.addr)
	if err != nil {
		t.Fatal(err)
	}
	for _, item := range []wire.Frame{
		{Type: wire.TypeNEW},
		{Type: wire.TypeSUB},
		{Type: wire.TypePING},
		{Type: wire.TypeFWD, Route: route.ID, Body: []byte{1}},
		{Type: wire.TypeRFWD, NotAfter: uint64(route.NotAfter.Unix()), Body: []byte{1}},
		{Type: wire.TypeFKEY, Dest: []byte(d.addr.String())},
	} {
		r, err := c.ForwardCommand(ctx, route, item, d.clock.Now(), nil)
		wantCode(t, err, wire.CodeUnknown)
		if r.Type != wire.TypeERR {
			t.Fatalf("inner %v: the ERR is not sealed", item.Type)
		}
	}
	healthy(t, c)
}

func TestForwardStale(t *testing.T) {
	d, f := forwardPair(t, &relaytest.Recorder{})
	ctx := tctx(t)
	m := newMailbox(t, d.dial(t))
	c := f.dial(t)
	route, err := c.FKey(ctx, nil, d.addr)
	if err != nil {
		t.Fatal(err)
	}
	for _, skew := range []time.Duration{-11 * time.Minute, 11 * time.Minute} {
		_, err = c.ForwardCommand(ctx, route, sendItem(m, 1), d.clock.Now().Add(skew), nil)
		wantCode(t, err, wire.CodeStale)
	}
	// Within the window it goes through.
	if _, err := c.ForwardCommand(ctx, route, sendItem(m, 1), d.clock.Now().Add(9*time.Minute), nil); err != nil {
		t.Fatal(err)
	}
	// Two days later the key has expired.
	d.clock.Advance(49 * time.Hour)
	_, err = c.ForwardCommand(ctx, route, sendItem(m, 1), d.clock.Now(), nil)
	wantCode(t, err, wire.CodeStale)
	// A not-after that names no key.
	dc := d.dial(t)
	eph, keys, _ := wire.SenderForwardKeys(nil, d.addr.Fingerprint, route.Key)
	_, err = dc.RelayForward(ctx, uint64(route.NotAfter.Unix())+1, eph, keys.SealItem(nil, []byte{1}))
	wantCode(t, err, wire.CodeStale)
	// F's FKEY gets the new key, which works.
	f.clock.Advance(49 * time.Hour)
	route, err = c.FKey(ctx, nil, d.addr)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.ForwardCommand(ctx, route, sendItem(m, 1), d.clock.Now(), nil); err != nil {
		t.Fatal(err)
	}
}

func TestForwardTampered(t *testing.T) {
	d, f := forwardPair(t, &relaytest.Recorder{})
	ctx := tctx(t)
	m := newMailbox(t, d.dial(t))
	c := f.dial(t)
	route, err := c.FKey(ctx, nil, d.addr)
	if err != nil {
		t.Fatal(err)
	}
	item := sendItem(m, 1)
	inner, _ := wire.AppendForwardInner(nil, uint64(d.clock.Now().Unix()), &item)
	eph, keys, _ := wire.SenderForwardKeys(nil, route.Dest, route.Key)
	sealed := keys.SealItem(nil, inner)
	for _, i := range []int{0, len(sealed) / 2, len(sealed) - 1} {
		b := bytes.Clone(sealed)
		b[i] ^= 1
		_, err := c.Forward(ctx, route.ID, eph, b)
		wantCode(t, err, wire.CodeAuth)
	}
	otherEph := eph
	otherEph[3] ^= 1
	_, err = c.Forward(ctx, route.ID, otherEph, sealed)
	wantCode(t, err, wire.CodeAuth)
	// A hostile forwarder writing RFWD itself cannot forge an item.
	hostile := d.dial(t)
	own, err := hostile.FKey(ctx, nil, wire.Address{})
	if err != nil || own.ID != ([wire.RouteIDSize]byte{}) || own.Key != route.Key {
		t.Fatalf("D's own FKEYS: %+v %v", own, err)
	}
	fake, _ := crypto.GenerateDH(nil)
	_, err = hostile.RelayForward(ctx, uint64(own.NotAfter.Unix()), fake.Public(), bytes.Repeat([]byte{1}, len(sealed)))
	wantCode(t, err, wire.CodeAuth)
	_, err = hostile.RelayForward(ctx, uint64(own.NotAfter.Unix()), crypto.DHPublic{}, sealed)
	wantCode(t, err, wire.CodeAuth)
	// The untouched item still goes through, once.
	res, err := c.Forward(ctx, route.ID, eph, sealed)
	if err != nil {
		t.Fatal(err)
	}
	if pt, err := keys.OpenReply(nil, res); err != nil || wire.Type(pt[0]) != wire.TypeOK {
		t.Fatalf("reply %x %v", pt, err)
	}
}

// TestForwardPaddingRefused: the destination answers a sealed ERR
// MALFORMED for an item whose padding is not zero or whose length
// overruns the plaintext (spec/relay.md §7.6.4), and runs the untouched
// one.
func TestForwardPaddingRefused(t *testing.T) {
	d, f := forwardPair(t, &relaytest.Recorder{})
	ctx := tctx(t)
	c := f.dial(t)
	route, err := c.FKey(ctx, nil, d.addr)
	if err != nil {
		t.Fatal(err)
	}
	item := wire.Frame{Type: wire.TypeTAKE, ID: crypto.ID{9}}
	good, _ := wire.AppendForwardInner(nil, uint64(d.clock.Now().Unix()), &item)
	padByte := bytes.Clone(good)
	padByte[len(padByte)-1] = 1
	overrun := bytes.Clone(good)
	overrun[8], overrun[9] = 0x04, 0x46 // 1,094: two bytes past the end
	for name, tc := range map[string]struct {
		inner []byte
		code  wire.Code
	}{
		"non-zero padding": {padByte, wire.CodeMalformed},
		"length overruns":  {overrun, wire.CodeMalformed},
		"untouched":        {good, wire.CodeNotFound},
	} {
		eph, keys, _ := wire.SenderForwardKeys(nil, route.Dest, route.Key)
		res, err := c.Forward(ctx, route.ID, eph, keys.SealItem(nil, tc.inner))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		pt, err := keys.OpenReply(nil, res)
		if err != nil {
			t.Fatalf("%s: reply does not open: %v", name, err)
		}
		r, err := wire.ParseFrame(pt)
		if err != nil || r.Type != wire.TypeERR || r.Code != tc.code {
			t.Fatalf("%s: reply %v %v, want ERR %v", name, &r, err, tc.code)
		}
	}
	healthy(t, c)
}

func TestForwardMaxRoutes(t *testing.T) {
	d1, f := forwardPair(t, &relaytest.Recorder{}, func(cfg *relay.Config) { cfg.Limits.MaxRoutes = 2 })
	d2 := startRelay(t)
	ctx := tctx(t)
	c := f.dial(t)
	for _, d := range []*testRelay{d1, d2, d1} {
		if _, err := c.FKey(ctx, nil, d.addr); err != nil {
			t.Fatal(err)
		}
	}
	third := d2.addr
	third.Fingerprint[0] ^= 1
	_, err := c.FKey(ctx, nil, third)
	wantCode(t, err, wire.CodeQuota)
	// Routes belong to the connection: another one has its own.
	if _, err := f.dial(t).FKey(ctx, nil, d2.addr); err != nil {
		t.Fatal(err)
	}
}

func TestForwardModes(t *testing.T) {
	d := startRelay(t)
	ctx := tctx(t)
	pw := startRelay(t, func(cfg *relay.Config) { cfg.Password = []byte("hunter2") })
	c := pw.dial(t)
	_, err := c.FKey(ctx, nil, d.addr)
	wantCode(t, err, wire.CodePassword)
	_, err = c.FKey(ctx, []byte("wrong"), d.addr)
	wantCode(t, err, wire.CodePassword)
	if _, err := c.FKey(ctx, []byte("hunter2"), d.addr); err != nil {
		t.Fatal(err)
	}
	open := startRelay(t, func(cfg *relay.Config) { cfg.Password = []byte("hunter2"); cfg.Forward = relay.ForwardOpen })
	if _, err := open.dial(t).FKey(ctx, nil, d.addr); err != nil {
		t.Fatal(err)
	}
	off := startRelay(t, func(cfg *relay.Config) { cfg.Forward = relay.ForwardOff })
	oc := off.dial(t)
	_, err = oc.FKey(ctx, nil, d.addr)
	wantCode(t, err, wire.CodeUnknown)
	_, err = oc.Forward(ctx, [8]byte{1}, crypto.DHPublic{}, []byte{1})
	wantCode(t, err, wire.CodeUnknown)
	// It stays a destination.
	if _, err := oc.FKey(ctx, nil, wire.Address{}); err != nil {
		t.Fatal(err)
	}
	id, _ := crypto.GenerateSign(nil)
	if _, err := relay.New(relay.Config{Store: d.store, Identity: id, Forward: relay.ForwardPassword}); err == nil {
		t.Fatal("password forwarding without a password accepted")
	}
}

func TestForwardLogsHoldNoIdentifiers(t *testing.T) {
	var logs syncBuffer
	reg := prometheus.NewRegistry()
	logged := func(cfg *relay.Config) {
		cfg.Logger = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	d := startRelay(t, logged)
	f := startRelay(t, logged, func(cfg *relay.Config) { cfg.Registerer = reg; cfg.Limits.ForwardTimeout = time.Second })
	ctx := tctx(t)
	m := newMailbox(t, d.dial(t))
	c := f.dial(t)
	route, err := c.FKey(ctx, nil, d.addr)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.ForwardCommand(ctx, route, sendItem(m, 1), d.clock.Now(), nil); err != nil {
		t.Fatal(err)
	}
	_, err = c.ForwardCommand(ctx, route, sendItem(m, 1), d.clock.Now().Add(time.Hour), nil)
	wantCode(t, err, wire.CodeStale)
	wrong := d.addr
	wrong.Fingerprint[0] ^= 1
	_, err = c.FKey(ctx, nil, wrong)
	wantCode(t, err, wire.CodeUnreachable)
	d.stop() // F's connection to D breaks
	_, err = c.ForwardCommand(ctx, route, sendItem(m, 1), d.clock.Now(), nil)
	if err == nil {
		t.Fatal("forwarded to a stopped relay")
	}
	f.stop()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var metrics strings.Builder
	for _, mf := range mfs {
		metrics.WriteString(mf.String())
	}
	if !strings.Contains(metrics.String(), "veil_relay_forwarded_total") || !strings.Contains(logs.String(), "relay: draining") {
		t.Fatal("metrics or logs missing: the test would check nothing")
	}
	secrets := map[string]string{"address": "127.0.0.1", "fingerprint": d.addr.Fingerprint.String()[:10],
		"wrong fingerprint": wrong.Fingerprint.String()[:10]}
	for name, b := range map[string][]byte{"route ID": route.ID[:], "sender ID": m.sid[:], "recipient ID": m.rid[:], "capability": m.cap[:]} {
		secrets[name+" (hex)"] = hex.EncodeToString(b[:6])
		secrets[name+" (base64)"] = base64.StdEncoding.EncodeToString(b)[:8]
	}
	for where, text := range map[string]string{"logs": logs.String(), "metrics": metrics.String()} {
		for name, s := range secrets {
			if strings.Contains(text, s) {
				t.Errorf("%s contain the %s", where, name)
			}
		}
	}
}

func TestRestartKeepsStoreAndAddress(t *testing.T) {
	r := relaytest.Start(t)
	ctx := tctx(t)
	dial := func() *conn.Conn {
		c, err := conn.DialAddress(ctx, r.Address, nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	c := dial()
	m := newMailbox(t, c)
	if err := c.Send(ctx, m.sid, &m.cap, body(1024, 8)); err != nil {
		t.Fatal(err)
	}
	addr := r.Address
	r.Restart()
	if r.Address != addr {
		t.Fatal("address changed")
	}
	c2 := dial()
	if err := c2.Subscribe(ctx, m.rid, m.key); err != nil {
		t.Fatal(err)
	}
	if p := nextPush(t, c2); p.Type != wire.TypeMSG || !bytes.Equal(p.Body, body(1024, 8)) {
		t.Fatal("message lost across Restart")
	}
	if err := c.Ping(ctx); err == nil || errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("old connection still works: %v", err)
	}
}

// TestForwardFKeyDestIsCopied pipelines FKEYs between large items, so
// that the block an FKEY arrived in is reused while the FKEY runs: its
// destination must have been copied out of it (every answer is LOOP).
func TestForwardFKeyDestIsCopied(t *testing.T) {
	f := startRelay(t)
	c := f.dial(t)
	const n = 200
	done := make(chan error, 2*n)
	for i := range n {
		fk := wire.Frame{Type: wire.TypeFKEY, Dest: []byte(f.addr.String())}
		if err := c.Go(&fk, false, func(_ wire.Frame, err error) { done <- err }); err != nil {
			t.Fatal(err)
		}
		put := wire.Frame{Type: wire.TypePUT, ID: crypto.ID{byte(i), byte(i >> 8), 1}, Seconds: 60, Body: body(16000, byte(i))}
		if err := c.Go(&put, false, func(_ wire.Frame, err error) { done <- err }); err != nil {
			t.Fatal(err)
		}
	}
	loops := 0
	for range 2 * n {
		select {
		case err := <-done:
			var we *wire.Error
			if errors.As(err, &we) {
				if we.Code != wire.CodeLoop {
					t.Fatalf("got %v", err)
				}
				loops++
			} else if err != nil {
				t.Fatal(err)
			}
		case <-time.After(20 * time.Second):
			t.Fatal("replies missing")
		}
	}
	if loops != n {
		t.Fatalf("%d LOOPs, want %d", loops, n)
	}
}

// TestForwardIdleConnectionClosed: a relay-to-relay connection unused
// for ForwardIdle is closed by the expiry pass, and the next FWD dials
// again (§11).
func TestForwardIdleConnectionClosed(t *testing.T) {
	rec := &relaytest.Recorder{}
	d, f := forwardPair(t, rec)
	ctx := tctx(t)
	m := newMailbox(t, d.dial(t))
	c := f.dial(t)
	route, err := c.FKey(ctx, nil, d.addr)
	if err != nil {
		t.Fatal(err)
	}
	fromF := func() int {
		n := 0
		for _, a := range rec.Conns() {
			if a.Addr() == netip.MustParseAddr(r2rIP) {
				n++
			}
		}
		return n
	}
	send := func() {
		t.Helper()
		if _, err := c.ForwardCommand(ctx, route, sendItem(m, 1), d.clock.Now(), nil); err != nil {
			t.Fatal(err)
		}
	}
	send()
	f.clock.Advance(time.Minute)
	f.srv.ExpireNow(ctx)
	send()
	if n := fromF(); n != 1 {
		t.Fatalf("%d connections from F before the idle time, want 1", n)
	}
	f.clock.Advance(2 * time.Minute)
	f.srv.ExpireNow(ctx)
	send()
	if n := fromF(); n != 2 {
		t.Fatalf("%d connections from F after the idle time, want 2", n)
	}
}

// TestForwardSpreadsOverConnections: a forwarder keeps each relay-to-relay
// connection under the rate a destination allows one connection, opening
// more instead of drawing RATE from the destination (spec/relay.md §11).
func TestForwardSpreadsOverConnections(t *testing.T) {
	slow := func(c *relay.Config) { c.Limits.Rate, c.Limits.Burst = 20, 20 }
	rec := &relaytest.Recorder{}
	d := startRelay(t, relaytest.WithObserver(rec), slow)
	f := startRelay(t, relaytest.WithR2RFrom(r2rIP), slow)
	ctx := tctx(t)
	rc := d.dial(t)
	m := newMailbox(t, rc)
	sent := 0
	for k := range 4 {
		c := f.dialFrom(t, clientIP)
		route, err := c.FKey(ctx, nil, d.addr)
		if err != nil {
			t.Fatal(err)
		}
		for i := range 15 {
			if _, err := c.ForwardCommand(ctx, route, sendItem(m, byte(k*15+i)), d.clock.Now(), nil); err != nil {
				t.Fatalf("forwarded SEND %d: %v", sent, err)
			}
			sent++
		}
	}
	r2r := 0
	for _, remote := range rec.Conns() {
		if remote.Addr().String() == r2rIP {
			r2r++
		}
	}
	if r2r < 3 {
		t.Fatalf("%d items over %d relay-to-relay connections: want at least 3 at 15 a connection", sent, r2r)
	}
}

// TestForwardTotalConnectionsCapped: the forwarder holds at most
// MaxR2RTotal relay-to-relay connections over all destinations; a new
// destination past the cap is RATE, not one more socket.
func TestForwardTotalConnectionsCapped(t *testing.T) {
	d1, d2 := startRelay(t), startRelay(t)
	f := startRelay(t, relaytest.WithR2RFrom(r2rIP), func(c *relay.Config) { c.Limits.MaxR2RTotal = 1 })
	ctx := tctx(t)
	c := f.dialFrom(t, clientIP)
	if _, err := c.FKey(ctx, nil, d1.addr); err != nil {
		t.Fatal(err)
	}
	_, err := c.FKey(ctx, nil, d2.addr)
	wantCode(t, err, wire.CodeRate)
}
