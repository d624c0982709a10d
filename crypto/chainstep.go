package crypto

import (
	"crypto/hmac"
	"crypto/sha256"
)

// chainScratch holds ChainStep's HMAC input and output on the heap in one
// allocation: both pass through hash.Hash's interface methods, so the
// compiler cannot keep them on the stack.
type chainScratch struct {
	in  [1]byte
	out [HashSize]byte
}

// ChainStep is one step of a symmetric-key ratchet with HMAC-SHA256
// (spec/session.md §4.4):
//
//	mk  = HMAC-SHA256(ck, {mkByte})
//	ck' = HMAC-SHA256(ck, {ckByte})
//
// It writes mk and replaces *ck with ck'. The HMAC is keyed once for both
// outputs (its padded-key states are reused, FIPS 198-1 §6), which makes
// this cheaper than two Chain.Derive calls on a fresh Chain.
func ChainStep(ck, mk *SymKey, mkByte, ckByte byte) {
	s := new(chainScratch)
	h := hmac.New(sha256.New, ck[:])
	s.in[0] = mkByte
	h.Write(s.in[:])
	h.Sum(s.out[:0])
	copy(mk[:], s.out[:])
	h.Reset()
	s.in[0] = ckByte
	h.Write(s.in[:])
	h.Sum(s.out[:0])
	copy(ck[:], s.out[:])
	clear(s.out[:])
}
