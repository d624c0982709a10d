package ratchet

import (
	"bytes"
	"testing"
)

// pqUnitPair runs a handshake on a bundle of version 0x02 and returns the
// joiner and the inviter after the joiner's first message.
func pqUnitPair(t *testing.T, seed uint64) (alice, bob *Session) {
	t.Helper()
	cfgA, _ := seeded(seed)
	cfgB, _ := seeded(seed + 1<<32)
	bp, err := newBundleVersion(cfgB, bundleVersionPQ)
	if err != nil {
		t.Fatal(err)
	}
	b, err := ParseBundle(bp.Bundle().Marshal())
	if err != nil {
		t.Fatal(err)
	}
	if !b.PQ() {
		t.Fatal("bundle of version 0x02 reads as off")
	}
	alice, err = Initiate(cfgA, b)
	if err != nil {
		t.Fatal(err)
	}
	bob, pt, err := Respond(cfgB, bp, mustEncrypt(t, alice, "hello bob"))
	if err != nil {
		t.Fatal(err)
	}
	if string(pt) != "hello bob" {
		t.Fatalf("first message: got %q", pt)
	}
	return alice, bob
}

func wantPhase(t *testing.T, who string, s *Session, phase string, epochs uint32) {
	t.Helper()
	st := s.PQ()
	if !st.On || st.Phase != phase || st.Epochs != epochs {
		t.Fatalf("%s: %+v, want phase %s after %d epochs", who, st, phase, epochs)
	}
}

// TestPQBalancedEpochs walks a strictly alternating conversation of short
// messages through epochs 1 (joiner's ek) and 2 (inviter's ek), phase by
// phase.
func TestPQBalancedEpochs(t *testing.T) {
	alice, bob := pqUnitPair(t, 700)
	// The initial message carried the whole ek: bob encapsulated at once.
	wantPhase(t, "alice", alice, "send-ek", 0)
	wantPhase(t, "bob", bob, "send-ct", 0)
	if alice.pq.epoch != 1 || bob.pq.epoch != 1 {
		t.Fatal("not in epoch 1")
	}
	text := string(bytes.Repeat([]byte{'x'}, 100))
	// Bob's first reply: 24 ct chunks, alice still short of 34.
	mustDecrypt(t, alice, mustEncrypt(t, bob, text), text)
	wantPhase(t, "alice", alice, "send-ek", 0)
	// Alice answers (a DH step at bob; bob's trial picks the plain chain).
	mustDecrypt(t, bob, mustEncrypt(t, alice, text), text)
	wantPhase(t, "bob", bob, "send-ct", 0)
	// Bob's second reply completes the ct: alice decapsulates and mixes E
	// into the sending chain this step creates.
	mustDecrypt(t, alice, mustEncrypt(t, bob, text), text)
	wantPhase(t, "alice", alice, "recv-ek", 1)
	if alice.pq.epoch != 2 {
		t.Fatalf("alice in epoch %d", alice.pq.epoch)
	}
	// Alice's next message is on the mixed chain: bob's trial confirms.
	mustDecrypt(t, bob, mustEncrypt(t, alice, text), text)
	wantPhase(t, "bob", bob, "send-ek", 1)
	// Epoch 2: bob sends ek, alice encapsulates, bob mixes, alice confirms.
	for i := 0; bob.PQ().Epochs < 2 || alice.PQ().Epochs < 2; i++ {
		if i > 10 {
			t.Fatalf("epoch 2 did not complete: alice %+v, bob %+v", alice.PQ(), bob.PQ())
		}
		mustDecrypt(t, alice, mustEncrypt(t, bob, text), text)
		mustDecrypt(t, bob, mustEncrypt(t, alice, text), text)
	}
	if alice.pq.epoch < 3 || bob.pq.epoch < 3 {
		t.Fatal("epoch 3 did not begin")
	}
}
