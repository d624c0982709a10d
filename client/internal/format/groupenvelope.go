package format

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"unicode/utf8"

	"veil/ratchet"
)

// Group envelope types, spec/groups.md §6.3.
const (
	GenvText   byte = 0x01
	GenvLeave  byte = 0x02
	GenvBurn   byte = 0x03
	GenvCommit byte = 0x04
)

// Commit part limits, spec/groups.md §6.3 and §11.
const (
	maxCommitParts  = 8
	CommitIDSize    = 8
	commitPartHdr   = 2 + CommitIDSize + 2 // version, type, commit ID, part, parts
	commitPartBytes = ratchet.MaxGroupPlaintext - commitPartHdr
)

// GroupEnvelope is one decoded group plaintext.
type GroupEnvelope struct {
	Type     byte
	ID       WireID // TEXT
	TTL      uint32 // TEXT
	Text     string // TEXT
	CommitID [CommitIDSize]byte
	Part     byte // COMMIT: this part's index
	Parts    byte // COMMIT: how many parts
	Bytes    []byte
}

// Marshal encodes g; it returns an error for a field out of range.
func (g *GroupEnvelope) Marshal() ([]byte, error) {
	b := []byte{envVersion, g.Type}
	switch g.Type {
	case GenvText:
		b = append(b, g.ID[:]...)
		b = binary.BigEndian.AppendUint32(b, g.TTL)
		b = append(b, g.Text...)
	case GenvLeave, GenvBurn:
	case GenvCommit:
		if g.Parts == 0 || g.Parts > maxCommitParts || g.Part >= g.Parts || len(g.Bytes) > commitPartBytes {
			return nil, fmt.Errorf("%w: commit part %d of %d", errEnvelope, g.Part, g.Parts)
		}
		b = append(b, g.CommitID[:]...)
		b = append(b, g.Part, g.Parts)
		b = append(b, g.Bytes...)
	default:
		return nil, fmt.Errorf("%w: unknown group type %d", errEnvelope, g.Type)
	}
	return b, nil
}

// ParseGroupEnvelope decodes b strictly.
func ParseGroupEnvelope(b []byte) (*GroupEnvelope, error) {
	r := newRecordReader(b)
	if r.u8() != envVersion || !r.ok {
		return nil, fmt.Errorf("%w: unknown version", errEnvelope)
	}
	g := &GroupEnvelope{Type: r.u8()}
	switch g.Type {
	case GenvText:
		copy(g.ID[:], r.take(WireIDSize))
		g.TTL = r.u32()
		if !r.ok {
			return nil, fmt.Errorf("%w: truncated", errEnvelope)
		}
		if !utf8.Valid(r.b) {
			return nil, fmt.Errorf("%w: text is not UTF-8", errEnvelope)
		}
		g.Text = string(r.b)
		r.b = nil
	case GenvLeave, GenvBurn:
	case GenvCommit:
		copy(g.CommitID[:], r.take(CommitIDSize))
		g.Part, g.Parts = r.u8(), r.u8()
		if !r.ok || g.Parts == 0 || g.Parts > maxCommitParts || g.Part >= g.Parts || len(r.b) > commitPartBytes {
			return nil, fmt.Errorf("%w: bad commit part", errEnvelope)
		}
		g.Bytes = bytes.Clone(r.b)
		r.b = nil
	default:
		return nil, fmt.Errorf("%w: unknown group type", errEnvelope)
	}
	if !r.done() {
		return nil, fmt.Errorf("%w: truncated or trailing bytes", errEnvelope)
	}
	return g, nil
}

// SplitCommit cuts an encoded commit into its parts (spec/groups.md §6.3).
func SplitCommit(id [CommitIDSize]byte, c []byte) ([]*GroupEnvelope, error) {
	n := (len(c) + commitPartBytes - 1) / commitPartBytes
	if n == 0 || n > maxCommitParts {
		return nil, fmt.Errorf("client: a commit of %d bytes does not fit %d parts", len(c), maxCommitParts)
	}
	parts := make([]*GroupEnvelope, 0, n)
	for i := range n {
		end := min((i+1)*commitPartBytes, len(c))
		parts = append(parts, &GroupEnvelope{Type: GenvCommit, CommitID: id, Part: byte(i), Parts: byte(n), Bytes: c[i*commitPartBytes : end]})
	}
	return parts, nil
}

// CommitAssembler collects the parts of commits as they are read from a
// log; a part of another commit ID than the one in progress starts over
// with that one (the first commit to complete is the one members accept,
// §3.4).
type CommitAssembler struct {
	id    [CommitIDSize]byte
	parts [][]byte
	have  int
}

// Add records a part and returns the whole commit once every part of its
// Commit has arrived.
func (a *CommitAssembler) Add(g *GroupEnvelope) []byte {
	if a.parts == nil || a.id != g.CommitID || len(a.parts) != int(g.Parts) {
		a.id, a.parts, a.have = g.CommitID, make([][]byte, g.Parts), 0
	}
	if a.parts[g.Part] == nil {
		a.parts[g.Part] = g.Bytes
		a.have++
	}
	if a.have < len(a.parts) {
		return nil
	}
	out := bytes.Join(a.parts, nil)
	a.parts, a.have = nil, 0
	return out
}
