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

// Assembler limits (spec/groups.md §11).
const (
	// MaxAssembliesPerSender bounds the commits one sender can have in
	// progress; a further one evicts that sender's oldest.
	MaxAssembliesPerSender = 2
	// MaxAssemblies bounds the commits in progress in all; a further one
	// evicts the oldest.
	MaxAssemblies = 16
)

// CommitAssembly is one commit in progress.
type CommitAssembly struct {
	Sender []byte   `json:"sender"` // the signing key of the part's sender
	Hash   []byte   `json:"hash"`   // the commit hash every part names
	Parts  [][]byte `json:"parts"`  // by index; nil until read
	First  int64    `json:"first"`  // Unix seconds of the first part read
	Warned bool     `json:"warned,omitempty"`
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
// update). With PartComplete it returns the whole commit and forgets it.
func (a *CommitAssembler) Add(sender crypto.SignPublic, g *GroupEnvelope, now int64, maxParts int) (AddResult, []byte) {
	if g.Type != GenvCommit || int(g.Parts) > maxParts || g.Part >= g.Parts {
		return PartDropped, nil
	}
	i := a.find(sender, g.Hash)
	if i < 0 {
		a.evict(sender)
		a.List = append(a.List, CommitAssembly{Sender: sender[:], Hash: bytes.Clone(g.Hash[:]), Parts: make([][]byte, g.Parts), First: now})
		i = len(a.List) - 1
	}
	s := &a.List[i]
	if len(s.Parts) != int(g.Parts) {
		return PartDropped, nil // the sender signed parts that disagree on the count
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

func (a *CommitAssembler) find(sender crypto.SignPublic, h [crypto.HashSize]byte) int {
	for i := range a.List {
		if bytes.Equal(a.List[i].Sender, sender[:]) && bytes.Equal(a.List[i].Hash, h[:]) {
			return i
		}
	}
	return -1
}

// evict makes room for one more assembly of sender.
func (a *CommitAssembler) evict(sender crypto.SignPublic) {
	n, oldest := 0, -1
	for i := range a.List {
		if bytes.Equal(a.List[i].Sender, sender[:]) {
			if oldest < 0 {
				oldest = i
			}
			n++
		}
	}
	if n >= MaxAssembliesPerSender {
		a.List = append(a.List[:oldest], a.List[oldest+1:]...)
	}
	if len(a.List) >= MaxAssemblies {
		a.List = a.List[1:]
	}
}

// Reset forgets every commit in progress (the epoch moved on).
func (a *CommitAssembler) Reset() { a.List = nil }
