package crypto

import (
	"fmt"
	"io"

	"github.com/cloudflare/circl/kem/mlkem/mlkem768"
)

// ML-KEM-768 sizes (FIPS 203). Groups use the 768 parameter set
// (category 3): an epoch secret is sealed to every member at once, so the
// 480 bytes per member that ML-KEM-1024 would add to every commit matter
// there, unlike in a one-time invite (spec/groups.md §5.3).
const (
	KEM768PublicSize     = mlkem768.PublicKeySize
	KEM768CiphertextSize = mlkem768.CiphertextSize
	KEM768SeedSize       = mlkem768.KeySeedSize // d || z, FIPS 203 §7.1
	kem768EncapSeedSize  = mlkem768.EncapsulationSeedSize
)

// KEM768Public is an ML-KEM-768 encapsulation key.
type KEM768Public struct {
	raw [KEM768PublicSize]byte
	pk  *mlkem768.PublicKey
}

// String shows a short prefix: public keys are not secret.
func (p KEM768Public) String() string { return fmt.Sprintf("KEM768Public(%x…)", p.raw[:8]) }

// Bytes returns the 1184-byte encoding of the key.
func (p KEM768Public) Bytes() []byte { return append([]byte(nil), p.raw[:]...) }

// Raw returns the encoding as an array, for use as a map key or in
// comparisons; the zero value's is all zeros.
func (p KEM768Public) Raw() [KEM768PublicSize]byte { return p.raw }

// Valid reports whether p holds a parsed or generated key.
func (p KEM768Public) Valid() bool { return p.pk != nil }

// ParseKEM768Public parses an encapsulation key, rejecting any encoding
// that is not exactly KEM768PublicSize bytes or fails FIPS 203's modulus
// check.
func ParseKEM768Public(b []byte) (KEM768Public, error) {
	var p KEM768Public
	if len(b) != KEM768PublicSize {
		return p, fmt.Errorf("crypto: ml-kem-768 public key must be %d bytes, got %d", KEM768PublicSize, len(b))
	}
	pk := new(mlkem768.PublicKey)
	if err := pk.Unpack(b); err != nil {
		return p, fmt.Errorf("crypto: ml-kem-768 public key: %w", err)
	}
	copy(p.raw[:], b)
	p.pk = pk
	return p, nil
}

// KEM768Private is an ML-KEM-768 decapsulation key, held as its 64-byte
// seed. It must be kept secret.
type KEM768Private struct {
	seed [KEM768SeedSize]byte
	sk   *mlkem768.PrivateKey
	pub  KEM768Public
}

// String redacts the key.
func (KEM768Private) String() string { return "KEM768Private(redacted)" }

// GoString redacts the key for %#v.
func (k KEM768Private) GoString() string { return k.String() }

// GenerateKEM768 returns a fresh key pair from r (crypto/rand when nil); it
// reads exactly KEM768SeedSize bytes, FIPS 203's d (32) then z (32).
func GenerateKEM768(r io.Reader) (KEM768Private, error) {
	var seed [KEM768SeedSize]byte
	if err := RandomBytes(r, seed[:]); err != nil {
		return KEM768Private{}, err
	}
	defer clear(seed[:])
	return ParseKEM768Private(seed[:])
}

// ParseKEM768Private expands the 64-byte seed form of a decapsulation key.
func ParseKEM768Private(seed []byte) (KEM768Private, error) {
	var k KEM768Private
	if len(seed) != KEM768SeedSize {
		return k, fmt.Errorf("crypto: ml-kem-768 seed must be %d bytes, got %d", KEM768SeedSize, len(seed))
	}
	copy(k.seed[:], seed)
	pk, sk := mlkem768.NewKeyFromSeed(seed)
	k.sk = sk
	k.pub.pk = pk
	pk.Pack(k.pub.raw[:])
	return k, nil
}

// Valid reports whether k holds a key.
func (k *KEM768Private) Valid() bool { return k.sk != nil }

// Seed returns the 64-byte seed. The caller must keep it secret.
func (k *KEM768Private) Seed() []byte { return append([]byte(nil), k.seed[:]...) }

// Public returns the encapsulation key.
func (k *KEM768Private) Public() KEM768Public { return k.pub }

// Wipe zeroes the seed (best effort: circl's expanded key cannot be zeroed
// from outside, so the reference to it is dropped instead).
func (k *KEM768Private) Wipe() {
	clear(k.seed[:])
	k.sk = nil
}

// Encapsulate768 returns a ciphertext and shared secret for p, drawing the
// 32-byte encapsulation seed (FIPS 203's m) from r (crypto/rand when nil).
func Encapsulate768(p KEM768Public, r io.Reader) (ct []byte, shared SymKey, err error) {
	if p.pk == nil {
		return nil, shared, fmt.Errorf("crypto: ml-kem-768: empty public key")
	}
	var seed [kem768EncapSeedSize]byte
	if err := RandomBytes(r, seed[:]); err != nil {
		return nil, shared, err
	}
	defer clear(seed[:])
	ct = make([]byte, KEM768CiphertextSize)
	p.pk.EncapsulateTo(ct, shared[:], seed[:])
	return ct, shared, nil
}

// Decapsulate768 returns the shared secret in ct. Decapsulation never fails
// on a well-sized ciphertext (implicit rejection gives a random-looking
// secret instead), so a tampered ciphertext shows up later as an
// authentication failure.
func Decapsulate768(k *KEM768Private, ct []byte) (SymKey, error) {
	var shared SymKey
	if k.sk == nil {
		return shared, fmt.Errorf("crypto: ml-kem-768: empty private key")
	}
	if len(ct) != KEM768CiphertextSize {
		return shared, fmt.Errorf("crypto: ml-kem-768 ciphertext must be %d bytes, got %d", KEM768CiphertextSize, len(ct))
	}
	k.sk.DecapsulateTo(shared[:], ct)
	return shared, nil
}
