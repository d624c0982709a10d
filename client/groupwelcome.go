package client

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
	welcomeIDSize      = 8
	welcomePartHdr     = 1 + welcomeIDSize + 2 // version, welcome ID, part, parts
	// welcomePartBytes is what one part carries: the largest bucket less
	// the SealX overhead, the padding marker and the part header.
	welcomePartBytes = crypto.MaxBody - crypto.SealedXSize - 1 - welcomePartHdr

	// maxRosterSize is the largest roster record (spec/groups.md §3.3):
	// version, group ID, epoch, settings, count, and MaxGroupMembers
	// entries with the longest nickname.
	maxRosterSize = 1 + ratchet.GroupIDSize + 8 + (1 + maxGroupName + 4 + 8) + 2 +
		ratchet.MaxGroupMembers*(2*crypto.KeySize+2+maxGroupNick)
	// maxWelcomeSize is the largest welcome: length, roster, secret, log ID.
	maxWelcomeSize = 4 + maxRosterSize + crypto.KeySize + crypto.IDSize
	// maxWelcomeParts is derived from the 1,000-member limit: 7.
	maxWelcomeParts = (maxWelcomeSize + welcomePartBytes - 1) / welcomePartBytes
)

// welcomePart is one decoded part of a welcome.
type welcomePart struct {
	ID    [welcomeIDSize]byte
	Part  byte
	Parts byte
	Bytes []byte
}

func (p *welcomePart) marshal() ([]byte, error) {
	if p.Parts == 0 || p.Parts > maxWelcomeParts || p.Part >= p.Parts || len(p.Bytes) == 0 || len(p.Bytes) > welcomePartBytes {
		return nil, fmt.Errorf("client: welcome part %d of %d is malformed", p.Part, p.Parts)
	}
	b := make([]byte, 0, welcomePartHdr+len(p.Bytes))
	b = append(b, welcomePartVersion)
	b = append(b, p.ID[:]...)
	b = append(b, p.Part, p.Parts)
	return append(b, p.Bytes...), nil
}

// parseWelcomePart decodes one part strictly.
func parseWelcomePart(b []byte) (*welcomePart, error) {
	r := newRecordReader(b)
	if r.u8() != welcomePartVersion || !r.ok {
		return nil, fmt.Errorf("client: welcome part: unknown version")
	}
	p := &welcomePart{}
	copy(p.ID[:], r.take(welcomeIDSize))
	p.Part, p.Parts = r.u8(), r.u8()
	if !r.ok || p.Parts == 0 || p.Parts > maxWelcomeParts || p.Part >= p.Parts || len(r.b) == 0 || len(r.b) > welcomePartBytes {
		return nil, fmt.Errorf("client: welcome part is malformed")
	}
	p.Bytes = bytes.Clone(r.b)
	return p, nil
}

// splitWelcome cuts an encoded welcome into its parts' plaintexts.
func splitWelcome(id [welcomeIDSize]byte, w []byte) ([][]byte, error) {
	n := (len(w) + welcomePartBytes - 1) / welcomePartBytes
	if n == 0 || n > maxWelcomeParts {
		return nil, fmt.Errorf("client: a welcome of %d bytes does not fit %d parts", len(w), maxWelcomeParts)
	}
	out := make([][]byte, 0, n)
	for i := range n {
		end := min((i+1)*welcomePartBytes, len(w))
		b, err := (&welcomePart{ID: id, Part: byte(i), Parts: byte(n), Bytes: w[i*welcomePartBytes : end]}).marshal()
		if err != nil {
			return nil, err
		}
		out = append(out, b)
	}
	return out, nil
}

// welcomeAssembler collects the parts of one welcome. A part of another
// welcome ID or count starts over with that welcome; a part seen twice
// must repeat its bytes exactly, or the welcome in progress is dropped.
// Nothing is returned until every part is there.
type welcomeAssembler struct {
	id    [welcomeIDSize]byte
	parts [][]byte
	have  int
}

func (a *welcomeAssembler) empty() bool { return a.parts == nil }

// add records p. It returns the whole welcome once complete, and
// restarted = true when p began a new welcome (dropping any in progress).
func (a *welcomeAssembler) add(p *welcomePart) (whole []byte, restarted bool) {
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

// welcomeReadPages bounds the LREAD calls one look for the welcome makes.
// A relay answers with as many entries as fit one frame, which may be one
// bucket-sized entry per call; the exchange log holds one join request and
// at most maxWelcomeParts parts, so this leaves room for three times as
// many entries (duplicates, garbage) and still ends.
const welcomeReadPages = 4 * (1 + maxWelcomeParts)
