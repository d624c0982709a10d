package ratchet

import "veil/crypto"

// chainStep advances the symmetric-key ratchet ck by one step in place and
// returns the message key of the step (spec/session.md §4.4):
//
//	MK  = HMAC-SHA256(CK, 0x01)
//	CK' = HMAC-SHA256(CK, 0x02)
//
// The same step drives the Double Ratchet's sending and receiving chains
// and, later, the sender chains of groups.
func chainStep(ck *crypto.SymKey) (mk crypto.SymKey) {
	crypto.ChainStep(ck, &mk, chainMessageByte, chainNextByte)
	return mk
}

// kdfRoot is KDF_RK_HE of Signal's header-encryption variant
// (spec/session.md §4.3): HKDF-SHA256 with the root key as salt and the DH
// output as input keying material, split into the next root key, a chain
// key and the next header key.
func kdfRoot(rk, dhOut *crypto.SymKey) (nextRK, ck, nhk crypto.SymKey) {
	var out [3 * crypto.KeySize]byte
	crypto.HKDF(out[:], dhOut[:], rk[:], labelRootStep)
	copy(nextRK[:], out[0:32])
	copy(ck[:], out[32:64])
	copy(nhk[:], out[64:96])
	crypto.Wipe(out[:])
	return
}
