package ratchet

import (
	"encoding/binary"
	"fmt"
	"math"

	"veil/crypto"
)

// The KEM ratchet's section of a serialised session of state version 0x02
// (spec/session.md §10):
//
//	phase [1] ‖ flags [1] ‖ epoch [4] ‖ epochs done [4] ‖ cursor [1] ‖ allowance [2]
//	‖ SendEK:     dk seed [64] ‖ ek [1184] ‖ decoder (ct)
//	  MixPending: E [32]
//	  RecvEK:     m [32] ‖ decoder (ek)
//	  SendCT:     ct [1088] ‖ E [32]
//	decoder = count [1] ‖ (count > 0: digest [8]) ‖ count × (x [1] ‖ d [32]),
//	          x strictly ascending, count < n
//
// The digest of the payload being sent is not stored: it is made again from
// ek or ct.
//
// phase 1 SendEK, 2 MixPending, 3 RecvEK, 4 SendCT (an off session has no
// section: it is written as state version 0x01); flags bit 0: a block was
// heard from the peer, the other bits zero. cursor and allowance are zero
// outside SendEK and SendCT, and the allowance is zero in a SendEK that
// has received ct chunks.
const (
	pqStateFixed   = 1 + 1 + 4 + 4 + 1 + 2
	pqFlagHeard    = 0x01
	pqStateMaxSize = pqStateFixed + crypto.KEM768SeedSize + crypto.KEM768PublicSize + 1 + pqDigestSize + (pqCTBlocks-1)*pqChunkSize
)

// appendTo appends p's section (p is on) to b.
func (p *pqState) appendTo(b []byte) []byte {
	var flags byte
	if p.heard {
		flags |= pqFlagHeard
	}
	b = append(b, byte(p.phase), flags)
	b = binary.BigEndian.AppendUint32(b, p.epoch)
	b = binary.BigEndian.AppendUint32(b, p.done)
	b = append(b, p.cursor)
	b = binary.BigEndian.AppendUint16(b, p.allowance)
	switch p.phase {
	case pqSendEK:
		b = append(b, p.seed[:]...)
		b = append(b, p.ek[:]...)
		b = p.dec.appendTo(b, &p.held)
	case pqMixPending:
		b = append(b, p.e[:]...)
	case pqRecvEK:
		b = append(b, p.m[:]...)
		b = p.dec.appendTo(b, &p.held)
	case pqSendCT:
		b = append(b, p.ct[:]...)
		b = append(b, p.e[:]...)
	}
	return b
}

// appendTo appends the decoder and held, the digest of its chunks, to b.
func (d *pqDecoder) appendTo(b []byte, held *[pqDigestSize]byte) []byte {
	b = append(b, byte(len(d.got)))
	if len(d.got) > 0 {
		b = append(b, held[:]...)
	}
	for _, c := range d.got {
		b = append(b, c.x)
		b = append(b, c.d[:]...)
	}
	return b
}

// parsePQState parses a whole KEM ratchet section. The parser is exact:
// every field is bounded, and anything Marshal would not write is an error.
func parsePQState(b []byte) (pqState, error) {
	var p pqState
	bad := func(why string) (pqState, error) {
		p.wipe()
		return pqState{}, fmt.Errorf("%w: KEM ratchet: %s", errState, why)
	}
	if len(b) < pqStateFixed {
		return bad("truncated")
	}
	if len(b) > pqStateMaxSize {
		return bad("too long")
	}
	p.phase = pqPhase(b[0])
	flags := b[1]
	p.epoch = binary.BigEndian.Uint32(b[2:6])
	p.done = binary.BigEndian.Uint32(b[6:10])
	p.cursor = b[10]
	p.allowance = binary.BigEndian.Uint16(b[11:13])
	b = b[pqStateFixed:]
	if p.phase == pqOff || p.phase >= pqPhases {
		return bad("unknown phase")
	}
	if flags&^pqFlagHeard != 0 {
		return bad("unknown flags")
	}
	p.heard = flags&pqFlagHeard != 0
	if p.epoch == 0 {
		return bad("epoch 0")
	}
	if p.phase != pqSendEK && p.phase != pqSendCT && (p.cursor != 0 || p.allowance != 0) {
		return bad("cursor or allowance outside a sending phase")
	}
	take := func(dst []byte) bool {
		if len(b) < len(dst) {
			return false
		}
		copy(dst, b)
		b = b[len(dst):]
		return true
	}
	var err error
	switch p.phase {
	case pqSendEK:
		if !take(p.seed[:]) || !take(p.ek[:]) {
			return bad("truncated")
		}
		if p.dec, p.held, b, err = parsePQDecoder(b, pqCTBlocks); err != nil {
			return bad(err.Error())
		}
		p.digest = pqDigest(p.ek[:])
		if len(p.dec.got) > 0 && p.allowance != 0 {
			return bad("allowance after ct chunks")
		}
	case pqMixPending:
		if !take(p.e[:]) {
			return bad("truncated")
		}
	case pqRecvEK:
		if !take(p.m[:]) {
			return bad("truncated")
		}
		if p.dec, p.held, b, err = parsePQDecoder(b, pqEKBlocks); err != nil {
			return bad(err.Error())
		}
	case pqSendCT:
		if !take(p.ct[:]) || !take(p.e[:]) {
			return bad("truncated")
		}
		p.digest = pqDigest(p.ct[:])
	}
	if len(b) != 0 {
		return bad("trailing bytes")
	}
	// Below the saturated epoch every completed epoch is one step of the
	// counter; at 2^32 − 1 the count goes on up to its own cap.
	if (p.epoch < math.MaxUint32 && p.done != p.epoch-1) || p.done < p.epoch-1 {
		return bad("epochs done out of step with the epoch")
	}
	// Every phase but SendEK and RecvEK is entered on a block of the peer,
	// and so is any chunk a decoder holds.
	if !p.heard && (p.phase == pqMixPending || p.phase == pqSendCT || len(p.dec.got) > 0) {
		return bad("peer not heard")
	}
	return p, nil
}

// checkRole reports whether p's phase fits the side that holds it: in
// SendEK(e) and MixPending(e) the side sends e's ek, in RecvEK(e) and
// SendCT(e) the peer does; the initiator sends ek in odd epochs (§14.2).
// Once the counter stops at 2^32 − 1 the roles go on swapping, so a
// saturated epoch says nothing about them.
func (p *pqState) checkRole(initiator bool) error {
	if p.phase == pqOff || p.epoch == math.MaxUint32 {
		return nil
	}
	sender := p.phase == pqSendEK || p.phase == pqMixPending
	if sender != (initiator == (p.epoch%2 == 1)) {
		return fmt.Errorf("%w: KEM ratchet: %v in epoch %d on the wrong side", errState, p.phase, p.epoch)
	}
	return nil
}

// parsePQDecoder parses a decoder of an n-block payload at the start of b
// and returns it, the digest of its chunks (zero when it is empty) and the
// rest of b.
func parsePQDecoder(b []byte, n int) (pqDecoder, [pqDigestSize]byte, []byte, error) {
	var held [pqDigestSize]byte
	if len(b) < 1 {
		return pqDecoder{}, held, nil, fmt.Errorf("truncated decoder")
	}
	count := int(b[0])
	b = b[1:]
	if count >= n {
		return pqDecoder{}, held, nil, fmt.Errorf("decoder holds %d chunks, at most %d", count, n-1)
	}
	if count > 0 {
		if len(b) < pqDigestSize {
			return pqDecoder{}, held, nil, fmt.Errorf("truncated decoder")
		}
		copy(held[:], b)
		b = b[pqDigestSize:]
	}
	if len(b) < count*pqChunkSize {
		return pqDecoder{}, held, nil, fmt.Errorf("truncated decoder")
	}
	d := newPQDecoder(n)
	for i := range count {
		c := pqChunk{x: b[0]}
		copy(c.d[:], b[1:pqChunkSize])
		b = b[pqChunkSize:]
		if i > 0 && c.x <= d.got[i-1].x {
			return pqDecoder{}, held, nil, fmt.Errorf("decoder chunks out of order")
		}
		d.got = append(d.got, c)
	}
	return d, held, b, nil
}
