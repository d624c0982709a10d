package ratchet

import (
	"io"

	"veil/crypto"
)

// The KEM ratchet (spec/session.md §14): a sparse ML-KEM-768 exchange beside
// the Double Ratchet whose shared secrets are mixed into the root key at
// DH ratchet steps.

// pqPhase is the one phase a session is in (§14.2).
type pqPhase byte

const (
	pqOff        pqPhase = iota // the KEM ratchet is not running
	pqSendEK                    // sending ek of epoch; collecting the peer's ct
	pqMixPending                // E of epoch waits for this side's next sending chain
	pqRecvEK                    // collecting the peer's ek of epoch
	pqSendCT                    // sending ct of epoch until the peer's mixed chain confirms it
	pqPhases                    // number of phases
)

// String returns the phase's name, as in PQStatus.Phase.
func (p pqPhase) String() string {
	switch p {
	case pqOff:
		return "off"
	case pqSendEK:
		return "send-ek"
	case pqMixPending:
		return "mix-pending"
	case pqRecvEK:
		return "recv-ek"
	case pqSendCT:
		return "send-ct"
	}
	return "invalid"
}

// pqState is a session's KEM-ratchet state. Only the fields of the current
// phase are meaningful; the others are zero.
type pqState struct {
	phase pqPhase
	epoch uint32 // the epoch of the phase; 0 when off
	done  uint32 // epochs this side completed (mixed or confirmed)
	heard bool   // a block was received from the peer

	seed [crypto.KEM768SeedSize]byte // SendEK: the decapsulation key's seed
}

// PQStatus describes a session's KEM ratchet (spec/session.md §14).
type PQStatus struct {
	// On reports whether the session runs the KEM ratchet. Once on, a
	// session never goes back.
	On bool
	// Epochs is how many epochs this side completed: mixed into its root
	// key or confirmed by the peer.
	Epochs uint32
	// Phase is "off", "send-ek", "recv-ek", "send-ct" or "mix-pending".
	Phase string
}

// PQ returns the state of the session's KEM ratchet.
func (s *Session) PQ() PQStatus {
	return PQStatus{On: s.pq.phase != pqOff, Epochs: s.pq.done, Phase: s.pq.phase.String()}
}

// EnablePQ turns the KEM ratchet of an off session on (spec/session.md
// §14.7); the client calls it once the peer has announced that it speaks
// it. It is idempotent. The joiner's side draws its first key-generation
// seed (64 bytes); on error s is unchanged.
func (s *Session) EnablePQ() error {
	if s.pq.phase != pqOff {
		return nil
	}
	next, err := s.pq.turnOn(s.initiator, s.cfg.rand())
	if err != nil {
		return err
	}
	s.pq = next
	return nil
}

// turnOn returns p started in epoch 1: the joiner sends the first ek.
func (p pqState) turnOn(initiator bool, r io.Reader) (pqState, error) {
	if !initiator {
		p.phase, p.epoch = pqRecvEK, 1
		return p, nil
	}
	if err := crypto.RandomBytes(r, p.seed[:]); err != nil {
		return p, err
	}
	p.phase, p.epoch = pqSendEK, 1
	return p, nil
}
