package ratchet

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"veil/crypto"
)

// SealedEpochSize returns the size of an epoch secret sealed to n members
// (spec/groups.md §5.3): one ephemeral key and one wrapped secret each.
func SealedEpochSize(n int) int { return crypto.KeySize + n*sealedSecretSize }

// SealEpochSecret wraps the epoch secret for every recipient (the members'
// per-group X25519 keys, in roster order) under one fresh ephemeral key
// (spec/groups.md §5.3):
//
//	E, e   = a fresh X25519 key pair from r
//	K_i    = HKDF(DH(e, P_i), salt = E || P_i, "veil/group/v1/epoch-seal")
//	W_i    = ChaCha20-Poly1305(K_i, nonce 0, secret, ad = ctx || uint16(i))
//	sealed = E || W_0 || … || W_{n-1}
//
// ctx is the context of the epoch the secret opens. Each K_i seals one
// message, so the zero nonce is safe.
func SealEpochSecret(secret *crypto.SymKey, ctx [EpochContextSize]byte, recipients []crypto.DHPublic, r io.Reader) ([]byte, error) {
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
		k, err := sealKey(e, epub, p)
		if err != nil {
			return nil, fmt.Errorf("ratchet: member %d's sealing key: %w", i, err)
		}
		ad := sealAD(&ctx, i)
		out = crypto.Seal(out, &k, &nonce, secret[:], ad[:])
		k.Wipe()
	}
	return out, nil
}

// OpenEpochSecret returns the epoch secret that sealed wraps for recipient
// index i, whose X25519 key is priv. Any failure (a wrong index, key,
// context or a tampered record) is an error wrapping ErrAuth.
func OpenEpochSecret(sealed []byte, ctx [EpochContextSize]byte, i int, priv crypto.DHPrivate) (crypto.SymKey, error) {
	var secret crypto.SymKey
	if len(sealed) < crypto.KeySize || (len(sealed)-crypto.KeySize)%sealedSecretSize != 0 {
		return secret, authErr("sealed epoch has a bad length")
	}
	n := (len(sealed) - crypto.KeySize) / sealedSecretSize
	if i < 0 || i >= n || !priv.Valid() {
		return secret, authErr("no sealed secret for this member")
	}
	epub := crypto.DHPublic(sealed[:crypto.KeySize])
	shared, err := crypto.DH(priv, epub)
	if err != nil {
		return secret, authErr("bad ephemeral key")
	}
	k := sealKeyFrom(&shared, epub, priv.Public())
	shared.Wipe()
	defer k.Wipe()
	off := crypto.KeySize + i*sealedSecretSize
	var nonce [crypto.NonceSize]byte
	ad := sealAD(&ctx, i)
	pt, err := crypto.Open(secret[:0], &k, &nonce, sealed[off:off+sealedSecretSize], ad[:])
	if err != nil || len(pt) != crypto.KeySize {
		return crypto.SymKey{}, ErrAuth
	}
	return secret, nil
}

func sealKey(e crypto.DHPrivate, epub, p crypto.DHPublic) (crypto.SymKey, error) {
	shared, err := crypto.DH(e, p)
	if err != nil {
		return crypto.SymKey{}, errors.New("low-order key")
	}
	k := sealKeyFrom(&shared, epub, p)
	shared.Wipe()
	return k, nil
}

func sealKeyFrom(shared *crypto.SymKey, epub, p crypto.DHPublic) crypto.SymKey {
	var salt [2 * crypto.KeySize]byte
	copy(salt[:], epub[:])
	copy(salt[crypto.KeySize:], p[:])
	return crypto.HKDFKey(shared[:], salt[:], labelGroupSeal)
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
