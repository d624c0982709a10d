package ratchet

import (
	"bytes"
	"encoding/binary"
	"errors"

	"veil/crypto"
)

// Serialised group epoch: spec/groups.md §4.4.
const (
	groupFixedSize   = 1 + EpochContextSize + 5*crypto.KeySize + 4 + 2
	groupPeerSize    = 2*crypto.KeySize + 4 + 2
	groupSkippedSize = 4 + crypto.KeySize + 8
)

var errGroupState = errors.New("ratchet: invalid group state")

// Marshal returns the versioned encoding of every field of g, skipped keys
// included (spec/groups.md §4.4). The result holds secrets: the caller must
// store it encrypted and wipe it when done.
func (g *GroupEpoch) Marshal() []byte {
	size := groupFixedSize
	for i := range g.peers {
		size += groupPeerSize + len(g.peers[i].skipped)*groupSkippedSize
	}
	b := make([]byte, 0, size)
	b = append(b, groupStateVersion)
	b = append(b, g.ctx[:]...)
	b = append(b, g.hk[:]...)
	b = append(b, g.writeCap[:]...)
	b = append(b, g.readCap[:]...)
	b = append(b, g.self.Seed()...)
	b = append(b, g.ck[:]...)
	b = binary.BigEndian.AppendUint32(b, g.n)
	b = binary.BigEndian.AppendUint16(b, uint16(len(g.peers)))
	for i := range g.peers {
		p := &g.peers[i]
		b = append(b, p.pub[:]...)
		b = append(b, p.ck[:]...)
		b = binary.BigEndian.AppendUint32(b, p.n)
		b = binary.BigEndian.AppendUint16(b, uint16(len(p.skipped)))
		for _, k := range p.skipped {
			b = binary.BigEndian.AppendUint32(b, k.n)
			b = append(b, k.mk[:]...)
			b = binary.BigEndian.AppendUint64(b, uint64(k.created))
		}
	}
	return b
}

// UnmarshalGroupEpoch parses a state written by Marshal. It accepts only
// the canonical encoding (peers in increasing key order, skipped keys in
// increasing number below their chain's position, every count within the
// limits of §8), so Marshal gives back exactly b. cfg supplies randomness
// and time.
func UnmarshalGroupEpoch(cfg Config, b []byte) (*GroupEpoch, error) {
	if len(b) < groupFixedSize || b[0] != groupStateVersion {
		return nil, errGroupState
	}
	g := &GroupEpoch{cfg: cfg}
	r := b[1:]
	take := func(n int) []byte { s := r[:n]; r = r[n:]; return s }
	copy(g.ctx[:], take(EpochContextSize))
	copy(g.hk[:], take(crypto.KeySize))
	copy(g.writeCap[:], take(crypto.KeySize))
	copy(g.readCap[:], take(crypto.KeySize))
	self, err := crypto.ParseSignPrivate(take(crypto.KeySize))
	if err != nil {
		return nil, errGroupState
	}
	g.self, g.selfPub = self, self.Public()
	copy(g.ck[:], take(crypto.KeySize))
	g.n = binary.BigEndian.Uint32(take(4))
	count := int(binary.BigEndian.Uint16(take(2)))
	if count+1 > MaxGroupMembers {
		return nil, errGroupState
	}
	g.peers = make([]peerChain, 0, count)
	for i := 0; i < count; i++ {
		if len(r) < groupPeerSize {
			return nil, errGroupState
		}
		var p peerChain
		copy(p.pub[:], take(crypto.KeySize))
		copy(p.ck[:], take(crypto.KeySize))
		p.n = binary.BigEndian.Uint32(take(4))
		ns := int(binary.BigEndian.Uint16(take(2)))
		if p.pub == g.selfPub || (i > 0 && bytes.Compare(g.peers[i-1].pub[:], p.pub[:]) >= 0) {
			return nil, errGroupState
		}
		if ns > MaxGroupSkippedKeys || len(r) < ns*groupSkippedSize {
			return nil, errGroupState
		}
		for j := 0; j < ns; j++ {
			var k groupSkipped
			k.n = binary.BigEndian.Uint32(take(4))
			copy(k.mk[:], take(crypto.KeySize))
			k.created = int64(binary.BigEndian.Uint64(take(8)))
			if k.n >= p.n || (j > 0 && p.skipped[j-1].n >= k.n) {
				return nil, errGroupState
			}
			p.skipped = append(p.skipped, k)
		}
		g.peers = append(g.peers, p)
	}
	if len(r) != 0 {
		return nil, errGroupState
	}
	return g, nil
}
