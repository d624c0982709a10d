package crypto

import (
	"fmt"
	"io"

	"github.com/cloudflare/circl/kem/mlkem/mlkem1024"
)

// ML-KEM-1024 sizes (FIPS 203). veil uses the 1024 parameter set, as
// Signal's PQXDH does: category 5, and the extra 384 bytes of public key
// and ciphertext over ML-KEM-768 cost nothing that matters for a one-time
// invite.
const (
	KEMPublicSize     = mlkem1024.PublicKeySize
	KEMCiphertextSize = mlkem1024.CiphertextSize
	KEMSeedSize       = mlkem1024.KeySeedSize // d || z, FIPS 203 §7.1
	KEMSharedSize     = mlkem1024.SharedKeySize
	kemEncapSeedSize  = mlkem1024.EncapsulationSeedSize
)

// KEMPublic is an ML-KEM-1024 encapsulation key.
type KEMPublic struct {
	raw [KEMPublicSize]byte
	pk  *mlkem1024.PublicKey
}

// String shows a short prefix: public keys are not secret.
func (p KEMPublic) String() string { return fmt.Sprintf("KEMPublic(%x…)", p.raw[:8]) }

// Bytes returns the 1568-byte encoding of the key.
func (p KEMPublic) Bytes() []byte { return append([]byte(nil), p.raw[:]...) }

// ParseKEMPublic parses an encapsulation key, rejecting any encoding that
// is not exactly KEMPublicSize bytes or fails FIPS 203's modulus check.
func ParseKEMPublic(b []byte) (KEMPublic, error) {
	var p KEMPublic
	if len(b) != KEMPublicSize {
		return p, fmt.Errorf("crypto: ml-kem-1024 public key must be %d bytes, got %d", KEMPublicSize, len(b))
	}
	pk := new(mlkem1024.PublicKey)
	if err := pk.Unpack(b); err != nil {
		return p, fmt.Errorf("crypto: ml-kem-1024 public key: %w", err)
	}
	copy(p.raw[:], b)
	p.pk = pk
	return p, nil
}

// KEMPrivate is an ML-KEM-1024 decapsulation key, held as its 64-byte seed.
// It must be kept secret.
type KEMPrivate struct {
	seed [KEMSeedSize]byte
	sk   *mlkem1024.PrivateKey
	pub  KEMPublic
}

// String redacts the key.
func (KEMPrivate) String() string { return "KEMPrivate(redacted)" }

// GoString redacts the key for %#v.
func (k KEMPrivate) GoString() string { return k.String() }

// GenerateKEM returns a fresh key pair from r (crypto/rand when nil); it
// reads exactly KEMSeedSize bytes, FIPS 203's d (32) then z (32), the
// inputs of ML-KEM.KeyGen_internal (spec/session.md §1.3).
func GenerateKEM(r io.Reader) (KEMPrivate, error) {
	var seed [KEMSeedSize]byte
	if err := RandomBytes(r, seed[:]); err != nil {
		return KEMPrivate{}, err
	}
	defer clear(seed[:])
	return ParseKEMPrivate(seed[:])
}

// ParseKEMPrivate expands the 64-byte seed form of a decapsulation key.
func ParseKEMPrivate(seed []byte) (KEMPrivate, error) {
	var k KEMPrivate
	if len(seed) != KEMSeedSize {
		return k, fmt.Errorf("crypto: ml-kem-1024 seed must be %d bytes, got %d", KEMSeedSize, len(seed))
	}
	copy(k.seed[:], seed)
	pk, sk := mlkem1024.NewKeyFromSeed(seed)
	k.sk = sk
	k.pub.pk = pk
	pk.Pack(k.pub.raw[:])
	return k, nil
}

// Valid reports whether k holds a key.
func (k *KEMPrivate) Valid() bool { return k.sk != nil }

// Seed returns the 64-byte seed. The caller must keep it secret.
func (k *KEMPrivate) Seed() []byte { return append([]byte(nil), k.seed[:]...) }

// Public returns the encapsulation key.
func (k *KEMPrivate) Public() KEMPublic { return k.pub }

// Wipe zeroes the seed (best effort: circl's expanded key cannot be zeroed
// from outside, so the reference to it is dropped instead).
func (k *KEMPrivate) Wipe() {
	clear(k.seed[:])
	k.sk = nil
}

// Encapsulate returns a ciphertext and shared secret for p, drawing the
// 32-byte encapsulation seed from r (crypto/rand when nil). The seed is
// FIPS 203's message m of ML-KEM.Encaps_internal, used as drawn
// (spec/session.md §1.3).
func Encapsulate(p KEMPublic, r io.Reader) (ct []byte, shared SymKey, err error) {
	if p.pk == nil {
		return nil, shared, fmt.Errorf("crypto: ml-kem-1024: empty public key")
	}
	var seed [kemEncapSeedSize]byte
	if err := RandomBytes(r, seed[:]); err != nil {
		return nil, shared, err
	}
	defer clear(seed[:])
	ct = make([]byte, KEMCiphertextSize)
	p.pk.EncapsulateTo(ct, shared[:], seed[:])
	return ct, shared, nil
}

// Decapsulate returns the shared secret in ct. ML-KEM decapsulation never
// fails on a well-sized ciphertext (implicit rejection gives a random-
// looking secret instead), so a tampered ciphertext shows up later as an
// authentication failure.
func Decapsulate(k *KEMPrivate, ct []byte) (SymKey, error) {
	var shared SymKey
	if k.sk == nil {
		return shared, fmt.Errorf("crypto: ml-kem-1024: empty private key")
	}
	if len(ct) != KEMCiphertextSize {
		return shared, fmt.Errorf("crypto: ml-kem-1024 ciphertext must be %d bytes, got %d", KEMCiphertextSize, len(ct))
	}
	k.sk.DecapsulateTo(shared[:], ct)
	return shared, nil
}
