package crypto

import (
	"crypto/aes"
	"crypto/cipher"
)

// BlockAEAD is AES-256-GCM under one fixed key, for a stream of messages
// numbered by the caller (the relay transport's 16 KiB blocks,
// spec/relay.md §5). The key schedule is computed once, so each message
// costs only the AES-GCM pass, which runs on the CPU's AES and carry-less
// multiply instructions where they exist. Nonces must never repeat under
// one key: callers use a message counter. GCM's safety margin shrinks
// with the number of messages under one key (RFC 8446 §5.5 allows 2^24.5
// full 16 KiB records), so callers rekey well before that (NextBlockKey).
type BlockAEAD struct {
	aead cipher.AEAD
}

// NewBlockAEAD returns the AES-256-GCM AEAD for key. It keeps the expanded
// key, not key itself; the caller may wipe key afterwards.
func NewBlockAEAD(key *SymKey) *BlockAEAD {
	b, err := aes.NewCipher(key[:])
	if err != nil {
		panic("crypto: aes.NewCipher: " + err.Error()) // key size is fixed by type
	}
	a, err := cipher.NewGCM(b)
	if err != nil {
		panic("crypto: cipher.NewGCM: " + err.Error())
	}
	return &BlockAEAD{aead: a}
}

// Seal encrypts and authenticates pt under nonce, appending the result
// (len(pt) + Overhead bytes) to dst.
func (b *BlockAEAD) Seal(dst []byte, nonce *[NonceSize]byte, pt, ad []byte) []byte {
	return b.aead.Seal(dst, nonce[:], pt, ad)
}

// Open authenticates and decrypts ct, appending the plaintext to dst. Any
// failure is ErrAuth.
func (b *BlockAEAD) Open(dst []byte, nonce *[NonceSize]byte, ct, ad []byte) ([]byte, error) {
	out, err := b.aead.Open(dst, nonce[:], ct, ad)
	if err != nil {
		return nil, ErrAuth
	}
	return out, nil
}

// NextBlockKey returns the key that follows key in a stream that rekeys
// (spec/relay.md §5.1): HKDF-SHA256(secret = key, salt = empty,
// info = label).
func NextBlockKey(key *SymKey, label string) SymKey {
	return HKDFKey(key[:], nil, label)
}
