package ratchet

import (
	"fmt"

	"veil/crypto"
)

// pqxdhSecret is SK of Signal's PQXDH (spec/session.md §4.2):
//
//	SK = HKDF-SHA256(F || DH1 || DH2 || DH3 || SS, salt = 32 zero bytes,
//	                 info = "veil/session/v1/pqxdh")
//
// with F 32 0xFF bytes. There is no DH4: veil's prekey is itself one-time.
func pqxdhSecret(dh1, dh2, dh3, ss *crypto.SymKey) crypto.SymKey {
	var ikm [5 * crypto.KeySize]byte
	for i := range crypto.KeySize {
		ikm[i] = 0xFF
	}
	copy(ikm[32:], dh1[:])
	copy(ikm[64:], dh2[:])
	copy(ikm[96:], dh3[:])
	copy(ikm[128:], ss[:])
	var salt [crypto.HashSize]byte
	sk := crypto.HKDFKey(ikm[:], salt[:], labelPQXDH)
	crypto.Wipe(ikm[:])
	return sk
}

// initKeys splits SK into the first root key and the two shared header
// keys of Signal's header-encryption variant (§3.4).
func initKeys(sk *crypto.SymKey) (rk, hka, nhkb crypto.SymKey) {
	var out [3 * crypto.KeySize]byte
	crypto.HKDF(out[:], sk[:], nil, labelInit)
	copy(rk[:], out[0:32])
	copy(hka[:], out[32:64])
	copy(nhkb[:], out[64:96])
	crypto.Wipe(out[:])
	return
}

func makeAD(ikA, ikB IdentityPublic) (ad [adSize]byte) {
	copy(ad[:], ikA.appendTo(nil))
	copy(ad[IdentitySize:], ikB.appendTo(nil))
	return
}

// Initiate runs the joiner's side of PQXDH against a bundle
// (spec/session.md §3.2) and returns a session ready to Encrypt. Its
// messages carry the initial prefix until the first reply arrives.
// Initiate checks the bundle's signature itself (PQXDH requires it), so a
// Bundle built by hand rather than by ParseBundle fails unless it is
// signed.
func Initiate(cfg Config, b *Bundle) (*Session, error) {
	s, ika, err := InitiateKeep(cfg, b)
	if err != nil {
		return nil, err
	}
	ika.Wipe()
	return s, nil
}

// InitiateKeep is Initiate that also returns the joiner's per-contact
// identity key, which the caller keeps secret beside the session so that a
// later session reset (spec/session.md §13) can use it. Its draws are
// Initiate's.
func InitiateKeep(cfg Config, b *Bundle) (*Session, *Identity, error) {
	if err := b.verify(); err != nil {
		return nil, nil, fmt.Errorf("ratchet: initiate: %w", err)
	}
	r := cfg.rand()
	ika, err := newIdentity(r)
	if err != nil {
		return nil, nil, err
	}
	s, err := initiateWith(cfg, &ika, b.Identity, b.Prekey, b.KEM, b.PQ())
	if err != nil {
		ika.Wipe()
		return nil, nil, err
	}
	return s, &ika, nil
}

// initiateWith is the joiner's side of PQXDH with identity key ika against
// the inviter's identity ikb and one-time keys (§3.2 after the identity
// draws, §13.4): it draws EK_A (32), the ML-KEM encapsulation seed (32)
// and the first DHs (32). With pq, the session runs the KEM ratchet from
// the start, and the joiner then draws its first key-generation seed (64,
// §14.7).
func initiateWith(cfg Config, ika *Identity, ikb IdentityPublic, prekey crypto.DHPublic, kem crypto.KEMPublic, pq bool) (*Session, error) {
	r := cfg.rand()
	ek, err := crypto.GenerateDH(r)
	if err != nil {
		return nil, err
	}
	ct, ss, err := crypto.Encapsulate(kem, r)
	if err != nil {
		return nil, fmt.Errorf("ratchet: initiate: %w", err)
	}
	defer ss.Wipe()
	dh1, err := crypto.DH(ika.DH, prekey)
	if err != nil {
		return nil, fmt.Errorf("ratchet: initiate: bundle prekey: %w", err)
	}
	defer dh1.Wipe()
	dh2, err := crypto.DH(ek, ikb.DH)
	if err != nil {
		return nil, fmt.Errorf("ratchet: initiate: bundle identity: %w", err)
	}
	defer dh2.Wipe()
	dh3, err := crypto.DH(ek, prekey)
	if err != nil {
		return nil, fmt.Errorf("ratchet: initiate: bundle prekey: %w", err)
	}
	defer dh3.Wipe()
	sk := pqxdhSecret(&dh1, &dh2, &dh3, &ss)
	defer sk.Wipe()

	ikaPub := ika.Public()
	ekPub := ek.Public()
	prefix := make([]byte, 0, initialPrefixSize)
	prefix = ikaPub.appendTo(prefix)
	prefix = append(prefix, ekPub[:]...)
	prefix = append(prefix, ct...)

	// Signal's RatchetInitAliceHE: the bundle's prekey is the inviter's
	// first ratchet key.
	rk, hka, nhkb := initKeys(&sk)
	defer rk.Wipe()
	defer hka.Wipe()
	defer nhkb.Wipe()
	dhs, err := crypto.GenerateDH(cfg.ratchetRand())
	if err != nil {
		return nil, err
	}
	dh, err := crypto.DH(dhs, prekey)
	if err != nil {
		return nil, fmt.Errorf("ratchet: initiate: bundle prekey: %w", err)
	}
	s := &Session{
		cfg:       cfg,
		initiator: true,
		local:     ikaPub,
		remote:    ikb,
		ad:        makeAD(ikaPub, ikb),
		dhs:       dhs,
		dhsPub:    dhs.Public(),
		dhr:       prekey,
		hasDHr:    true,
		hks:       hka,
		hasHKs:    true,
		nhkr:      nhkb,
		hasCKs:    true,
		prefix:    prefix,
	}
	s.rk, s.cks, s.nhks = kdfRoot(&rk, &dh)
	dh.Wipe()
	if pq {
		if err := s.pq.turnOn(true, r); err != nil {
			s.Wipe()
			return nil, err
		}
	}
	// ek is a crypto/ecdh key, which cannot be zeroed; it is dropped here
	// (best effort, §3.2).
	return s, nil
}

// Respond runs the inviter's side of PQXDH on the joiner's initial
// message msg and decrypts it (spec/session.md §3.3). A bundle of version
// 0x02 starts the KEM ratchet (§14.7): its initial message must then carry
// ek chunks if its padding has room for one. On success the
// caller stores the session and deletes p, whose one-time keys must never
// serve a second handshake. Every failure wraps ErrAuth, or is
// ErrTooFarAhead when the joiner's first arriving message is more than
// MaxSkip messages into its chain.
func Respond(cfg Config, p *BundlePrivate, msg []byte) (*Session, []byte, error) {
	if !crypto.IsBucket(len(msg)) || !IsInitial(msg) || len(msg) < initialOverhead+1 {
		return nil, nil, authErr("not an initial message")
	}
	prefix := msg[1 : 1+initialPrefixSize]
	ikA, _ := ParseIdentityPublic(prefix[:IdentitySize])
	rest := prefix[IdentitySize:]
	var ek crypto.DHPublic
	copy(ek[:], rest[:crypto.KeySize])
	ct := rest[crypto.KeySize:]
	ikB := p.Identity.Public()
	// There is no joiner signature (§3.1, §5.3): IKdh_A is authenticated
	// by DH1, and the whole prefix, IKsig_A included, is in the associated
	// data of the body that must open below.
	dh1, err := crypto.DH(p.Prekey, ikA.DH)
	if err != nil {
		return nil, nil, authErr("bad joiner identity key")
	}
	defer dh1.Wipe()
	dh2, err := crypto.DH(p.Identity.DH, ek)
	if err != nil {
		return nil, nil, authErr("bad joiner ephemeral key")
	}
	defer dh2.Wipe()
	dh3, err := crypto.DH(p.Prekey, ek)
	if err != nil {
		return nil, nil, authErr("bad joiner ephemeral key")
	}
	defer dh3.Wipe()
	ss, err := crypto.Decapsulate(&p.KEM, ct)
	if err != nil {
		return nil, nil, authErr("bad kem ciphertext")
	}
	defer ss.Wipe()
	sk := pqxdhSecret(&dh1, &dh2, &dh3, &ss)
	defer sk.Wipe()

	// Signal's RatchetInitBobHE.
	rk, hka, nhkb := initKeys(&sk)
	defer hka.Wipe()
	defer nhkb.Wipe()
	s := &Session{
		cfg:      cfg,
		local:    ikB,
		remote:   ikA,
		ad:       makeAD(ikA, ikB),
		dhs:      p.Prekey,
		dhsPub:   p.Prekey.Public(),
		rk:       rk,
		nhks:     nhkb,
		nhkr:     hka,
		initHash: crypto.Hash(prefix),
		hasInit:  true,
	}
	pq := p.bundleVersion() == bundleVersionPQ
	if pq {
		if err := s.pq.startRecvEK(1, cfg.rand()); err != nil {
			s.Wipe()
			return nil, nil, err
		}
	}
	pt, err := s.decrypt(msg, pq)
	if err != nil {
		return nil, nil, err
	}
	return s, pt, nil
}
