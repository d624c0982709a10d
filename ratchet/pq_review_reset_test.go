package ratchet

import (
	"errors"
	"testing"
)

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
	rp, err := NewReset(cfgB, 1_700_000_000_000)
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
