package ratchet

import (
	"encoding/binary"
	"fmt"
	"io"

	"veil/crypto"
)

// SealedEpochSize returns the size of an epoch secret sealed to n members
// (spec/groups.md §5.3): one ephemeral X25519 key, then per member one
// ML-KEM-768 ciphertext and one wrapped secret.
func SealedEpochSize(n int) int { return crypto.KeySize + n*sealedSecretSize }

// SealRecipient is one member's pair of sealing keys: its per-group X25519
// key P and ML-KEM-768 key Q.
type SealRecipient struct {
	DH  crypto.DHPublic
	KEM crypto.KEM768Public
}

// SealEpochSecret wraps the epoch secret for every recipient (in roster
// order) under one fresh ephemeral X25519 key and one ML-KEM-768
// encapsulation per recipient (spec/groups.md §5.3):
//
//	E, e     = a fresh X25519 key pair from r
//	ct_i, ss = ML-KEM-768.Encaps(Q_i), its 32-byte seed drawn from r
//	dh       = X25519(e, P_i)
//	K_i      = HKDF(ss || dh, salt = ct_i || E || P_i, "veil/group/v2/epoch-seal")
//	W_i      = ct_i || ChaCha20-Poly1305(K_i, nonce 0, secret, ad = ctx || uint16(i))
//	sealed   = E || W_0 || … || W_{n-1}
//
// r is read in that order: e's 32 bytes, then one 32-byte encapsulation
// seed per recipient. ctx is the context of the epoch the secret opens.
// Each K_i seals one message, so the zero nonce is safe. K_i stays secret
// while either X25519 or ML-KEM-768 holds.
func SealEpochSecret(secret *crypto.SymKey, ctx [EpochContextSize]byte, recipients []SealRecipient, r io.Reader) ([]byte, error) {
	if len(recipients) == 0 || len(recipients) > MaxGroupMembers {
		return nil, fmt.Errorf("ratchet: an epoch is sealed to 1 to %d members, not %d", MaxGroupMembers, len(recipients))
	}
	e, err := crypto.GenerateDH(r)
	if err != nil {
		return nil, err
	}
	defer func() { b := e.Bytes(); crypto.Wipe(b) }()
	epub := e.Public()
	out := make([]byte, 0, SealedEpochSize(len(recipients)))
	out = append(out, epub[:]...)
	var nonce [crypto.NonceSize]byte
	for i, p := range recipients {
		dh, err := crypto.DH(e, p.DH)
		if err != nil {
			return nil, fmt.Errorf("ratchet: member %d's sealing key: low-order key", i)
		}
		ct, ss, err := crypto.Encapsulate768(p.KEM, r)
		if err != nil {
			dh.Wipe()
			return nil, fmt.Errorf("ratchet: member %d's ML-KEM key: %w", i, err)
		}
		k := sealKey(&ss, &dh, ct, epub, p.DH)
		ss.Wipe()
		dh.Wipe()
		out = append(out, ct...)
		ad := sealAD(&ctx, i)
		out = crypto.Seal(out, &k, &nonce, secret[:], ad[:])
		k.Wipe()
	}
	return out, nil
}

// OpenEpochSecret returns the epoch secret that sealed wraps for recipient
// index i, whose sealing keys are dhPriv and kemPriv. Any failure (a wrong
// index, key, context or a tampered record) is an error wrapping ErrAuth.
func OpenEpochSecret(sealed []byte, ctx [EpochContextSize]byte, i int, dhPriv crypto.DHPrivate, kemPriv *crypto.KEM768Private) (crypto.SymKey, error) {
	var secret crypto.SymKey
	if len(sealed) < crypto.KeySize || (len(sealed)-crypto.KeySize)%sealedSecretSize != 0 {
		return secret, authErr("sealed epoch has a bad length")
	}
	n := (len(sealed) - crypto.KeySize) / sealedSecretSize
	if i < 0 || i >= n || !dhPriv.Valid() || kemPriv == nil || !kemPriv.Valid() {
		return secret, authErr("no sealed secret for this member")
	}
	epub := crypto.DHPublic(sealed[:crypto.KeySize])
	w := sealed[crypto.KeySize+i*sealedSecretSize:][:sealedSecretSize]
	ct := w[:crypto.KEM768CiphertextSize]
	dh, err := crypto.DH(dhPriv, epub)
	if err != nil {
		return secret, authErr("bad ephemeral key")
	}
	defer dh.Wipe()
	ss, err := crypto.Decapsulate768(kemPriv, ct)
	if err != nil {
		return secret, authErr("bad ML-KEM ciphertext")
	}
	defer ss.Wipe()
	k := sealKey(&ss, &dh, ct, epub, dhPriv.Public())
	defer k.Wipe()
	var nonce [crypto.NonceSize]byte
	ad := sealAD(&ctx, i)
	pt, err := crypto.Open(secret[:0], &k, &nonce, w[crypto.KEM768CiphertextSize:], ad[:])
	if err != nil || len(pt) != crypto.KeySize {
		return crypto.SymKey{}, ErrAuth
	}
	return secret, nil
}

// sealKey is the combiner of spec/groups.md §5.3, in the manner of X-Wing
// and PQXDH: both shared secrets as the key material, and the ML-KEM
// ciphertext, the ephemeral key and the recipient's X25519 key as salt, so
// K_i is bound to the whole exchange.
func sealKey(ss, dh *crypto.SymKey, ct []byte, epub, p crypto.DHPublic) crypto.SymKey {
	var ikm [2 * crypto.KeySize]byte
	copy(ikm[:], ss[:])
	copy(ikm[crypto.KeySize:], dh[:])
	defer clear(ikm[:])
	salt := make([]byte, 0, len(ct)+2*crypto.KeySize)
	salt = append(salt, ct...)
	salt = append(salt, epub[:]...)
	salt = append(salt, p[:]...)
	return crypto.HKDFKey(ikm[:], salt, labelGroupSeal)
}

func sealAD(ctx *[EpochContextSize]byte, i int) [EpochContextSize + 2]byte {
	var ad [EpochContextSize + 2]byte
	copy(ad[:], ctx[:])
	binary.BigEndian.PutUint16(ad[EpochContextSize:], uint16(i))
	return ad
}

// logIDLabel is appended to the epoch context in the AD of a sealed log ID
// (spec/groups.md §6.3), so it cannot be confused with a message header
// sealed under the same key.
const logIDLabel = "log"

// SealedLogIDSize is the size of a log ID sealed by SealLogID.
const SealedLogIDSize = crypto.SealedXSize + crypto.IDSize

// SealLogID seals the epoch log's ID under the epoch's header key
// (spec/groups.md §6.3): only members of the epoch learn which log is
// theirs.
func (g *GroupEpoch) SealLogID(id crypto.ID) ([]byte, error) {
	return crypto.SealX(nil, &g.hk, id[:], g.logAD(), g.cfg.rand())
}

// OpenLogID opens a log ID sealed by SealLogID in the same epoch. Any
// failure is ErrAuth.
func (g *GroupEpoch) OpenLogID(sealed []byte) (crypto.ID, error) {
	var id crypto.ID
	if len(sealed) != SealedLogIDSize {
		return id, authErr("sealed log ID has a bad length")
	}
	if _, err := crypto.OpenX(id[:0], &g.hk, sealed, g.logAD()); err != nil {
		return crypto.ID{}, ErrAuth
	}
	return id, nil
}

func (g *GroupEpoch) logAD() []byte {
	return append(g.ctx[:len(g.ctx):len(g.ctx)], logIDLabel...)
}
