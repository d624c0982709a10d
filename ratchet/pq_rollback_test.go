package ratchet

import (
	"bytes"
	"errors"
	"fmt"
	"testing"
)

// rollback runs a legacy pair (the KEM ratchet turned on at both ends
// when pq) through a state copy that the inviter resumes in the middle of
// a receiving chain: bob's copy re-reads the joiner's last message after
// the lost state sent replies replies, loses as many as duplicates
// (spec/session.md §5.4) and then talks on. With one reply alice still
// waits for ct chunks; with two (46 chunks ≥ 34) she already rebuilt the
// lost state's ct and mixes its secret. It returns the first error of the
// conversation after the copy took over.
func rollback(t *testing.T, pq bool, replies int) error {
	t.Helper()
	alice, bob := legacyPair(t, 9100)
	if pq {
		if err := alice.EnablePQ(); err != nil {
			t.Fatal(err)
		}
		if err := bob.EnablePQ(); err != nil {
			t.Fatal(err)
		}
	}
	text := string(bytes.Repeat([]byte{'x'}, 100)) // 23 chunks of room
	mustDecrypt(t, bob, mustEncrypt(t, alice, text), text)
	snap := bob.Marshal()
	m2 := mustEncrypt(t, alice, text)
	mustDecrypt(t, bob, m2, text) // completes the ek: bob encapsulates
	for range replies {
		mustDecrypt(t, alice, mustEncrypt(t, bob, text), text)
	}
	if pq && replies == 2 && alice.PQ().Phase != "mix-pending" {
		t.Fatalf("alice %+v after two replies, want mix-pending", alice.PQ())
	}

	// The copy: same chain, same DHs, same encapsulation seed.
	cfg, _ := seeded(9199)
	bob2, err := ParseSession(cfg, snap)
	if err != nil {
		t.Fatal(err)
	}
	mustDecrypt(t, bob2, m2, text)
	if pq && !bytes.Equal(bob2.pq.ct[:], bob.pq.ct[:]) {
		t.Fatal("the copy encapsulated to another ct")
	}
	// Its first replies reuse numbers alice has: lost, as §5.4 says.
	for range replies {
		if _, err := alice.Decrypt(mustEncrypt(t, bob2, text)); !errors.Is(err, ErrDuplicate) {
			t.Fatalf("reused number: %v, want ErrDuplicate", err)
		}
	}
	for i := range 8 {
		if _, err := alice.Decrypt(mustEncrypt(t, bob2, text)); err != nil {
			return fmt.Errorf("round %d, bob→alice: %w", i, err)
		}
		if _, err := bob2.Decrypt(mustEncrypt(t, alice, text)); err != nil {
			return fmt.Errorf("round %d, alice→bob: %w (alice %+v, bob %+v)", i, err, alice.PQ(), bob2.PQ())
		}
	}
	return nil
}

// TestPQRollbackInChainRecovers: a state resumed from a copy in the middle
// of a receiving chain goes on as a legacy session does (§5.4: reused
// numbers are lost, then the session goes on). The copy encapsulates
// again with the seed drawn on entering RecvEK, to the same ct (§14.6).
func TestPQRollbackInChainRecovers(t *testing.T) {
	if err := rollback(t, false, 1); err != nil {
		t.Fatalf("control (KEM ratchet off): %v", err)
	}
	if err := rollback(t, true, 1); err != nil {
		t.Fatalf("KEM ratchet on: the resumed copy is wedged: %v", err)
	}
}

// TestPQStateParserRefusesInconsistent: the KEM ratchet's section is an
// exact parser (spec/session.md §10): it refuses sections that no run can
// produce. (An ek that its seed does not make is not checked: rebuilding
// it costs a key generation per load, §10.)
func TestPQStateParserRefusesInconsistent(t *testing.T) {
	alice, bob := pqUnitPair(t, 9200)
	if alice.pq.phase != pqSendEK || bob.pq.phase != pqSendCT {
		t.Fatalf("phases %v / %v", alice.pq.phase, bob.pq.phase)
	}
	refuses := func(why string, p pqState) {
		t.Helper()
		if _, err := parsePQState(p.appendTo(nil)); err == nil {
			t.Errorf("parsed a section with %s", why)
		}
	}
	for _, s := range []*Session{alice, bob} {
		if _, err := parsePQState(s.pq.appendTo(nil)); err != nil {
			t.Fatalf("%v: %v", s.pq.phase, err)
		}
	}
	// Epochs done out of step with the epoch (done is e−1 in every phase
	// until the counter saturates).
	p := alice.pq.clone()
	p.done = 1000
	refuses("1000 epochs done in epoch 1", p)
	p = bob.pq.clone()
	p.epoch = 2
	refuses("no epoch done in epoch 2", p)
	// SendCT and MixPending are entered on a block of the peer.
	p = bob.pq.clone()
	p.heard = false
	refuses("send-ct without the peer heard", p)
	p = bob.pq.clone()
	p.phase, p.heard, p.cursor, p.allowance = pqMixPending, false, 0, 0
	refuses("mix-pending without the peer heard", p)
	// The initiator sends ek in odd epochs (§14.2): an initiator in
	// send-ek(2) and its peer in recv-ek(1) never meet; nor does a side
	// that mixes or sends ct in the wrong epoch.
	wrongSide := func(s *Session, p pqState, why string) {
		t.Helper()
		m := s.Marshal()
		m = append(m[:len(m)-len(s.pq.appendTo(nil))], p.appendTo(nil)...)
		if _, err := parsePQState(p.appendTo(nil)); err != nil {
			t.Fatalf("%s: the section alone: %v", why, err)
		}
		if _, err := ParseSession(s.cfg, m); err == nil {
			t.Errorf("parsed %s", why)
		}
	}
	p = alice.pq.clone()
	p.epoch, p.done = 2, 1
	wrongSide(alice, p, "an initiator's state in send-ek of an even epoch")
	p = bob.pq.clone()
	p.phase, p.cursor, p.allowance = pqMixPending, 0, 0
	wrongSide(bob, p, "a responder's state in mix-pending of an odd epoch")
	p = bob.pq.clone()
	p.epoch, p.done = 2, 1
	wrongSide(bob, p, "a responder's state in send-ct of an even epoch")
}
