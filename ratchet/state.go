package ratchet

import (
	"encoding/binary"
	"errors"
	"fmt"

	"veil/crypto"
)

// Serialised session format: spec/session.md §10. A session whose KEM
// ratchet is off is written as version 0x01; one that runs it as version
// 0x02, which appends the KEM ratchet's section (pqstate.go).
const (
	stateVersion1  = 0x01
	stateVersionPQ = 0x02
)

// State flags, one bit per optional field (§10).
const (
	flagInitiator = 1 << iota
	flagDHr
	flagCKs
	flagCKr
	flagHKs
	flagHKr
	flagPrefix
	flagInit
)

const (
	stateFixedSize = 2 + 2*IdentitySize + 2*crypto.KeySize + 7*crypto.KeySize + 3*4 + crypto.HashSize
	retiredSize    = crypto.KeySize + 4
	skippedSize    = crypto.KeySize + 4 + crypto.KeySize + 8
)

var errState = errors.New("ratchet: invalid session state")

// Marshal returns the versioned encoding of every field of s, skipped
// keys included (spec/session.md §10). Skipped keys older than
// SkippedKeyTTL by the session's clock are dropped first (§7.2), so they do
// not outlive their TTL in storage. The result holds secrets: the caller
// must store it encrypted and wipe it when done.
func (s *Session) Marshal() []byte {
	if len(s.skipped) > 0 {
		s.expireSkipped(s.cfg.now())
	}
	size := stateFixedSize + len(s.prefix) + 1 + len(s.retired)*retiredSize + 2 + len(s.skipped)*skippedSize
	version := byte(stateVersion1)
	if s.pq.phase != pqOff {
		version = stateVersionPQ
		size += pqStateMaxSize
	}
	b := make([]byte, 0, size)
	var flags byte
	set := func(ok bool, f byte) {
		if ok {
			flags |= f
		}
	}
	set(s.initiator, flagInitiator)
	set(s.hasDHr, flagDHr)
	set(s.hasCKs, flagCKs)
	set(s.hasCKr, flagCKr)
	set(s.hasHKs, flagHKs)
	set(s.hasHKr, flagHKr)
	set(s.prefix != nil, flagPrefix)
	set(s.hasInit, flagInit)
	b = append(b, version, flags)
	b = s.local.appendTo(b)
	b = s.remote.appendTo(b)
	dhs := s.dhs.Bytes()
	b = append(b, dhs...)
	crypto.Wipe(dhs)
	b = append(b, s.dhr[:]...)
	for _, k := range []*crypto.SymKey{&s.rk, &s.cks, &s.ckr, &s.hks, &s.nhks, &s.hkr, &s.nhkr} {
		b = append(b, k[:]...)
	}
	b = binary.BigEndian.AppendUint32(b, s.ns)
	b = binary.BigEndian.AppendUint32(b, s.nr)
	b = binary.BigEndian.AppendUint32(b, s.pn)
	b = append(b, s.initHash[:]...)
	b = append(b, s.prefix...)
	b = append(b, byte(len(s.retired)))
	for _, r := range s.retired {
		b = append(b, r.hk[:]...)
		b = binary.BigEndian.AppendUint32(b, r.end)
	}
	b = binary.BigEndian.AppendUint16(b, uint16(len(s.skipped)))
	for _, k := range s.skipped {
		b = append(b, k.hk[:]...)
		b = binary.BigEndian.AppendUint32(b, k.n)
		b = append(b, k.mk[:]...)
		b = binary.BigEndian.AppendUint64(b, uint64(k.created))
	}
	if version == stateVersionPQ {
		b = s.pq.appendTo(b)
	}
	return b
}

// stateReader reads fixed-size fields; the caller checks the length first.
type stateReader struct{ b []byte }

func (r *stateReader) next(n int) []byte {
	v := r.b[:n]
	r.b = r.b[n:]
	return v
}

func (r *stateReader) key(k *crypto.SymKey) { copy(k[:], r.next(crypto.KeySize)) }

// ParseSession parses what Session.Marshal returned: state version 0x01
// (the KEM ratchet off) or 0x02. The session draws randomness and time
// from cfg.
func ParseSession(cfg Config, data []byte) (*Session, error) {
	if len(data) < stateFixedSize+3 {
		return nil, fmt.Errorf("%w: %d bytes is too short", errState, len(data))
	}
	version := data[0]
	if version != stateVersion1 && version != stateVersionPQ {
		return nil, fmt.Errorf("%w: unknown version %d", errState, version)
	}
	flags := data[1]
	s := &Session{cfg: cfg}
	s.initiator = flags&flagInitiator != 0
	s.hasDHr = flags&flagDHr != 0
	s.hasCKs = flags&flagCKs != 0
	s.hasCKr = flags&flagCKr != 0
	s.hasHKs = flags&flagHKs != 0
	s.hasHKr = flags&flagHKr != 0
	s.hasInit = flags&flagInit != 0
	hasPrefix := flags&flagPrefix != 0

	r := stateReader{b: data[2:]}
	s.local, _ = ParseIdentityPublic(r.next(IdentitySize))
	s.remote, _ = ParseIdentityPublic(r.next(IdentitySize))
	dhs, err := crypto.ParseDHPrivate(r.next(crypto.KeySize))
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errState, err)
	}
	s.dhs, s.dhsPub = dhs, dhs.Public()
	copy(s.dhr[:], r.next(crypto.KeySize))
	for _, k := range []*crypto.SymKey{&s.rk, &s.cks, &s.ckr, &s.hks, &s.nhks, &s.hkr, &s.nhkr} {
		r.key(k)
	}
	s.ns = binary.BigEndian.Uint32(r.next(4))
	s.nr = binary.BigEndian.Uint32(r.next(4))
	s.pn = binary.BigEndian.Uint32(r.next(4))
	copy(s.initHash[:], r.next(crypto.HashSize))
	if hasPrefix {
		if len(r.b) < initialPrefixSize+3 {
			return nil, fmt.Errorf("%w: truncated initial prefix", errState)
		}
		s.prefix = append([]byte(nil), r.next(initialPrefixSize)...)
	}
	nRetired := int(r.next(1)[0])
	if nRetired > MaxRetiredChains {
		return nil, fmt.Errorf("%w: %d retired chains, at most %d", errState, nRetired, MaxRetiredChains)
	}
	if len(r.b) < nRetired*retiredSize+2 {
		return nil, fmt.Errorf("%w: truncated retired chains", errState)
	}
	for range nRetired {
		var c retiredChain
		r.key(&c.hk)
		c.end = binary.BigEndian.Uint32(r.next(4))
		s.retired = append(s.retired, c)
	}
	nSkipped := int(binary.BigEndian.Uint16(r.next(2)))
	if nSkipped > MaxSkippedKeys {
		return nil, fmt.Errorf("%w: %d skipped keys, at most %d", errState, nSkipped, MaxSkippedKeys)
	}
	if version == stateVersion1 && len(r.b) != nSkipped*skippedSize {
		return nil, fmt.Errorf("%w: skipped keys take %d bytes, want %d", errState, len(r.b), nSkipped*skippedSize)
	}
	if version == stateVersionPQ && len(r.b) < nSkipped*skippedSize {
		return nil, fmt.Errorf("%w: truncated skipped keys", errState)
	}
	if nSkipped > 0 {
		s.skipped = make([]skippedKey, nSkipped)
	}
	for i := range s.skipped {
		k := &s.skipped[i]
		r.key(&k.hk)
		k.n = binary.BigEndian.Uint32(r.next(4))
		r.key(&k.mk)
		k.created = int64(binary.BigEndian.Uint64(r.next(8)))
	}
	if version == stateVersionPQ {
		if s.pq, err = parsePQState(r.b); err != nil {
			return nil, err
		}
		if err = s.pq.checkRole(s.initiator); err != nil {
			s.pq.wipe()
			return nil, err
		}
	}
	s.ad = makeAD(s.local, s.remote)
	if !s.initiator {
		s.ad = makeAD(s.remote, s.local)
	}
	return s, nil
}
