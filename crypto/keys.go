package crypto

import (
	"crypto/ecdh"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
)

// KeySize is the size of symmetric keys, X25519 keys and Ed25519 public keys.
const KeySize = 32

// SymKey is a 256-bit symmetric key. It must be kept secret.
type SymKey [KeySize]byte

// String redacts the key.
func (k SymKey) String() string { return "SymKey(redacted)" }

// GoString redacts the key for %#v.
func (k SymKey) GoString() string { return k.String() }

// Wipe zeroes the key (best effort; see package doc).
func (k *SymKey) Wipe() { clear(k[:]) }

// IsZero reports whether the key is all zeroes, in constant time.
func (k *SymKey) IsZero() bool { return Equal(k[:], make([]byte, KeySize)) }

// ParseSymKey returns the key in b, which must be exactly KeySize bytes.
func ParseSymKey(b []byte) (SymKey, error) {
	var k SymKey
	if len(b) != KeySize {
		return k, fmt.Errorf("crypto: symmetric key must be %d bytes, got %d", KeySize, len(b))
	}
	copy(k[:], b)
	return k, nil
}

// NewSymKey returns a fresh random key from r (crypto/rand when r is nil).
func NewSymKey(r io.Reader) (SymKey, error) {
	var k SymKey
	err := RandomBytes(r, k[:])
	return k, err
}

// DHPublic is an X25519 public key.
type DHPublic [KeySize]byte

// String shows the public key in hex: public keys are not secret.
func (p DHPublic) String() string { return fmt.Sprintf("DHPublic(%x)", p[:]) }

// ParseDHPublic returns the X25519 public key in b (exactly 32 bytes).
func ParseDHPublic(b []byte) (DHPublic, error) {
	var p DHPublic
	if len(b) != KeySize {
		return p, fmt.Errorf("crypto: x25519 public key must be %d bytes, got %d", KeySize, len(b))
	}
	copy(p[:], b)
	return p, nil
}

// DHPrivate is an X25519 private key. It must be kept secret.
type DHPrivate struct {
	k *ecdh.PrivateKey
}

// String redacts the key.
func (DHPrivate) String() string { return "DHPrivate(redacted)" }

// GoString redacts the key for %#v.
func (k DHPrivate) GoString() string { return k.String() }

// GenerateDH returns a fresh X25519 key pair drawn from r (crypto/rand when
// nil). It reads exactly 32 bytes from r, so a seeded reader gives
// reproducible keys for test vectors.
func GenerateDH(r io.Reader) (DHPrivate, error) {
	var seed [KeySize]byte
	if err := RandomBytes(r, seed[:]); err != nil {
		return DHPrivate{}, err
	}
	defer clear(seed[:])
	return ParseDHPrivate(seed[:])
}

// ParseDHPrivate returns the X25519 private key in b (exactly 32 bytes).
func ParseDHPrivate(b []byte) (DHPrivate, error) {
	if len(b) != KeySize {
		return DHPrivate{}, fmt.Errorf("crypto: x25519 private key must be %d bytes, got %d", KeySize, len(b))
	}
	k, err := ecdh.X25519().NewPrivateKey(b)
	if err != nil {
		return DHPrivate{}, fmt.Errorf("crypto: x25519 private key: %w", err)
	}
	return DHPrivate{k: k}, nil
}

// Valid reports whether k holds a key.
func (k DHPrivate) Valid() bool { return k.k != nil }

// Public returns the public key of k.
func (k DHPrivate) Public() DHPublic {
	var p DHPublic
	copy(p[:], k.k.PublicKey().Bytes())
	return p
}

// Bytes returns the 32-byte private scalar. The caller must keep it secret
// and should Wipe it when done.
func (k DHPrivate) Bytes() []byte { return k.k.Bytes() }

var errLowOrder = errors.New("crypto: x25519: low-order public key")

// DH returns X25519(k, peer). It fails on a low-order peer key (an all-zero
// output), which only a malicious peer sends.
func DH(k DHPrivate, peer DHPublic) (SymKey, error) {
	var out SymKey
	if k.k == nil {
		return out, errors.New("crypto: x25519: empty private key")
	}
	pub, err := ecdh.X25519().NewPublicKey(peer[:])
	if err != nil {
		return out, fmt.Errorf("crypto: x25519 public key: %w", err)
	}
	s, err := k.k.ECDH(pub)
	if err != nil {
		return out, errLowOrder
	}
	copy(out[:], s)
	clear(s)
	return out, nil
}

// Signature sizes.
const (
	SignatureSize = ed25519.SignatureSize
	signSeedSize  = ed25519.SeedSize
)

// SignPublic is an Ed25519 public key.
type SignPublic [KeySize]byte

// String shows the key in hex: public keys are not secret.
func (p SignPublic) String() string { return fmt.Sprintf("SignPublic(%x)", p[:]) }

// ParseSignPublic returns the Ed25519 public key in b (exactly 32 bytes).
func ParseSignPublic(b []byte) (SignPublic, error) {
	var p SignPublic
	if len(b) != KeySize {
		return p, fmt.Errorf("crypto: ed25519 public key must be %d bytes, got %d", KeySize, len(b))
	}
	copy(p[:], b)
	return p, nil
}

// SignPrivate is an Ed25519 private key, held as its 32-byte seed. It must
// be kept secret.
type SignPrivate struct {
	k ed25519.PrivateKey
}

// String redacts the key.
func (SignPrivate) String() string { return "SignPrivate(redacted)" }

// GoString redacts the key for %#v.
func (k SignPrivate) GoString() string { return k.String() }

// GenerateSign returns a fresh Ed25519 key drawn from r (crypto/rand when
// nil); it reads exactly 32 bytes.
func GenerateSign(r io.Reader) (SignPrivate, error) {
	var seed [signSeedSize]byte
	if err := RandomBytes(r, seed[:]); err != nil {
		return SignPrivate{}, err
	}
	defer clear(seed[:])
	return ParseSignPrivate(seed[:])
}

// ParseSignPrivate returns the Ed25519 key whose 32-byte seed is b.
func ParseSignPrivate(seed []byte) (SignPrivate, error) {
	if len(seed) != signSeedSize {
		return SignPrivate{}, fmt.Errorf("crypto: ed25519 seed must be %d bytes, got %d", signSeedSize, len(seed))
	}
	return SignPrivate{k: ed25519.NewKeyFromSeed(seed)}, nil
}

// Valid reports whether k holds a key.
func (k SignPrivate) Valid() bool { return k.k != nil }

// Seed returns the 32-byte seed. The caller must keep it secret.
func (k SignPrivate) Seed() []byte { return k.k.Seed() }

// Public returns the public key of k.
func (k SignPrivate) Public() SignPublic {
	var p SignPublic
	copy(p[:], k.k[signSeedSize:])
	return p
}

// Sign returns the Ed25519 signature of msg.
func (k SignPrivate) Sign(msg []byte) []byte { return ed25519.Sign(k.k, msg) }

// Wipe zeroes the key (best effort).
func (k SignPrivate) Wipe() { clear(k.k) }

// Verify reports whether sig is a valid Ed25519 signature of msg by pub.
func Verify(pub SignPublic, msg, sig []byte) bool {
	if len(sig) != SignatureSize {
		return false
	}
	return ed25519.Verify(pub[:], msg, sig)
}
