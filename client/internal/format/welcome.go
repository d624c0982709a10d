package format

import (
	"bytes"
	"fmt"

	"veil/crypto"
	"veil/ratchet"
)

// Welcome parts, spec/groups.md §9.2: the welcome of a large group does
// not fit one log entry, so the admin cuts it into parts, each sealed on
// its own under the invite's exchange key, and the joiner reassembles and
// checks the whole welcome before it acts on any of it.

// Welcome part limits, spec/groups.md §9.2 and §11.
const (
	welcomePartVersion = 1
	WelcomeIDSize      = 8
	welcomePartHdr     = 1 + WelcomeIDSize + 2 // version, welcome ID, part, parts
	// WelcomePartBytes is what one part carries: the largest bucket less
	// the SealX overhead, the padding marker and the part header.
	WelcomePartBytes = crypto.MaxBody - crypto.SealedXSize - 1 - welcomePartHdr

	// maxRosterSize is the largest roster record (spec/groups.md §3.3):
	// version, group ID, epoch, settings, count, and MaxGroupMembers
	// entries with the longest nickname.
	maxRosterSize = 1 + ratchet.GroupIDSize + 8 + (1 + MaxGroupName + 4 + 8) + 2 +
		ratchet.MaxGroupMembers*MaxMemberSize
	// maxWelcomeSize is the largest welcome: length, roster, secret, log ID,
	// confirmation value.
	maxWelcomeSize = 4 + maxRosterSize + crypto.KeySize + crypto.IDSize + crypto.HashSize
	// MaxWelcomeParts is derived from the 1,000-member limit: 81.
	MaxWelcomeParts = (maxWelcomeSize + WelcomePartBytes - 1) / WelcomePartBytes
)

// WelcomePart is one decoded part of a welcome.
type WelcomePart struct {
	ID    [WelcomeIDSize]byte
	Part  byte
	Parts byte
	Bytes []byte
}

// Marshal encodes p; it returns an error for a field out of range.
func (p *WelcomePart) Marshal() ([]byte, error) {
	if p.Parts == 0 || p.Parts > MaxWelcomeParts || p.Part >= p.Parts || len(p.Bytes) == 0 || len(p.Bytes) > WelcomePartBytes {
		return nil, fmt.Errorf("client: welcome part %d of %d is malformed", p.Part, p.Parts)
	}
	b := make([]byte, 0, welcomePartHdr+len(p.Bytes))
	b = append(b, welcomePartVersion)
	b = append(b, p.ID[:]...)
	b = append(b, p.Part, p.Parts)
	return append(b, p.Bytes...), nil
}

// ParseWelcomePart decodes one part strictly.
func ParseWelcomePart(b []byte) (*WelcomePart, error) {
	r := newRecordReader(b)
	if r.u8() != welcomePartVersion || !r.ok {
		return nil, fmt.Errorf("client: welcome part: unknown version")
	}
	p := &WelcomePart{}
	copy(p.ID[:], r.take(WelcomeIDSize))
	p.Part, p.Parts = r.u8(), r.u8()
	if !r.ok || p.Parts == 0 || p.Parts > MaxWelcomeParts || p.Part >= p.Parts || len(r.b) == 0 || len(r.b) > WelcomePartBytes {
		return nil, fmt.Errorf("client: welcome part is malformed")
	}
	p.Bytes = bytes.Clone(r.b)
	return p, nil
}

// SplitWelcome cuts an encoded welcome into its parts' plaintexts.
func SplitWelcome(id [WelcomeIDSize]byte, w []byte) ([][]byte, error) {
	n := (len(w) + WelcomePartBytes - 1) / WelcomePartBytes
	if n == 0 || n > MaxWelcomeParts {
		return nil, fmt.Errorf("client: a welcome of %d bytes does not fit %d parts", len(w), MaxWelcomeParts)
	}
	out := make([][]byte, 0, n)
	for i := range n {
		end := min((i+1)*WelcomePartBytes, len(w))
		b, err := (&WelcomePart{ID: id, Part: byte(i), Parts: byte(n), Bytes: w[i*WelcomePartBytes : end]}).Marshal()
		if err != nil {
			return nil, err
		}
		out = append(out, b)
	}
	return out, nil
}

// WelcomeAssembler collects the parts of one welcome. A part of another
// welcome ID or count starts over with that welcome; a part seen twice
// must repeat its bytes exactly, or the welcome in progress is dropped.
// Nothing is returned until every part is there.
type WelcomeAssembler struct {
	id    [WelcomeIDSize]byte
	parts [][]byte
	have  int
}

// Empty reports whether no welcome is in progress.
func (a *WelcomeAssembler) Empty() bool { return a.parts == nil }

// Add records p. It returns the whole welcome once complete, and
// restarted = true when p began a new welcome (dropping any in progress).
func (a *WelcomeAssembler) Add(p *WelcomePart) (whole []byte, restarted bool) {
	if a.parts == nil || a.id != p.ID || len(a.parts) != int(p.Parts) {
		a.id, a.parts, a.have = p.ID, make([][]byte, p.Parts), 0
		restarted = true
	}
	switch old := a.parts[p.Part]; {
	case old == nil:
		a.parts[p.Part] = p.Bytes
		a.have++
	case !crypto.Equal(old, p.Bytes):
		// Two different parts under one index: trust neither.
		a.id, a.parts, a.have = p.ID, make([][]byte, p.Parts), 1
		a.parts[p.Part] = p.Bytes
		restarted = true
	}
	if a.have < len(a.parts) {
		return nil, restarted
	}
	whole = bytes.Join(a.parts, nil)
	a.parts, a.have = nil, 0
	return whole, restarted
}
