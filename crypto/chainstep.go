package crypto

import (
	"crypto/hmac"
	"crypto/sha256"
)

// ChainStep is one step of a symmetric-key ratchet with HMAC-SHA256
// (spec/session.md §4.4):
//
//	mk  = HMAC-SHA256(ck, {mkByte})
//	ck' = HMAC-SHA256(ck, {ckByte})
//
// It writes mk and replaces *ck with ck'. The HMAC is keyed once for both
// outputs (its padded-key states are reused). Once the HMAC
// is keyed, *ck is no longer read (hmac.New copies the key into its padded
// blocks), so *ck itself serves as the one-byte input and the output
// buffer: the hash interface makes whatever it is given escape, and *ck
// already does (it is the HMAC key), so the step allocates nothing beyond
// the HMAC itself.
func ChainStep(ck, mk *SymKey, mkByte, ckByte byte) {
	h := hmac.New(sha256.New, ck[:])
	// Resetting a fresh HMAC makes the standard library save both padded-key
	// states (FIPS 198-1 §6); both Sums then restore them instead of hashing
	// the padded key again: 7 SHA-256 compressions instead of 8.
	h.Reset()
	ck[0] = mkByte
	h.Write(ck[:1])
	h.Sum(ck[:0])
	*mk = *ck
	h.Reset()
	ck[0] = ckByte
	h.Write(ck[:1])
	h.Sum(ck[:0])
}
