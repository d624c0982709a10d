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
	if err := dc.Put(ctx, bid, time.Hour, secret); err != nil {
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

	// The same FWD again through F.
	replay, err := c.Forward(ctx, route.ID, eph, sealed)
	if err != nil {
		t.Fatal(err)
	}
	replies := [][]byte{first, replay}
	// The same item straight to the other node, as RFWD.
	other, err := d2.dial(t).RelayForward(ctx, uint64(route.NotAfter.Unix()), eph, sealed)
	if err != nil {
		t.Fatal(err)
	}
	replies = append(replies, other)
	for _, r := range replies[1:] {
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
