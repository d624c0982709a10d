package ratchet

import (
	"fmt"
	"io"

	"veil/crypto"
)

// Identity is a per-contact identity key: an Ed25519 key that signs the
// handshake's one-time keys and an X25519 key that takes part in the
// handshake's Diffie-Hellman (spec/session.md §1.2). Two keys rather than
// one X25519 key signed with XEdDSA, because XEdDSA is not in any library
// veil may use and veil writes no primitive. It must be kept secret.
type Identity struct {
	Sign crypto.SignPrivate
	DH   crypto.DHPrivate
}

// String redacts the key.
func (Identity) String() string { return "Identity(redacted)" }

// GoString redacts the key for %#v.
func (i Identity) GoString() string { return i.String() }

// IdentityPublic is the public half of an Identity. Its encoding is
// Ed25519 public key || X25519 public key (IdentitySize bytes).
type IdentityPublic struct {
	Sign crypto.SignPublic
	DH   crypto.DHPublic
}

func newIdentity(r io.Reader) (Identity, error) {
	s, err := crypto.GenerateSign(r)
	if err != nil {
		return Identity{}, err
	}
	d, err := crypto.GenerateDH(r)
	if err != nil {
		return Identity{}, err
	}
	return Identity{Sign: s, DH: d}, nil
}

// Public returns the public half of i.
func (i *Identity) Public() IdentityPublic {
	return IdentityPublic{Sign: i.Sign.Public(), DH: i.DH.Public()}
}

// Bytes returns the IdentitySize-byte encoding of p.
func (p IdentityPublic) Bytes() []byte { return p.appendTo(nil) }

func (p IdentityPublic) appendTo(b []byte) []byte {
	b = append(b, p.Sign[:]...)
	return append(b, p.DH[:]...)
}

// String shows the key in hex: public keys are not secret.
func (p IdentityPublic) String() string { return fmt.Sprintf("IdentityPublic(%x)", p.Bytes()) }

// ParseIdentityPublic parses an IdentitySize-byte encoding.
func ParseIdentityPublic(b []byte) (IdentityPublic, error) {
	var p IdentityPublic
	if len(b) != IdentitySize {
		return p, fmt.Errorf("ratchet: identity key must be %d bytes, got %d", IdentitySize, len(b))
	}
	copy(p.Sign[:], b[:crypto.KeySize])
	copy(p.DH[:], b[crypto.KeySize:])
	return p, nil
}

// IdentityPrivateSize is the size of a marshalled Identity.
const IdentityPrivateSize = 1 + 2*crypto.KeySize

const identityPrivateVersion = 0x01

// Marshal returns the secret encoding of i, for the vault:
// version 0x01 || Ed25519 seed [32] || X25519 private key [32]
// (spec/session.md §13.2). The caller must keep it secret.
func (i *Identity) Marshal() []byte {
	out := make([]byte, 0, IdentityPrivateSize)
	out = append(out, identityPrivateVersion)
	out = append(out, i.Sign.Seed()...)
	return append(out, i.DH.Bytes()...)
}

// ParseIdentity parses what Identity.Marshal returned.
func ParseIdentity(data []byte) (*Identity, error) {
	if len(data) != IdentityPrivateSize || data[0] != identityPrivateVersion {
		return nil, fmt.Errorf("ratchet: identity private key: %d bytes or unknown version", len(data))
	}
	s, err := crypto.ParseSignPrivate(data[1 : 1+crypto.KeySize])
	if err != nil {
		return nil, fmt.Errorf("ratchet: identity private key: %w", err)
	}
	d, err := crypto.ParseDHPrivate(data[1+crypto.KeySize:])
	if err != nil {
		return nil, fmt.Errorf("ratchet: identity private key: %w", err)
	}
	return &Identity{Sign: s, DH: d}, nil
}

// Wipe zeroes the Ed25519 half of i; the X25519 half is dropped (best
// effort, see crypto's package documentation).
func (i *Identity) Wipe() {
	i.Sign.Wipe()
	i.DH = crypto.DHPrivate{}
}
