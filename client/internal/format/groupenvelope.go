package format

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"unicode/utf8"

	"veil/crypto"
	"veil/ratchet"
)

// Group envelope types, spec/groups.md §6.3.
const (
	GenvText   byte = 0x01
	GenvLeave  byte = 0x02
	GenvBurn   byte = 0x03
	GenvCommit byte = 0x04
	GenvReply  byte = 0x05
	GenvReact  byte = 0x06
	// GenvFile offers a file (spec/files.md §4): ID, TTL, descriptor.
	GenvFile byte = 0x07
	// GenvNext, appended to an epoch's log by a member that left the
	// epoch, carries the tag of the epoch it moved to, or zeros when it
	// could not follow the commit (§6.6).
	GenvNext byte = 0x08
)

// Group envelope layout, spec/groups.md §6.3.
const (
	groupEnvVersion = 2
	// ConfTagSize is how many bytes of the sender's epoch confirmation
	// value every group envelope carries (§6.4).
	ConfTagSize   = 16
	groupEnvHdr   = 1 + ConfTagSize + 1 // version, conf tag, type
	commitPartHdr = groupEnvHdr + crypto.HashSize + 2
	// CommitPartBytes is how many commit bytes one part carries.
	CommitPartBytes = ratchet.MaxGroupPlaintext - commitPartHdr
	// MaxCommitParts bounds a commit's parts: a 1,000-member commit with
	// hybrid sealing needs 73 (§11).
	MaxCommitParts = 80
	// MaxGroupText is the longest TEXT a group message holds.
	MaxGroupText = ratchet.MaxGroupPlaintext - groupEnvHdr - WireIDSize - 4
	// MaxGroupReplyText is the longest text of a group REPLY.
	MaxGroupReplyText = MaxGroupText - WireIDSize
)

// GroupEnvelope is one decoded group plaintext.
type GroupEnvelope struct {
	Conf [ConfTagSize]byte // the sender's epoch confirmation tag
	Type byte
	// ID is the message's own ID (TEXT, REPLY) or its target (REACT).
	ID       WireID
	TTL      uint32 // TEXT, REPLY
	Target   WireID // REPLY: the message it quotes
	Reaction string // REACT: the reaction, empty to take ours back
	Text     string // TEXT, REPLY
	Hash     [crypto.HashSize]byte
	Part     byte // COMMIT: this part's index
	Parts    byte // COMMIT: how many parts
	Bytes    []byte
	// File, FileErr, FileRaw: FILE's descriptor, as in Envelope.
	File    *FileDescriptor
	FileErr error
	FileRaw []byte
	// Next is NEXT's tag of the sender's next epoch; zero: it could not
	// follow the commit.
	Next [ConfTagSize]byte
}

// Marshal encodes g; it returns an error for a field out of range.
func (g *GroupEnvelope) Marshal() ([]byte, error) {
	b := []byte{groupEnvVersion}
	b = append(b, g.Conf[:]...)
	b = append(b, g.Type)
	switch g.Type {
	case GenvText:
		if len(g.Text) > MaxGroupText || !utf8.ValidString(g.Text) {
			return nil, fmt.Errorf("%w: text of %d bytes", errEnvelope, len(g.Text))
		}
		b = append(b, g.ID[:]...)
		b = binary.BigEndian.AppendUint32(b, g.TTL)
		b = append(b, g.Text...)
	case GenvReply:
		if len(g.Text) > MaxGroupReplyText || !utf8.ValidString(g.Text) {
			return nil, fmt.Errorf("%w: text of %d bytes", errEnvelope, len(g.Text))
		}
		b = append(b, g.ID[:]...)
		b = binary.BigEndian.AppendUint32(b, g.TTL)
		b = append(b, g.Target[:]...)
		b = append(b, g.Text...)
	case GenvReact:
		if len(g.Reaction) > MaxReaction || !utf8.ValidString(g.Reaction) {
			return nil, fmt.Errorf("%w: reaction of %d bytes", errEnvelope, len(g.Reaction))
		}
		b = append(b, g.ID[:]...)
		b = append(b, g.Reaction...)
	case GenvFile:
		b = append(b, g.ID[:]...)
		b = binary.BigEndian.AppendUint32(b, g.TTL)
		return appendFile(b, g.File, g.FileRaw)
	case GenvLeave, GenvBurn:
	case GenvNext:
		b = append(b, g.Next[:]...)
	case GenvCommit:
		if g.Parts == 0 || g.Parts > MaxCommitParts || g.Part >= g.Parts || len(g.Bytes) == 0 || len(g.Bytes) > CommitPartBytes {
			return nil, fmt.Errorf("%w: commit part %d of %d", errEnvelope, g.Part, g.Parts)
		}
		b = append(b, g.Hash[:]...)
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
	if r.u8() != groupEnvVersion || !r.ok {
		return nil, fmt.Errorf("%w: unknown version", errEnvelope)
	}
	g := &GroupEnvelope{}
	copy(g.Conf[:], r.take(ConfTagSize))
	g.Type = r.u8()
	if !r.ok {
		return nil, fmt.Errorf("%w: truncated", errEnvelope)
	}
	switch g.Type {
	case GenvText:
		copy(g.ID[:], r.take(WireIDSize))
		g.TTL = r.u32()
		if !r.ok {
			return nil, fmt.Errorf("%w: truncated", errEnvelope)
		}
		if len(r.b) > MaxGroupText || !utf8.Valid(r.b) {
			return nil, fmt.Errorf("%w: text too long or not UTF-8", errEnvelope)
		}
		g.Text = string(r.b)
		r.b = nil
	case GenvReply:
		copy(g.ID[:], r.take(WireIDSize))
		g.TTL = r.u32()
		copy(g.Target[:], r.take(WireIDSize))
		if !r.ok {
			return nil, fmt.Errorf("%w: truncated", errEnvelope)
		}
		if len(r.b) > MaxGroupReplyText || !utf8.Valid(r.b) {
			return nil, fmt.Errorf("%w: text too long or not UTF-8", errEnvelope)
		}
		g.Text = string(r.b)
		r.b = nil
	case GenvReact:
		copy(g.ID[:], r.take(WireIDSize))
		if !r.ok {
			return nil, fmt.Errorf("%w: truncated", errEnvelope)
		}
		if len(r.b) > MaxReaction || !utf8.Valid(r.b) {
			return nil, fmt.Errorf("%w: reaction too long or not UTF-8", errEnvelope)
		}
		g.Reaction = string(r.b)
		r.b = nil
	case GenvFile:
		copy(g.ID[:], r.take(WireIDSize))
		g.TTL = r.u32()
		if !r.ok {
			return nil, fmt.Errorf("%w: truncated", errEnvelope)
		}
		g.File, g.FileRaw, g.FileErr = parseFile(r.b)
		r.b = nil
	case GenvLeave, GenvBurn:
	case GenvNext:
		copy(g.Next[:], r.take(ConfTagSize))
	case GenvCommit:
		copy(g.Hash[:], r.take(crypto.HashSize))
		g.Part, g.Parts = r.u8(), r.u8()
		if !r.ok || g.Parts == 0 || g.Parts > MaxCommitParts || g.Part >= g.Parts || len(r.b) == 0 || len(r.b) > CommitPartBytes {
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

// SplitCommit cuts an encoded commit into its parts (spec/groups.md §6.3),
// each naming the commit's hash.
func SplitCommit(c []byte) ([]*GroupEnvelope, error) {
	n := (len(c) + CommitPartBytes - 1) / CommitPartBytes
	if n == 0 || n > MaxCommitParts {
		return nil, fmt.Errorf("client: a commit of %d bytes does not fit %d parts", len(c), MaxCommitParts)
	}
	h := CommitHash(c)
	parts := make([]*GroupEnvelope, 0, n)
	for i := range n {
		end := min((i+1)*CommitPartBytes, len(c))
		parts = append(parts, &GroupEnvelope{Type: GenvCommit, Hash: h, Part: byte(i), Parts: byte(n), Bytes: c[i*CommitPartBytes : end]})
	}
	return parts, nil
}

// CommitPartsFor returns how many parts a commit of n bytes needs.
func CommitPartsFor(n int) int { return (n + CommitPartBytes - 1) / CommitPartBytes }
