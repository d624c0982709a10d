package client

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"unicode/utf8"

	"veil/ratchet"
)

// Group envelope types, spec/groups.md §6.3.
const (
	genvText   byte = 0x01
	genvLeave  byte = 0x02
	genvBurn   byte = 0x03
	genvCommit byte = 0x04
)

// Commit part limits, spec/groups.md §6.3 and §11.
const (
	maxCommitParts  = 8
	commitIDSize    = 8
	commitPartHdr   = 2 + commitIDSize + 2 // version, type, commit ID, part, parts
	commitPartBytes = ratchet.MaxGroupPlaintext - commitPartHdr
)

// groupEnvelope is one decoded group plaintext.
type groupEnvelope struct {
	Type     byte
	ID       wireID // TEXT
	TTL      uint32 // TEXT
	Text     string // TEXT
	CommitID [commitIDSize]byte
	Part     byte // COMMIT: this part's index
	Parts    byte // COMMIT: how many parts
	Bytes    []byte
}

func (g *groupEnvelope) marshal() ([]byte, error) {
	b := []byte{envVersion, g.Type}
	switch g.Type {
	case genvText:
		b = append(b, g.ID[:]...)
		b = binary.BigEndian.AppendUint32(b, g.TTL)
		b = append(b, g.Text...)
	case genvLeave, genvBurn:
	case genvCommit:
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

// parseGroupEnvelope decodes b strictly.
func parseGroupEnvelope(b []byte) (*groupEnvelope, error) {
	r := newRecordReader(b)
	if r.u8() != envVersion || !r.ok {
		return nil, fmt.Errorf("%w: unknown version", errEnvelope)
	}
	g := &groupEnvelope{Type: r.u8()}
	switch g.Type {
	case genvText:
		copy(g.ID[:], r.take(wireIDSize))
		g.TTL = r.u32()
		if !r.ok {
			return nil, fmt.Errorf("%w: truncated", errEnvelope)
		}
		if !utf8.Valid(r.b) {
			return nil, fmt.Errorf("%w: text is not UTF-8", errEnvelope)
		}
		g.Text = string(r.b)
		r.b = nil
	case genvLeave, genvBurn:
	case genvCommit:
		copy(g.CommitID[:], r.take(commitIDSize))
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

// splitCommit cuts an encoded commit into its parts (spec/groups.md §6.3).
func splitCommit(id [commitIDSize]byte, c []byte) ([]*groupEnvelope, error) {
	n := (len(c) + commitPartBytes - 1) / commitPartBytes
	if n == 0 || n > maxCommitParts {
		return nil, fmt.Errorf("client: a commit of %d bytes does not fit %d parts", len(c), maxCommitParts)
	}
	parts := make([]*groupEnvelope, 0, n)
	for i := range n {
		end := min((i+1)*commitPartBytes, len(c))
		parts = append(parts, &groupEnvelope{Type: genvCommit, CommitID: id, Part: byte(i), Parts: byte(n), Bytes: c[i*commitPartBytes : end]})
	}
	return parts, nil
}

// commitAssembler collects the parts of commits as they are read from a
// log; a part of another commit ID than the one in progress starts over
// with that one (the first commit to complete is the one members accept,
// §3.4).
type commitAssembler struct {
	id    [commitIDSize]byte
	parts [][]byte
	have  int
}

// add records a part and returns the whole commit once every part of its
// commit has arrived.
func (a *commitAssembler) add(g *groupEnvelope) []byte {
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
