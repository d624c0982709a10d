package format

import (
	"bytes"

	"veil/crypto"
)

// Commit assembly (spec/groups.md §6.3): the parts of a commit are
// collected per (sender, commit hash), so a part from anyone else, or of
// another commit, never disturbs a commit in progress. The assembler is
// plain data so that the client stores it with the group's state: a
// commit read across several polls, or across a restart, still applies.

// Assembler limits (spec/groups.md §6.3, §11). No sender's commit in
// progress is ever evicted by another sender's: a sender's new commit
// evicts only its own oldest, and a member who is not an admin finds the
// members' slots full and is refused rather than evict anyone. Every
// reader reads the same log in the same order, so every reader, the
// committer included (AddOwn), refuses the same commits.
const (
	// MaxAssembliesPerSender bounds the commits an admin can have in
	// progress; a further one evicts that admin's oldest.
	MaxAssembliesPerSender = 2
	// MaxAssembliesPerMember bounds those of a member who is not an
	// admin: it commits only its own update, one at a time.
	MaxAssembliesPerMember = 1
	// MaxMemberAssemblies bounds the commits in progress of all the
	// members who are not admins together; while they are this many, a
	// further member's first part is refused.
	MaxMemberAssemblies = 4
)

// CommitAssembly is one commit in progress.
type CommitAssembly struct {
	Sender []byte   `json:"sender"` // the signing key of the part's sender
	Hash   []byte   `json:"hash"`   // the commit hash every part names
	Parts  [][]byte `json:"parts"`  // by index; nil until read
	First  int64    `json:"first"`  // Unix seconds of the first part read
	Warned bool     `json:"warned,omitempty"`
	Admin  bool     `json:"admin,omitempty"` // the sender is an admin of the epoch
	// Own: the reader's own commit, whose parts it cannot open; each
	// part read back is marked by a placeholder (AddOwn).
	Own bool `json:"own,omitempty"`
}

// Have returns how many parts are in.
func (a *CommitAssembly) Have() int {
	n := 0
	for _, p := range a.Parts {
		if p != nil {
			n++
		}
	}
	return n
}

// CommitAssembler holds the commits in progress, oldest first.
type CommitAssembler struct {
	List []CommitAssembly `json:"list,omitempty"`
}

// AddResult is what adding a part did.
type AddResult int

// Outcomes of CommitAssembler.Add.
const (
	PartKept     AddResult = iota // stored; the commit is not complete yet
	PartDropped                   // refused: out of range, or differs from the part read before
	PartComplete                  // the commit is complete and matches its hash
	PartCorrupt                   // the commit is complete but its bytes do not hash to its name; dropped
)

// Add records part g from sender, read at Unix time now; maxParts is the
// most parts this sender may send (an admin's commit, or a member's own
// update) and admin whether it is an admin of the epoch. With
// PartComplete it returns the whole commit and forgets it.
func (a *CommitAssembler) Add(sender crypto.SignPublic, g *GroupEnvelope, now int64, maxParts int, admin bool) (AddResult, []byte) {
	if g.Type != GenvCommit || int(g.Parts) > maxParts || g.Part >= g.Parts {
		return PartDropped, nil
	}
	s, i := a.open(sender, g.Hash, g.Parts, now, admin, false)
	if s == nil {
		return PartDropped, nil
	}
	if old := s.Parts[g.Part]; old != nil {
		if !bytes.Equal(old, g.Bytes) {
			return PartDropped, nil
		}
		return PartKept, nil // a repeat
	}
	s.Parts[g.Part] = bytes.Clone(g.Bytes)
	if s.Have() < len(s.Parts) {
		return PartKept, nil
	}
	whole := bytes.Join(s.Parts, nil)
	a.List = append(a.List[:i], a.List[i+1:]...)
	if h := CommitHash(whole); !crypto.Equal(h[:], g.Hash[:]) {
		return PartCorrupt, nil
	}
	return PartComplete, whole
}

// ownPart marks a part of the reader's own commit (AddOwn).
var ownPart = []byte{0}

// AddOwn records part part of parts of the reader's own commit named
// hash, read back from the log, as Add would for any other reader: it
// takes or is refused the same slot. PartComplete means every reader has
// assembled the commit; PartDropped that no reader will (the members'
// slots were full), unless a later part opens a slot.
func (a *CommitAssembler) AddOwn(self crypto.SignPublic, hash [crypto.HashSize]byte, part, parts byte, now int64, admin bool) AddResult {
	if part >= parts {
		return PartDropped
	}
	s, i := a.open(self, hash, parts, now, admin, true)
	if s == nil {
		return PartDropped
	}
	if s.Parts[part] == nil {
		s.Parts[part] = ownPart
	}
	if s.Have() < len(s.Parts) {
		return PartKept
	}
	a.List = append(a.List[:i], a.List[i+1:]...)
	return PartComplete
}

// open returns the assembly of sender's commit named h, starting it if
// need be, and its index; nil when the sender may not start one now or
// its parts disagree on the count.
func (a *CommitAssembler) open(sender crypto.SignPublic, h [crypto.HashSize]byte, parts byte, now int64, admin, own bool) (*CommitAssembly, int) {
	i := a.find(sender, h)
	if i < 0 {
		if !a.evict(sender, admin) {
			return nil, -1
		}
		a.List = append(a.List, CommitAssembly{Sender: sender[:], Hash: bytes.Clone(h[:]), Parts: make([][]byte, parts), First: now, Admin: admin, Own: own})
		i = len(a.List) - 1
	}
	s := &a.List[i]
	if len(s.Parts) != int(parts) {
		return nil, -1 // the sender signed parts that disagree on the count
	}
	return s, i
}

func (a *CommitAssembler) find(sender crypto.SignPublic, h [crypto.HashSize]byte) int {
	for i := range a.List {
		if bytes.Equal(a.List[i].Sender, sender[:]) && bytes.Equal(a.List[i].Hash, h[:]) {
			return i
		}
	}
	return -1
}

// evict makes room for one more assembly of sender, an admin of the
// epoch or not, by evicting that sender's own oldest when it has all it
// may; it reports false when the sender may not start one: the members'
// slots are full with other members' commits. Nobody else's assembly is
// ever evicted.
func (a *CommitAssembler) evict(sender crypto.SignPublic, admin bool) bool {
	n, oldest, members := 0, -1, 0
	for i := range a.List {
		if !a.List[i].Admin {
			members++
		}
		if bytes.Equal(a.List[i].Sender, sender[:]) {
			if oldest < 0 {
				oldest = i
			}
			n++
		}
	}
	limit := MaxAssembliesPerSender
	if !admin {
		limit = MaxAssembliesPerMember
	}
	if n >= limit {
		a.List = append(a.List[:oldest], a.List[oldest+1:]...)
		return true
	}
	return admin || members < MaxMemberAssemblies
}

// Reset forgets every commit in progress (the epoch moved on).
func (a *CommitAssembler) Reset() { a.List = nil }
