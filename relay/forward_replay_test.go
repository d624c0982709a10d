package relay_test

import (
	"bytes"
	"crypto/subtle"
	"testing"
	"time"

	"veil/crypto"
	"veil/relay"
	"veil/relay/conn"
	"veil/relay/relaytest"
	"veil/relay/store/memory"
	"veil/relay/wire"
)

// Replays of a forwarded item, spec/relay.md §7.6.3 and §7.6.4.

// clusterPair starts two nodes of one relay: same identity, same store,
// same clock.
func clusterPair(t *testing.T) (d, d2 *testRelay) {
	t.Helper()
	clock := &testClock{t: time.Now()}
	st := memory.New(memory.Config{Now: clock.Now})
	id, err := crypto.GenerateSign(nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg := relay.Config{Store: st, Identity: id, Now: clock.Now}
	return serveRelay(t, cfg, clock), serveRelay(t, cfg, clock)
}

// sealTake seals a TAKE of bid for route's destination at time now.
func sealTake(t *testing.T, route conn.Route, bid crypto.ID, now time.Time) (crypto.DHPublic, wire.ForwardKeys, []byte) {
	t.Helper()
	inner, err := wire.AppendForwardInner(nil, uint64(now.Unix()), &wire.Frame{Type: wire.TypeTAKE, ID: bid})
	if err != nil {
		t.Fatal(err)
	}
	eph, keys, err := wire.SenderForwardKeys(nil, route.Dest, route.Key)
	if err != nil {
		t.Fatal(err)
	}
	return eph, keys, keys.SealItem(nil, inner)
}

// openFRES opens a sealed reply and parses the item in it.
func openFRES(t *testing.T, keys *wire.ForwardKeys, sealed []byte) ([]byte, wire.Frame) {
	t.Helper()
	pt, err := keys.OpenReply(nil, sealed)
	if err != nil {
		t.Fatalf("sealed reply does not open: %v", err)
	}
	f, err := wire.ParseFrame(pt)
	if err != nil {
		t.Fatal(err)
	}
	return pt, f
}

// TestForwardReplayedTakeRepliesDoNotShareNonce replays a forwarded TAKE
// as a dishonest forwarder would: the first reply carries the blob, a
// replay's reply a known ERR. Were both sealed under one nonce, XORing
// the two ciphertexts with the known ERR would give the blob's bytes.
func TestForwardReplayedTakeRepliesDoNotShareNonce(t *testing.T) {
	d, d2 := clusterPair(t)
	f := startRelay(t, relaytest.WithR2RFrom(r2rIP))
	ctx := tctx(t)
	dc := d.dial(t)
	bid := crypto.ID{0x42}
	secret := body(1024, 0xa7)
	if err := dc.Put(ctx, bid, time.Hour, nil, secret); err != nil {
		t.Fatal(err)
	}
	c := f.dialFrom(t, clientIP)
	route, err := c.FKey(ctx, nil, d.addr)
	if err != nil {
		t.Fatal(err)
	}
	eph, keys, sealed := sealTake(t, route, bid, d.clock.Now())
	first, err := c.Forward(ctx, route.ID, eph, sealed)
	if err != nil {
		t.Fatal(err)
	}
	pt1, r1 := openFRES(t, &keys, first)
	if r1.Type != wire.TypeBLOB || !bytes.Equal(r1.Body, secret) {
		t.Fatalf("first reply %v", &r1)
	}

	// The same FWD again through F: D remembers the item.
	_, err = c.Forward(ctx, route.ID, eph, sealed)
	wantCode(t, err, wire.CodeStale)
	// The other node does not share that memory: it answers again,
	// under the same reply key.
	d2c := d2.dial(t)
	other, err := d2c.RelayForward(ctx, uint64(route.NotAfter.Unix()), eph, sealed)
	if err != nil {
		t.Fatal(err)
	}
	_, err = d2c.RelayForward(ctx, uint64(route.NotAfter.Unix()), eph, sealed)
	wantCode(t, err, wire.CodeStale)
	for _, r := range [][]byte{other} {
		pt2, r2 := openFRES(t, &keys, r)
		if r2.Type != wire.TypeERR || r2.Code != wire.CodeNotFound {
			t.Fatalf("replay reply %v", &r2)
		}
		if bytes.Equal(first[:crypto.NonceSize], r[:crypto.NonceSize]) {
			t.Fatal("a replay's reply reuses the first reply's nonce")
		}
		// The XOR of the two ciphertexts and the known ERR plaintext
		// must not give the BLOB reply's plaintext.
		n := len(pt2)
		guess := make([]byte, n)
		subtle.XORBytes(guess, first[crypto.NonceSize:][:n], r[crypto.NonceSize:][:n])
		subtle.XORBytes(guess, guess, pt2)
		if bytes.Equal(guess, pt1[:n]) {
			t.Fatal("XOR of the replies reveals the blob reply")
		}
	}
}

// TestForwardReplayRefused replays one forwarded SEND as a forwarder
// could for the whole time window: D stores it once and answers every
// replay STALE, until the item's time is out of the window anyway.
func TestForwardReplayRefused(t *testing.T) {
	d, f := forwardPair(t, &relaytest.Recorder{})
	ctx := tctx(t)
	rc := d.dial(t)
	m := newMailbox(t, rc)
	c := f.dialFrom(t, clientIP)
	route, err := c.FKey(ctx, nil, d.addr)
	if err != nil {
		t.Fatal(err)
	}
	// The item's time is as far ahead of D's clock as it may be, so it
	// passes the time check for the longest span: 2 × ForwardSkew.
	item := sendItem(m, 0x33)
	inner, err := wire.AppendForwardInner(nil, uint64(d.clock.Now().Unix()+wire.ForwardSkew), &item)
	if err != nil {
		t.Fatal(err)
	}
	eph, keys, err := wire.SenderForwardKeys(nil, route.Dest, route.Key)
	if err != nil {
		t.Fatal(err)
	}
	sealed := keys.SealItem(nil, inner)
	if _, err := c.Forward(ctx, route.ID, eph, sealed); err != nil {
		t.Fatal(err)
	}
	for range 50 {
		_, err := c.Forward(ctx, route.ID, eph, sealed)
		wantCode(t, err, wire.CodeStale)
	}
	// Just before the item leaves the window it is still remembered.
	d.clock.Advance(2*wire.ForwardSkew*time.Second - time.Second)
	_, err = c.Forward(ctx, route.ID, eph, sealed)
	wantCode(t, err, wire.CodeStale)
	// A fresh item goes through meanwhile.
	if r, err := c.ForwardCommand(ctx, route, sendItem(m, 0x34), d.clock.Now(), nil); err != nil || r.Type != wire.TypeOK {
		t.Fatalf("fresh SEND: %v %v", &r, err)
	}
	d.clock.Advance(2 * time.Second)
	_, err = c.Forward(ctx, route.ID, eph, sealed)
	wantCode(t, err, wire.CodeStale) // now by its time
	// The mailbox holds the first SEND once, then the fresh one.
	if err := rc.Subscribe(ctx, m.rid, m.key); err != nil {
		t.Fatal(err)
	}
	for _, want := range []byte{0x33, 0x34} {
		p := nextPush(t, rc)
		if p.Type != wire.TypeMSG || !bytes.Equal(p.Body, body(1024, want)) {
			t.Fatalf("push %v %x…, want body of %#x", p.Type, p.Body[:4], want)
		}
	}
	select {
	case p := <-rc.Pushes():
		t.Fatalf("a third push %v: a replay was stored", p.Type)
	case <-time.After(200 * time.Millisecond):
	}
}
