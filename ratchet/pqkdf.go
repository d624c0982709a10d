package ratchet

import (
	"encoding/binary"

	"veil/crypto"
)

// pqEpochSecret is E_e, the secret one KEM-ratchet epoch adds to the root
// (spec/session.md §14.5):
//
//	E_e = HKDF-SHA256(ikm = ss, salt = SHA-256(ek || ct),
//	                  info = "veil/session/v1/pq-epoch" || uint32be(e), 32)
//
// It binds the whole exchange: the shared secret, both public messages and
// the epoch number.
func pqEpochSecret(ss *crypto.SymKey, ek, ct []byte, epoch uint32) crypto.SymKey {
	salt := crypto.Hash(ek, ct)
	info := binary.BigEndian.AppendUint32([]byte(labelPQEpoch), epoch)
	return crypto.HKDFKey(ss[:], salt[:], string(info))
}

// kdfRootPQ is KDF_RK_PQ, the root step that mixes an epoch secret E into
// a DH ratchet step (spec/session.md §14.5):
//
//	KDF_RK_PQ(rk, dh, E) = HKDF-SHA256(ikm = dh || E, salt = rk,
//	                                   info = "veil/session/v1/root-pq", 96)
//
// split like kdfRoot into the next root key, a chain key and the next
// header key. Its own label keeps mixed and plain steps independent.
func kdfRootPQ(rk, dhOut, e *crypto.SymKey) (nextRK, ck, nhk crypto.SymKey) {
	var ikm [2 * crypto.KeySize]byte
	copy(ikm[:], dhOut[:])
	copy(ikm[crypto.KeySize:], e[:])
	var out [3 * crypto.KeySize]byte
	crypto.HKDF(out[:], ikm[:], rk[:], labelRootPQ)
	copy(nextRK[:], out[0:32])
	copy(ck[:], out[32:64])
	copy(nhk[:], out[64:96])
	crypto.Wipe(ikm[:])
	crypto.Wipe(out[:])
	return
}

// pqDigestSize is the size of a KEM ratchet payload's digest.
const pqDigestSize = 8

// pqDigest names a payload (an ek or a ct) in the blocks that carry its
// chunks (spec/session.md §14.4): the first 8 bytes of
// SHA-256("veil/session/v1/pq-digest" || payload).
func pqDigest(payload []byte) [pqDigestSize]byte {
	h := crypto.Hash([]byte(labelPQDigest), payload)
	return [pqDigestSize]byte(h[:pqDigestSize])
}
