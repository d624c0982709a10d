package ratchet

import (
	"bytes"
	"io"
	"math"

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

// Sizes and limits of the KEM ratchet (spec/session.md §14.3, §14.4).
const (
	pqEKBlocks = crypto.KEM768PublicSize / pqChunkData     // 37: ek payload blocks
	pqCTBlocks = crypto.KEM768CiphertextSize / pqChunkData // 34: ct payload blocks

	// A payload's allowance of chunks starts at n + ⌈n/2⌉ and grows by
	// ⌈n/2⌉ on each DH step received while the side still sends it.
	pqEKGrowth    = (pqEKBlocks + 1) / 2 // 19
	pqCTGrowth    = (pqCTBlocks + 1) / 2 // 17
	pqEKAllowance = pqEKBlocks + pqEKGrowth
	pqCTAllowance = pqCTBlocks + pqCTGrowth

	pqEncapsSeedSize = 32 // FIPS 203's m
)

// pqState is a session's KEM-ratchet state (spec/session.md §14.2). Only
// the fields of the current phase are set; the others are zero. It is a
// value: a decrypt works on a copy (clone) and commits it only when the
// whole message authenticates.
type pqState struct {
	phase     pqPhase
	epoch     uint32 // the epoch of the phase; 0 when off
	done      uint32 // epochs this side completed (mixed or confirmed)
	heard     bool   // a block was received from the peer
	cursor    byte   // SendEK, SendCT: x of the next chunk to send
	allowance uint16 // SendEK, SendCT: chunks left to send

	seed [crypto.KEM768SeedSize]byte       // SendEK: the decapsulation key's seed
	ek   [crypto.KEM768PublicSize]byte     // SendEK: our encapsulation key
	ct   [crypto.KEM768CiphertextSize]byte // SendCT: our ciphertext
	m    [pqEncapsSeedSize]byte            // RecvEK: the encapsulation seed, drawn on entering
	e    crypto.SymKey                     // MixPending, SendCT: E of the epoch
	dec  pqDecoder                         // SendEK: the peer's ct; RecvEK: the peer's ek

	digest [pqDigestSize]byte // SendEK, SendCT: the digest of ek or ct, made with it
	held   [pqDigestSize]byte // the digest of the chunks dec holds (zero when empty)
}

// String redacts the state, which holds secrets.
func (pqState) String() string { return "pqState(redacted)" }

// GoString redacts the state for %#v.
func (p pqState) GoString() string { return p.String() }

// clone returns a copy of p that shares no memory with it.
func (p *pqState) clone() pqState {
	c := *p
	if p.dec.got != nil {
		c.dec.got = append(make([]pqChunk, 0, cap(p.dec.got)), p.dec.got...)
	}
	return c
}

// wipe zeroes p's secrets and empties it (best effort: Go cannot
// guarantee that no copy survives elsewhere in memory).
func (p *pqState) wipe() {
	clear(p.seed[:])
	clear(p.m[:])
	p.e.Wipe()
	p.dec.wipe()
}

// nextEpoch is e + 1; the counter stops at 2^32 − 1 (§14.2).
func nextEpoch(e uint32) uint32 {
	if e == math.MaxUint32 {
		return e
	}
	return e + 1
}

func (p *pqState) completed() {
	if p.done < math.MaxUint32 {
		p.done++
	}
}

// startSendEK draws a key-generation seed (64 bytes) from r and enters
// SendEK(epoch) with a fresh key pair.
func (p *pqState) startSendEK(epoch uint32, r io.Reader) error {
	var seed [crypto.KEM768SeedSize]byte
	if err := crypto.RandomBytes(r, seed[:]); err != nil {
		return err
	}
	dk, err := crypto.ParseKEM768Private(seed[:])
	if err != nil {
		clear(seed[:])
		return err
	}
	p.ek = dk.Public().Raw()
	dk.Wipe()
	p.digest = pqDigest(p.ek[:])
	p.seed = seed
	clear(seed[:])
	clear(p.ct[:])
	clear(p.m[:])
	p.e.Wipe()
	p.phase, p.epoch = pqSendEK, epoch
	p.cursor, p.allowance = 0, pqEKAllowance
	p.dec, p.held = newPQDecoder(pqCTBlocks), [pqDigestSize]byte{}
	return nil
}

// startRecvEK draws the encapsulation seed m (32 bytes) from r and enters
// RecvEK(epoch); on error p is unchanged. m is drawn on entering, not when
// the ek completes, so that every copy of a state in RecvEK(epoch)
// encapsulates to the same ct (§14.6).
func (p *pqState) startRecvEK(epoch uint32, r io.Reader) error {
	var m [pqEncapsSeedSize]byte
	if err := crypto.RandomBytes(r, m[:]); err != nil {
		return err
	}
	p.m = m
	clear(m[:])
	clear(p.seed[:])
	clear(p.ek[:])
	clear(p.ct[:])
	p.e.Wipe()
	p.phase, p.epoch = pqRecvEK, epoch
	p.cursor, p.allowance = 0, 0
	p.digest = [pqDigestSize]byte{}
	p.dec, p.held = newPQDecoder(pqEKBlocks), [pqDigestSize]byte{}
	return nil
}

// turnOn starts an off p in epoch 1, whose ek the joiner sends: the
// joiner draws its key-generation seed (64 bytes) from r, the inviter its
// encapsulation seed (32 bytes).
func (p *pqState) turnOn(initiator bool, r io.Reader) error {
	if !initiator {
		return p.startRecvEK(1, r)
	}
	return p.startSendEK(1, r)
}

// encapsulate finishes RecvEK: it parses the peer's ek (an invalid one
// does not authenticate), encapsulates with the seed drawn on entering
// RecvEK, wipes it and enters SendCT with the epoch's secret. It draws
// nothing.
func (p *pqState) encapsulate(ek []byte) error {
	pub, err := crypto.ParseKEM768Public(ek)
	if err != nil {
		return authErr("invalid KEM ratchet key")
	}
	ct, ss, err := crypto.Encapsulate768(pub, bytes.NewReader(p.m[:]))
	if err != nil {
		return err
	}
	clear(p.m[:])
	p.e = pqEpochSecret(&ss, ek, ct, p.epoch)
	ss.Wipe()
	copy(p.ct[:], ct)
	p.digest = pqDigest(p.ct[:])
	p.phase = pqSendCT
	p.cursor, p.allowance = 0, pqCTAllowance
	p.dec, p.held = pqDecoder{}, [pqDigestSize]byte{}
	return nil
}

// decapsulate finishes SendEK: it decapsulates the peer's ct with the key
// rebuilt from the seed, wipes the seed and enters MixPending.
func (p *pqState) decapsulate(ct []byte) error {
	dk, err := crypto.ParseKEM768Private(p.seed[:])
	if err != nil {
		return err
	}
	ss, err := crypto.Decapsulate768(&dk, ct)
	dk.Wipe()
	if err != nil {
		return err
	}
	p.e = pqEpochSecret(&ss, p.ek[:], ct, p.epoch)
	ss.Wipe()
	clear(p.seed[:])
	clear(p.ek[:])
	p.digest = [pqDigestSize]byte{}
	p.phase = pqMixPending
	p.cursor, p.allowance = 0, 0
	p.dec, p.held = pqDecoder{}, [pqDigestSize]byte{}
	return nil
}

// mix takes E out of MixPending when this side creates a sending chain:
// the epoch is complete and p enters RecvEK of the next one, drawing its
// encapsulation seed (32) from r; on error p is unchanged. The caller
// wipes the returned key.
func (p *pqState) mix(r io.Reader) (crypto.SymKey, error) {
	e := p.e
	if err := p.startRecvEK(nextEpoch(p.epoch), r); err != nil {
		e.Wipe()
		return crypto.SymKey{}, err
	}
	p.completed()
	return e, nil
}

// confirm ends SendCT when the peer's mixed chain opened: the epoch is
// complete and p enters SendEK of the next one, drawing its seed (64).
func (p *pqState) confirm(r io.Reader) error {
	p.completed()
	return p.startSendEK(nextEpoch(p.epoch), r)
}

// sending reports whether p still sends its payload: SendCT until the
// confirmation, SendEK until the first ct chunk arrives.
func (p *pqState) sending() bool {
	return p.phase == pqSendCT || (p.phase == pqSendEK && len(p.dec.got) == 0)
}

// incoming applies a received message to p (spec/session.md §14.2): step
// says that it was a DH step, which grows the allowance of a side still
// sending; has says that it carried block b. A block turns an off p on
// (the joiner draws a key-generation seed, the inviter an encapsulation
// seed), matching chunks go into the decoder, and a completed decoder runs
// the phase's action, which draws nothing. Chunks of another kind or epoch are
// ignored. An invalid ek is an error wrapping ErrAuth.
func (p *pqState) incoming(b *pqBlock, has, step, initiator bool, r io.Reader) error {
	if step && p.sending() {
		g := uint16(pqEKGrowth)
		if p.phase == pqSendCT {
			g = pqCTGrowth
		}
		p.allowance = uint16(min(int(p.allowance)+int(g), math.MaxUint16))
	}
	if !has {
		return nil
	}
	if p.phase == pqOff {
		if err := p.turnOn(initiator, r); err != nil {
			return err
		}
	}
	p.heard = true
	switch {
	case b.kind == pqKindEK && p.phase == pqRecvEK && b.epoch == p.epoch:
		if payload := p.gather(b); payload != nil {
			err := p.encapsulate(payload)
			clear(payload)
			return err
		}
	case b.kind == pqKindCT && p.phase == pqSendEK && b.epoch == p.epoch:
		p.allowance = 0
		if payload := p.gather(b); payload != nil {
			err := p.decapsulate(payload)
			clear(payload)
			return err
		}
	}
	return nil
}

// gather adds the chunks of a matching block b to the decoder and returns
// the payload once it is rebuilt and has b's digest, else nil (§14.4).
// The decoder holds the chunks of one payload: a block of another digest
// restarts it with its own chunks, the latest payload winning. A rebuilt
// payload of another digest (chunks of two payloads under one digest)
// empties the decoder and completes nothing. The digests name public
// payloads, so they are compared in plain.
func (p *pqState) gather(b *pqBlock) []byte {
	if len(p.dec.got) > 0 && p.held != b.digest {
		p.dec.wipe()
	}
	p.held = b.digest
	for _, c := range b.chunks {
		if payload, done := p.dec.add(c); done {
			p.held = [pqDigestSize]byte{}
			if pqDigest(payload) != b.digest {
				clear(payload)
				return nil
			}
			return payload
		}
	}
	return nil
}

// quiet reports whether block b, received in a message that is not a DH
// step, leaves p able neither to fail nor to draw: p is on, and b is
// either ignored or adds chunks that do not complete the payload.
func (p *pqState) quiet(b *pqBlock) bool {
	if p.phase == pqOff {
		return false
	}
	if !(b.kind == pqKindEK && p.phase == pqRecvEK && b.epoch == p.epoch) &&
		!(b.kind == pqKindCT && p.phase == pqSendEK && b.epoch == p.epoch) {
		return true // ignored: only heard is set
	}
	if len(p.dec.got) > 0 && p.held != b.digest {
		return len(b.chunks) < p.dec.n // the decoder restarts with b's chunks
	}
	fresh := 0 // a block's chunks have distinct x (splitPQBlock)
	for _, c := range b.chunks {
		if !p.dec.holds(c.x) {
			fresh++
		}
	}
	return len(p.dec.got)+fresh < p.dec.n
}

// putOutgoing chooses the block of the next message and writes it at the
// end of padded, whose first ptLen bytes hold the plaintext and the next
// its 0x80 marker (spec/session.md §14.4); it advances the cursor and the
// allowance. In order: chunks of the payload p sends, if its allowance and
// the room allow at least one; else a hello while nothing was heard from
// the peer; else nothing. A joiner's initial messages (initial) carry ek
// chunks whatever the allowance, so that any one of them can start the
// session. The chunks are encoded straight into the message.
func (p *pqState) putOutgoing(padded []byte, ptLen int, initial bool) {
	room := pqRoom(len(padded) - ptLen - 1)
	if p.phase == pqOff || room < 0 {
		return
	}
	var payload []byte
	kind := byte(pqKindEK)
	switch p.phase {
	case pqSendEK:
		payload = p.ek[:]
	case pqSendCT:
		payload, kind = p.ct[:], pqKindCT
	}
	if payload != nil && room >= 1 && (p.allowance > 0 || initial) {
		k := room
		if !initial {
			k = min(k, int(p.allowance))
		}
		p.allowance -= uint16(min(k, int(p.allowance)))
		o := padded[len(padded)-pqBlockFixed-pqChunkSize*k:]
		for range k {
			o[0] = p.cursor
			pqEncode(payload, p.cursor, (*[pqChunkData]byte)(o[1:pqChunkSize]))
			o = o[pqChunkSize:]
			p.cursor++ // wraps from 255 to 0
		}
		putPQTrailer(padded, kind, p.epoch, k, &p.digest)
		return
	}
	if !p.heard {
		putPQTrailer(padded, pqKindHello, 0, 0, nil)
	}
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
// seed (64 bytes), the inviter's side its first encapsulation seed (32
// bytes); on error s is unchanged.
func (s *Session) EnablePQ() error {
	if s.pq.phase != pqOff {
		return nil
	}
	next := s.pq.clone()
	if err := next.turnOn(s.initiator, s.cfg.rand()); err != nil {
		next.wipe()
		return err
	}
	s.pq = next
	return nil
}
