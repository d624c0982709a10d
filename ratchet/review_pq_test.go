package ratchet

import (
	"testing"
)

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
