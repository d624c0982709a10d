package crypto

import (
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"fmt"
)

// HashSize is the size of a SHA-256 digest.
const HashSize = sha256.Size

// Hash returns SHA-256 of the concatenation of parts.
func Hash(parts ...[]byte) [HashSize]byte {
	h := sha256.New()
	for _, p := range parts {
		h.Write(p)
	}
	var out [HashSize]byte
	h.Sum(out[:0])
	return out
}

// HKDF fills out with HKDF-SHA256(secret, salt, info) (RFC 5869). info is
// where every caller puts its own domain-separation label. out may be at
// most 255*32 bytes.
func HKDF(out, secret, salt []byte, info string) {
	b, err := hkdf.Key(sha256.New, secret, salt, info, len(out))
	if err != nil {
		panic(fmt.Sprintf("crypto: hkdf: %v", err)) // only for len(out) > 8160: a caller bug
	}
	copy(out, b)
	clear(b)
}

// HKDFKey returns one 32-byte key from HKDF-SHA256.
func HKDFKey(secret, salt []byte, info string) SymKey {
	var k SymKey
	HKDF(k[:], secret, salt, info)
	return k
}

// MAC returns HMAC-SHA256(key, data...).
func MAC(key []byte, data ...[]byte) [HashSize]byte {
	m := hmac.New(sha256.New, key)
	for _, d := range data {
		m.Write(d)
	}
	var out [HashSize]byte
	m.Sum(out[:0])
	return out
}

// VerifyMAC compares two MACs in constant time.
func VerifyMAC(a, b []byte) bool { return hmac.Equal(a, b) }
