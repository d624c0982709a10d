package ratchet

import (
	"errors"
	"fmt"

	"veil/crypto"
)

// Bundle is what an invite carries to the joiner: the inviter's
// per-contact identity key, a one-time X25519 prekey and a one-time
// ML-KEM-1024 key, both signed by the identity key (spec/session.md §2).
type Bundle struct {
	Identity IdentityPublic
	Prekey   crypto.DHPublic
	KEM      crypto.KEMPublic
	sig      [crypto.SignatureSize]byte
	version  byte
}

// PQ reports whether sessions from b run the KEM ratchet from the start
// (bundle version 0x02, spec/session.md §2, §14).
func (b *Bundle) PQ() bool { return b.version == bundleVersionPQ }

// BundlePrivate is the inviter's secret half of a Bundle. It must be kept
// secret, used for exactly one Respond, and deleted afterwards.
type BundlePrivate struct {
	Identity Identity
	Prekey   crypto.DHPrivate
	KEM      crypto.KEMPrivate
	version  byte // of the bundle; 0 in a BundlePrivate built by hand, read as 0x01
}

// String redacts the key.
func (BundlePrivate) String() string { return "BundlePrivate(redacted)" }

// GoString redacts the key for %#v.
func (b BundlePrivate) GoString() string { return b.String() }

// NewBundle creates a fresh identity and one-time keys for one invite.
// Its bundle has version 0x02: sessions from it run the KEM ratchet
// (spec/session.md §14).
//
// It draws IKsig seed, IKdh, SPK (32 each) and the ML-KEM seed d || z
// (64), in that order (spec/session.md §2.3).
func NewBundle(cfg Config) (*BundlePrivate, error) {
	return newBundleVersion(cfg, bundleVersionPQ)
}

// newBundleVersion is NewBundle for bundle version v (0x01 or 0x02).
func newBundleVersion(cfg Config, v byte) (*BundlePrivate, error) {
	if v != bundleVersion1 && v != bundleVersionPQ {
		panic("ratchet: unknown bundle version")
	}
	r := cfg.rand()
	id, err := newIdentity(r)
	if err != nil {
		return nil, err
	}
	pk, err := crypto.GenerateDH(r)
	if err != nil {
		return nil, err
	}
	k, err := crypto.GenerateKEM(r)
	if err != nil {
		return nil, err
	}
	return &BundlePrivate{Identity: id, Prekey: pk, KEM: k, version: v}, nil
}

// bundleVersion returns the version of p's bundle; a BundlePrivate built
// by hand has the first one.
func (p *BundlePrivate) bundleVersion() byte {
	if p.version == 0 {
		return bundleVersion1
	}
	return p.version
}

// signedPart is what the bundle signature covers: §2.
func (b *Bundle) signedPart() []byte {
	m := make([]byte, 0, len(labelBundleSig)+BundleSize)
	m = append(m, labelBundleSig...)
	m = append(m, b.version)
	m = b.Identity.appendTo(m)
	m = append(m, b.Prekey[:]...)
	return append(m, b.KEM.Bytes()...)
}

// Bundle returns the public, signed bundle. Ed25519 is deterministic, so
// it is the same bundle every time.
func (p *BundlePrivate) Bundle() *Bundle {
	b := &Bundle{Identity: p.Identity.Public(), Prekey: p.Prekey.Public(), KEM: p.KEM.Public(), version: p.bundleVersion()}
	copy(b.sig[:], p.Identity.Sign.Sign(b.signedPart()))
	return b
}

// Marshal returns the BundleSize-byte encoding of b (spec/session.md §2).
func (b *Bundle) Marshal() []byte {
	out := make([]byte, 0, BundleSize)
	out = append(out, b.version)
	out = b.Identity.appendTo(out)
	out = append(out, b.Prekey[:]...)
	out = append(out, b.KEM.Bytes()...)
	return append(out, b.sig[:]...)
}

var errBundle = errors.New("ratchet: invalid bundle")

// ParseBundle parses and verifies a bundle: exact length, known version
// (0x01 or 0x02), a valid ML-KEM key and a valid signature by the identity
// key.
func ParseBundle(data []byte) (*Bundle, error) {
	if len(data) != BundleSize {
		return nil, fmt.Errorf("%w: %d bytes, want %d", errBundle, len(data), BundleSize)
	}
	if data[0] != bundleVersion1 && data[0] != bundleVersionPQ {
		return nil, fmt.Errorf("%w: unknown version %d", errBundle, data[0])
	}
	rest := data[1:]
	b := Bundle{version: data[0]}
	id, _ := ParseIdentityPublic(rest[:IdentitySize])
	b.Identity = id
	rest = rest[IdentitySize:]
	copy(b.Prekey[:], rest[:crypto.KeySize])
	rest = rest[crypto.KeySize:]
	k, err := crypto.ParseKEMPublic(rest[:crypto.KEMPublicSize])
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errBundle, err)
	}
	b.KEM = k
	copy(b.sig[:], rest[crypto.KEMPublicSize:])
	if err := b.verify(); err != nil {
		return nil, err
	}
	return &b, nil
}

// verify checks the bundle signature (§2.1). ParseBundle and Initiate both
// call it, so a Bundle assembled from its exported fields, whose signature
// is then zero, cannot start a handshake.
func (b *Bundle) verify() error {
	if b == nil {
		return fmt.Errorf("%w: nil", errBundle)
	}
	if !crypto.Verify(b.Identity.Sign, b.signedPart(), b.sig[:]) {
		return fmt.Errorf("%w: bad signature", errBundle)
	}
	return nil
}

// Marshal returns the secret encoding of p, for the vault:
// version || Ed25519 seed || X25519 identity || X25519 prekey || ML-KEM
// seed (spec/session.md §2.2), the version being its bundle's. The caller
// must keep it secret.
func (p *BundlePrivate) Marshal() []byte {
	out := make([]byte, 0, BundlePrivateSize)
	out = append(out, p.bundleVersion())
	out = append(out, p.Identity.Sign.Seed()...)
	out = append(out, p.Identity.DH.Bytes()...)
	out = append(out, p.Prekey.Bytes()...)
	return append(out, p.KEM.Seed()...)
}

// ParseBundlePrivate parses what BundlePrivate.Marshal returned.
func ParseBundlePrivate(data []byte) (*BundlePrivate, error) {
	if len(data) != BundlePrivateSize {
		return nil, fmt.Errorf("ratchet: bundle private key: %d bytes, want %d", len(data), BundlePrivateSize)
	}
	if data[0] != bundleVersion1 && data[0] != bundleVersionPQ {
		return nil, fmt.Errorf("ratchet: bundle private key: unknown version %d", data[0])
	}
	const k = crypto.KeySize
	s, err := crypto.ParseSignPrivate(data[1 : 1+k])
	if err != nil {
		return nil, fmt.Errorf("ratchet: bundle private key: %w", err)
	}
	d, err := crypto.ParseDHPrivate(data[1+k : 1+2*k])
	if err != nil {
		return nil, fmt.Errorf("ratchet: bundle private key: %w", err)
	}
	pk, err := crypto.ParseDHPrivate(data[1+2*k : 1+3*k])
	if err != nil {
		return nil, fmt.Errorf("ratchet: bundle private key: %w", err)
	}
	kem, err := crypto.ParseKEMPrivate(data[1+3*k:])
	if err != nil {
		return nil, fmt.Errorf("ratchet: bundle private key: %w", err)
	}
	return &BundlePrivate{Identity: Identity{Sign: s, DH: d}, Prekey: pk, KEM: kem, version: data[0]}, nil
}

// Wipe zeroes the secret keys of p (best effort; see crypto's package doc).
func (p *BundlePrivate) Wipe() {
	p.Identity.Sign.Wipe()
	p.KEM.Wipe()
	p.Identity.DH = crypto.DHPrivate{}
	p.Prekey = crypto.DHPrivate{}
}
