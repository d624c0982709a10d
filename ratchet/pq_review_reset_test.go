package ratchet

import (
	"errors"
	"testing"
)

// TestPQResetOfferForOlderPeer: software from before the KEM ratchet
// accepts only reset offers of version 0x01 (its parser wants msg[1] ==
// 0x01), so a restored client must be able to offer 0x01 to a peer that
// never announced the KEM ratchet (spec/session.md §13.1). NewReset
// without pq makes that offer, its secret half keeps the version, and the
// session it starts is off at both ends; with pq the offer is 0x02.
func TestPQResetOfferForOlderPeer(t *testing.T) {
	alice, bob, ida, idb := identPair(t, 9300)
	cfg, _ := seeded(9301)
	rp, err := NewReset(cfg, 1_700_000_000_000, false)
	if err != nil {
		t.Fatal(err)
	}
	msg := rp.Message(idb, ida.Public())
	oldAccepts := len(msg) == ResetMessageSize && msg[0] == typeReset && msg[1] == resetVersion1
	if !oldAccepts {
		t.Fatalf("an offer for a peer on older software has version %#x", msg[1])
	}
	rp2, err := ParseResetPrivate(rp.Marshal())
	if err != nil {
		t.Fatal(err)
	}
	if rp.PQ() || rp2.PQ() {
		t.Fatal("a version 0x01 offer's secret half says it runs the KEM ratchet")
	}
	o, err := ParseReset(msg, alice.Remote(), alice.Local())
	if err != nil || o.PQ() {
		t.Fatalf("parsed offer: %v, pq %v", err, o != nil && o.PQ())
	}
	cfgA, _ := seeded(9302)
	na, err := AcceptReset(cfgA, ida, alice.Remote(), o)
	if err != nil {
		t.Fatal(err)
	}
	nb, _, err := CompleteReset(cfg, idb, bob.Remote(), rp2, mustEncrypt(t, na, "answer"))
	if err != nil {
		t.Fatal(err)
	}
	mustDecrypt(t, na, mustEncrypt(t, nb, "reply"), "reply")
	if na.PQ().On || nb.PQ().On {
		t.Fatalf("a version 0x01 reset's sessions: %+v / %+v", na.PQ(), nb.PQ())
	}

	pq, err := NewReset(cfg, 1_700_000_000_001, true)
	if err != nil {
		t.Fatal(err)
	}
	if msg := pq.Message(idb, ida.Public()); msg[1] != resetVersionPQ || !pq.PQ() {
		t.Fatalf("an offer with the KEM ratchet has version %#x", msg[1])
	}
}

// TestPQInitialEKOfAnotherEpoch: Respond with a bundle of version 0x02
// requires the ek chunks of epoch 1 in an initial message that has room
// (§14.7). Chunks of another epoch would be ignored, leaving a session
// that is on while no epoch can ever complete (the joiner goes on sending
// chunks that the inviter's RecvEK(1) ignores).
func TestPQInitialEKOfAnotherEpoch(t *testing.T) {
	cfgA, _ := seeded(9400)
	cfgB, _ := seeded(9401)
	bp, err := newBundleVersion(cfgB, bundleVersionPQ)
	if err != nil {
		t.Fatal(err)
	}
	alice, err := Initiate(cfgA, bp.Bundle())
	if err != nil {
		t.Fatal(err)
	}
	alice.pq.epoch = 3
	if _, _, err := Respond(cfgB, bp, mustEncrypt(t, alice, "hi")); !errors.Is(err, ErrAuth) {
		t.Fatalf("Respond took an initial message whose ek is of epoch 3: %v, want ErrAuth", err)
	}
}

// TestPQResetAnswerEKOfAnotherEpoch: CompleteReset of a version 0x02 offer
// is Respond with a version 0x02 secret bundle (§14.7), so an answer whose
// ek chunks are of another epoch than 1 is refused the same way, and
// changes nothing.
func TestPQResetAnswerEKOfAnotherEpoch(t *testing.T) {
	alice, bob, ida, idb := identPair(t, 9410)
	cfgB, _ := seeded(9411)
	rp, err := NewReset(cfgB, 1_700_000_000_000, true)
	if err != nil {
		t.Fatal(err)
	}
	o, err := ParseReset(rp.Message(idb, ida.Public()), alice.Remote(), alice.Local())
	if err != nil {
		t.Fatal(err)
	}
	cfgA, _ := seeded(9412)
	na, err := AcceptReset(cfgA, ida, alice.Remote(), o)
	if err != nil {
		t.Fatal(err)
	}
	na.pq.epoch = 3
	if _, _, err := CompleteReset(cfgB, idb, bob.Remote(), rp, mustEncrypt(t, na, "answer")); !errors.Is(err, ErrAuth) {
		t.Fatalf("CompleteReset took an answer whose ek is of epoch 3: %v, want ErrAuth", err)
	}
}
