package crypto

import (
	"errors"
	"io"

	"golang.org/x/crypto/chacha20poly1305"
)

// AEAD sizes.
const (
	NonceSize  = chacha20poly1305.NonceSize  // 12, ChaCha20-Poly1305
	XNonceSize = chacha20poly1305.NonceSizeX // 24, XChaCha20-Poly1305
	Overhead   = chacha20poly1305.Overhead   // 16, the Poly1305 tag
)

// ErrAuth is returned when an AEAD open fails: the ciphertext, nonce,
// associated data or key is wrong. It carries no detail on purpose.
var ErrAuth = errors.New("crypto: message authentication failed")

// Seal encrypts and authenticates pt with ChaCha20-Poly1305 under key and
// a 12-byte nonce, appending the result to dst. A (key, nonce) pair must
// never be used twice; callers that use each key once may pass a zero nonce.
func Seal(dst []byte, key *SymKey, nonce *[NonceSize]byte, pt, ad []byte) []byte {
	a, err := chacha20poly1305.New(key[:])
	if err != nil {
		panic("crypto: chacha20poly1305.New: " + err.Error()) // key size is fixed by type
	}
	return a.Seal(dst, nonce[:], pt, ad)
}

// Open authenticates and decrypts ct sealed by Seal, appending the
// plaintext to dst. Any failure is ErrAuth.
func Open(dst []byte, key *SymKey, nonce *[NonceSize]byte, ct, ad []byte) ([]byte, error) {
	a, err := chacha20poly1305.New(key[:])
	if err != nil {
		panic("crypto: chacha20poly1305.New: " + err.Error())
	}
	out, err := a.Open(dst, nonce[:], ct, ad)
	if err != nil {
		return nil, ErrAuth
	}
	return out, nil
}

// SealX encrypts pt with XChaCha20-Poly1305 under key and a fresh random
// 24-byte nonce drawn from r (crypto/rand when nil) and appends
// nonce || ciphertext || tag to dst. Random nonces are safe at this size,
// so one key may seal any number of messages. The nonce is drawn straight
// into dst (no separate buffer); pt may overlap the space after the nonce
// exactly, as in cipher.AEAD. On error dst's spare capacity may have been
// written.
func SealX(dst []byte, key *SymKey, pt, ad []byte, r io.Reader) ([]byte, error) {
	n := len(dst)
	dst = append(dst, make([]byte, XNonceSize)...)
	nonce := dst[n:]
	if err := RandomBytes(r, nonce); err != nil {
		return nil, err
	}
	a, err := chacha20poly1305.NewX(key[:])
	if err != nil {
		panic("crypto: chacha20poly1305.NewX: " + err.Error())
	}
	return a.Seal(dst, nonce, pt, ad), nil
}

// OpenX opens nonce || ciphertext || tag produced by SealX, appending the
// plaintext to dst. Any failure is ErrAuth.
func OpenX(dst []byte, key *SymKey, sealed, ad []byte) ([]byte, error) {
	if len(sealed) < XNonceSize+Overhead {
		return nil, ErrAuth
	}
	a, err := chacha20poly1305.NewX(key[:])
	if err != nil {
		panic("crypto: chacha20poly1305.NewX: " + err.Error())
	}
	out, err := a.Open(dst, sealed[:XNonceSize], sealed[XNonceSize:], ad)
	if err != nil {
		return nil, ErrAuth
	}
	return out, nil
}

// SealedXSize is the size SealX adds to a plaintext.
const SealedXSize = XNonceSize + Overhead
