package ratchet

import "encoding/binary"

// The KEM ratchet's block (spec/session.md §14) rides at the end of a
// body's padded plaintext, inside the padding, and is read backwards from
// the last byte:
//
//	padded = pt ‖ 0x80 ‖ 0x00* ‖ chunk_1 … chunk_k ‖ digest [8] ‖ epoch [4] ‖ k [1] ‖ kind [1] ‖ 0x01
//	chunk  = x [1] ‖ d [32]
//
// A hello has neither chunks nor digest: its 7 bytes are epoch ‖ k ‖ kind
// ‖ 0x01. The digest names the payload the chunks belong to (pqDigest).
//
// A last byte of 0x00 or 0x80 means no block, as in every body without
// one; 0x01 means a block; anything else does not authenticate.
const (
	pqHelloSize  = 7                          // epoch, k, kind and tag
	pqBlockFixed = pqDigestSize + pqHelloSize // digest, epoch, k, kind and tag of an ek or ct block
	pqChunkSize  = 1 + pqChunkData            // x and d
	pqMaxChunks  = 255                        // k is one byte
	pqBlockTag   = 0x01                       // last byte of a body that carries a block
	pqKindHello  = 0                          // "I speak the KEM ratchet": k = 0, epoch = 0
	pqKindEK     = 1                          // chunks of the epoch's encapsulation key
	pqKindCT     = 2                          // chunks of the epoch's ciphertext
)

// pqBlock is one parsed block. A hello has no chunks and epoch 0; an ek or
// ct block has 1 to 255 chunks of distinct x, an epoch ≥ 1 and the digest
// of their payload.
type pqBlock struct {
	kind   byte
	epoch  uint32
	digest [pqDigestSize]byte
	chunks []pqChunk
}

// size is the block's length on the wire: 7 for a hello, 15 + 33·k else.
func (b *pqBlock) size() int {
	if b.kind == pqKindHello {
		return pqHelloSize
	}
	return pqBlockFixed + pqChunkSize*len(b.chunks)
}

// splitPQBlock finds the block at the end of padded. Without one it returns
// padded itself and has false. With one it returns the bytes before it,
// which go on to crypto.Unpad. Every malformed tail is an error wrapping
// ErrAuth: another last byte, an unknown kind, a hello with chunks or an
// epoch, an ek or ct block without chunks or with epoch 0, a repeated x, or
// a block that does not leave at least one byte before it. The chunks are
// copies; rest aliases padded.
func splitPQBlock(padded []byte) (rest []byte, b pqBlock, has bool, err error) {
	l := len(padded)
	if l == 0 {
		return nil, pqBlock{}, false, authErr("empty body")
	}
	switch padded[l-1] {
	case 0x00, 0x80:
		return padded, pqBlock{}, false, nil
	case pqBlockTag:
	default:
		return nil, pqBlock{}, false, authErr("bad padding")
	}
	if l < pqHelloSize+1 {
		return nil, pqBlock{}, false, authErr("truncated KEM ratchet block")
	}
	b.kind = padded[l-2]
	k := int(padded[l-3])
	b.epoch = binary.BigEndian.Uint32(padded[l-7 : l-3])
	switch b.kind {
	case pqKindHello:
		if k != 0 || b.epoch != 0 {
			return nil, pqBlock{}, false, authErr("malformed KEM ratchet hello")
		}
		return padded[:l-pqHelloSize], b, true, nil
	case pqKindEK, pqKindCT:
		if k == 0 || b.epoch == 0 {
			return nil, pqBlock{}, false, authErr("malformed KEM ratchet block")
		}
	default:
		return nil, pqBlock{}, false, authErr("unknown KEM ratchet block")
	}
	size := pqBlockFixed + pqChunkSize*k
	if l <= size {
		return nil, pqBlock{}, false, authErr("truncated KEM ratchet block")
	}
	start := l - size
	copy(b.digest[:], padded[l-pqBlockFixed:l-pqHelloSize])
	b.chunks = make([]pqChunk, k)
	var seen [256]bool
	for i := range b.chunks {
		c := padded[start+i*pqChunkSize : start+(i+1)*pqChunkSize]
		if seen[c[0]] {
			return nil, pqBlock{}, false, authErr("repeated chunk in a KEM ratchet block")
		}
		seen[c[0]] = true
		b.chunks[i].x = c[0]
		copy(b.chunks[i].d[:], c[1:])
	}
	return padded[:start], b, true, nil
}

// putPQBlock writes b at the end of padded, over padding the caller has
// checked is free: len(padded) must exceed b's size (pqRoom), and b must be
// well formed as splitPQBlock requires. Either failing is a programmer
// error and panics.
func putPQBlock(padded []byte, b pqBlock) {
	k := len(b.chunks)
	switch {
	case b.kind == pqKindHello && (k != 0 || b.epoch != 0),
		(b.kind == pqKindEK || b.kind == pqKindCT) && (k == 0 || k > pqMaxChunks || b.epoch == 0),
		b.kind > pqKindCT:
		panic("ratchet: malformed KEM ratchet block")
	}
	l := len(padded)
	if l <= b.size() {
		panic("ratchet: no room for the KEM ratchet block")
	}
	start := l - b.size()
	var seen [256]bool
	for i, c := range b.chunks {
		if seen[c.x] {
			panic("ratchet: repeated chunk in a KEM ratchet block")
		}
		seen[c.x] = true
		o := padded[start+i*pqChunkSize:]
		o[0] = c.x
		copy(o[1:pqChunkSize], c.d[:])
	}
	putPQTrailer(padded, b.kind, b.epoch, k, &b.digest)
}

// putPQTrailer writes the fixed part of a block of k chunks at the end of
// padded: the digest (not for a hello, whose digest is nil), epoch, k,
// kind and the tag.
func putPQTrailer(padded []byte, kind byte, epoch uint32, k int, digest *[pqDigestSize]byte) {
	l := len(padded)
	if kind != pqKindHello {
		copy(padded[l-pqBlockFixed:l-pqHelloSize], digest[:])
	}
	binary.BigEndian.PutUint32(padded[l-7:l-3], epoch)
	padded[l-3] = byte(k)
	padded[l-2] = kind
	padded[l-1] = pqBlockTag
}

// pqRoom returns how many chunks fit in spare bytes of padding (the padded
// length less the plaintext and its 0x80 marker): −1 if not even a hello
// fits (spare < 7), 0 if a hello but no chunk does (spare < 15 + 33), else
// ⌊(spare − 15)/33⌋ capped at 255.
func pqRoom(spare int) int {
	switch {
	case spare < pqHelloSize:
		return -1
	case spare < pqBlockFixed:
		return 0
	}
	return min(pqMaxChunks, (spare-pqBlockFixed)/pqChunkSize)
}
