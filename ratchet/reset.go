package ratchet

import (
	"encoding/binary"
	"errors"
	"fmt"

	"veil/crypto"
)

// A session reset starts a fresh PQXDH handshake inside an existing chat,
// between the same two per-contact identity keys (spec/session.md §13).
// The side whose state is stale (a profile restored from a backup) offers
// fresh one-time keys signed by its identity key; the peer answers as a
// joiner with its own existing identity key.

const (
	labelResetSig = "veil/session/v1/reset-signature"

	typeReset = 0x03
	// Offer versions (§13.1): 0x02 says that the new session runs the KEM
	// ratchet (§14); 0x01 is the version before it.
	resetVersion1  = 0x01
	resetVersionPQ = 0x02

	// ResetIDSize is the size of a reset's random identifier.
	ResetIDSize = 16

	// resetBodySize is the offer after the type byte, before its zero
	// padding: version, ID, time, SPK, PQPK, signature (§13.1).
	resetBodySize = 1 + ResetIDSize + 8 + crypto.KeySize + crypto.KEMPublicSize + crypto.SignatureSize

	// ResetMessageSize is the length of every reset message: one bucket.
	ResetMessageSize = 4096

	// A ResetPrivate records its offer's version in its first byte.
	// ResetPrivateSize is the size of a marshalled ResetPrivate.
	ResetPrivateSize = 1 + ResetIDSize + 8 + crypto.KeySize + crypto.KEMSeedSize
)

// ResetOffer is a verified reset offer from the peer (spec/session.md
// §13.1): fresh one-time keys, signed by the peer's identity key and bound
// to both identity keys of the chat.
type ResetOffer struct {
	ID     [ResetIDSize]byte
	Time   int64 // the offerer's clock, Unix milliseconds; orders resets
	Prekey crypto.DHPublic
	KEM    crypto.KEMPublic
	// version is the offer's version, signed with it (§13.1).
	version byte
}

// PQ reports whether the session the offer starts runs the KEM ratchet
// (offer version 0x02, spec/session.md §13.1, §14).
func (o *ResetOffer) PQ() bool { return o.version == resetVersionPQ }

// ResetPrivate is the offerer's secret half of a reset offer. It must be
// kept secret until the answer completes the reset, then deleted.
type ResetPrivate struct {
	ID      [ResetIDSize]byte
	Time    int64
	Prekey  crypto.DHPrivate
	KEM     crypto.KEMPrivate
	version byte
}

// PQ reports whether p's offer has version 0x02, whose session runs the
// KEM ratchet (spec/session.md §13.1, §14).
func (p *ResetPrivate) PQ() bool { return p.offerVersion() == resetVersionPQ }

// String redacts the key.
func (ResetPrivate) String() string { return "ResetPrivate(redacted)" }

// GoString redacts the key for %#v.
func (p ResetPrivate) GoString() string { return p.String() }

// ErrReset means a reset message does not verify: wrong length, type,
// version or padding, or a signature that is not the peer's over this
// chat's identity keys (spec/session.md §13.1). It wraps ErrAuth.
var ErrReset = fmt.Errorf("%w: invalid session reset", ErrAuth)

// IsReset reports whether msg has the type of a reset message
// (spec/session.md §5.1).
func IsReset(msg []byte) bool { return len(msg) > 0 && msg[0] == typeReset }

// NewReset draws a reset's one-time keys: ID (16), SPK (32), then the
// ML-KEM key-generation seed (64), in that order (spec/session.md §13.2).
// t is the offerer's clock in Unix milliseconds. With pq the offer has
// version 0x02 and the new session runs the KEM ratchet (§14); without,
// it has version 0x01, the only one software from before the KEM ratchet
// accepts, and the new session starts off (§14.7). Which to offer is the
// caller's choice: a peer whose session is on refuses 0x01.
func NewReset(cfg Config, t int64, pq bool) (*ResetPrivate, error) {
	if pq {
		return newResetVersion(cfg, t, resetVersionPQ)
	}
	return newResetVersion(cfg, t, resetVersion1)
}

// newResetVersion is NewReset for offer version v (0x01 or 0x02).
func newResetVersion(cfg Config, t int64, v byte) (*ResetPrivate, error) {
	if v != resetVersion1 && v != resetVersionPQ {
		panic("ratchet: unknown reset version")
	}
	r := cfg.rand()
	p := &ResetPrivate{Time: t, version: v}
	if err := crypto.RandomBytes(r, p.ID[:]); err != nil {
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
	p.Prekey, p.KEM = pk, k
	return p, nil
}

// resetSigned is what the reset signature covers (§13.1): the label, the
// version, the offerer's and the peer's identity keys, and the offer.
func resetSigned(from, to IdentityPublic, o *ResetOffer) []byte {
	m := make([]byte, 0, len(labelResetSig)+1+2*IdentitySize+resetBodySize)
	m = append(m, labelResetSig...)
	m = append(m, o.version)
	m = from.appendTo(m)
	m = to.appendTo(m)
	return o.appendTo(m)
}

func (o *ResetOffer) appendTo(m []byte) []byte {
	m = append(m, o.ID[:]...)
	m = binary.BigEndian.AppendUint64(m, uint64(o.Time))
	m = append(m, o.Prekey[:]...)
	return append(m, o.KEM.Bytes()...)
}

// Offer returns the public half of p.
func (p *ResetPrivate) Offer() *ResetOffer {
	return &ResetOffer{ID: p.ID, Time: p.Time, Prekey: p.Prekey.Public(), KEM: p.KEM.Public(), version: p.offerVersion()}
}

// offerVersion returns the version of p's offer; a ResetPrivate built by
// hand has the first one.
func (p *ResetPrivate) offerVersion() byte {
	if p.version == 0 {
		return resetVersion1
	}
	return p.version
}

// Message returns the reset message that offers p to peer, signed by self
// (spec/session.md §13.1). Ed25519 is deterministic: the same p, self and
// peer give the same message, so a resend is byte for byte the first.
func (p *ResetPrivate) Message(self *Identity, peer IdentityPublic) []byte {
	o := p.Offer()
	sig := self.Sign.Sign(resetSigned(self.Public(), peer, o))
	msg := make([]byte, 0, ResetMessageSize)
	msg = append(msg, typeReset, o.version)
	msg = o.appendTo(msg)
	msg = append(msg, sig...)
	return msg[:ResetMessageSize] // the rest is zero padding
}

// ParseReset parses a reset message and verifies that the peer's identity
// key from signed it for the chat between from and to (our identity key).
// Every failure is ErrReset.
func ParseReset(msg []byte, from, to IdentityPublic) (*ResetOffer, error) {
	o, sig, err := parseResetFrame(msg)
	if err != nil {
		return nil, err
	}
	if !crypto.Verify(from.Sign, resetSigned(from, to, o), sig) {
		return nil, fmt.Errorf("%w: bad signature", ErrReset)
	}
	return o, nil
}

// parseResetFrame checks a reset message's layout (§13.1) and returns the
// offer and its signature, unverified.
func parseResetFrame(msg []byte) (*ResetOffer, []byte, error) {
	if len(msg) != ResetMessageSize || msg[0] != typeReset || (msg[1] != resetVersion1 && msg[1] != resetVersionPQ) {
		return nil, nil, ErrReset
	}
	for _, b := range msg[1+resetBodySize:] {
		if b != 0 {
			return nil, nil, fmt.Errorf("%w: padding", ErrReset)
		}
	}
	b := msg[2:]
	o := ResetOffer{version: msg[1]}
	copy(o.ID[:], b[:ResetIDSize])
	b = b[ResetIDSize:]
	o.Time = int64(binary.BigEndian.Uint64(b[:8]))
	b = b[8:]
	copy(o.Prekey[:], b[:crypto.KeySize])
	b = b[crypto.KeySize:]
	k, err := crypto.ParseKEMPublic(b[:crypto.KEMPublicSize])
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %w", ErrReset, err)
	}
	o.KEM = k
	return &o, b[crypto.KEMPublicSize:][:crypto.SignatureSize], nil
}

// AcceptReset answers a verified offer from peer as the joiner of a fresh
// PQXDH handshake with our existing identity key self (spec/session.md
// §13.3). It draws EK (32), the ML-KEM encapsulation seed (32) and the
// first DHs (32), and for an offer of version 0x02, whose session runs the
// KEM ratchet, then the first key-generation seed (64, §14.7). The returned
// session sends initial messages until the offerer's first reply, like any
// joiner's; the caller replaces the chat's session with it.
func AcceptReset(cfg Config, self *Identity, peer IdentityPublic, o *ResetOffer) (*Session, error) {
	if o == nil {
		return nil, errors.New("ratchet: accept reset: nil offer")
	}
	return initiateWith(cfg, self, peer, o.Prekey, o.KEM, o.PQ())
}

// CompleteReset is the offerer's side (spec/session.md §13.4): msg must be
// an initial message from peer's existing identity key answering the offer
// p. It runs Respond with self and p's one-time keys and returns the new
// session and the plaintext of msg. Every failure wraps ErrAuth and
// changes nothing; on success the caller deletes p.
func CompleteReset(cfg Config, self *Identity, peer IdentityPublic, p *ResetPrivate, msg []byte) (*Session, []byte, error) {
	if !crypto.IsBucket(len(msg)) || !IsInitial(msg) || len(msg) < initialOverhead+1 {
		return nil, nil, authErr("not an initial message")
	}
	if !crypto.Equal(msg[1:1+IdentitySize], peer.Bytes()) {
		return nil, nil, authErr("reset answer from another identity key")
	}
	v := byte(bundleVersion1)
	if p.offerVersion() == resetVersionPQ {
		v = bundleVersionPQ
	}
	bp := &BundlePrivate{Identity: *self, Prekey: p.Prekey, KEM: p.KEM, version: v}
	return Respond(cfg, bp, msg)
}

// Marshal returns the secret encoding of p, for the vault:
// version || ID [16] || time [8] || SPK [32] || ML-KEM seed [64]
// (spec/session.md §13.2). The caller must keep it secret.
func (p *ResetPrivate) Marshal() []byte {
	out := make([]byte, 0, ResetPrivateSize)
	out = append(out, p.offerVersion())
	out = append(out, p.ID[:]...)
	out = binary.BigEndian.AppendUint64(out, uint64(p.Time))
	out = append(out, p.Prekey.Bytes()...)
	return append(out, p.KEM.Seed()...)
}

// ParseResetPrivate parses what ResetPrivate.Marshal returned.
func ParseResetPrivate(data []byte) (*ResetPrivate, error) {
	if len(data) != ResetPrivateSize || (data[0] != resetVersion1 && data[0] != resetVersionPQ) {
		return nil, fmt.Errorf("ratchet: reset private key: %d bytes or unknown version", len(data))
	}
	p := ResetPrivate{version: data[0]}
	b := data[1:]
	copy(p.ID[:], b[:ResetIDSize])
	b = b[ResetIDSize:]
	p.Time = int64(binary.BigEndian.Uint64(b[:8]))
	b = b[8:]
	pk, err := crypto.ParseDHPrivate(b[:crypto.KeySize])
	if err != nil {
		return nil, fmt.Errorf("ratchet: reset private key: %w", err)
	}
	k, err := crypto.ParseKEMPrivate(b[crypto.KeySize:])
	if err != nil {
		return nil, fmt.Errorf("ratchet: reset private key: %w", err)
	}
	p.Prekey, p.KEM = pk, k
	return &p, nil
}

// Wipe zeroes the secret keys of p (best effort).
func (p *ResetPrivate) Wipe() {
	p.KEM.Wipe()
	p.Prekey = crypto.DHPrivate{}
}

// InitialIdentity returns the identity key an initial message claims
// (the first bytes of its prefix, spec/session.md §5.3). It is not
// authenticated: use it only to word a warning.
func InitialIdentity(msg []byte) (IdentityPublic, bool) {
	if !IsInitial(msg) || len(msg) < 1+IdentitySize {
		return IdentityPublic{}, false
	}
	id, err := ParseIdentityPublic(msg[1 : 1+IdentitySize])
	return id, err == nil
}
