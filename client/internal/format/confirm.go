package format

import (
	"veil/crypto"
	"veil/ratchet"
)

// Epoch confirmation values (spec/groups.md §6.4): every epoch has one,
// chained from the previous epoch's over the new roster and the commit
// that made it, so two members agree on it only if they walked the same
// chain of commits. Every group message carries a tag of its sender's.

// Confirmation labels, spec/groups.md §2.
const (
	labelConfirm = "veil/group/v2/confirm"
)

// FirstConfirm is the confirmation value of a group's first epoch.
func FirstConfirm(rosterHash [crypto.HashSize]byte) [crypto.HashSize]byte {
	var zero [crypto.HashSize]byte
	return Confirm(zero, rosterHash, zero)
}

// Confirm is the confirmation value of the epoch that commit (by its hash)
// made from the epoch whose value is prev, with roster hash rosterHash.
func Confirm(prev, rosterHash, commitHash [crypto.HashSize]byte) [crypto.HashSize]byte {
	b := make([]byte, 0, 3*crypto.HashSize)
	b = append(b, prev[:]...)
	b = append(b, rosterHash[:]...)
	b = append(b, commitHash[:]...)
	return crypto.Hash([]byte(labelConfirm), b)
}

// ConfTag is the part of a confirmation value a group envelope carries.
func ConfTag(conf [crypto.HashSize]byte) [ConfTagSize]byte {
	var t [ConfTagSize]byte
	copy(t[:], conf[:])
	return t
}

// Hash is the roster record's hash (spec/groups.md §3.3).
func (r *Roster) Hash() ([crypto.HashSize]byte, error) { return r.hash() }

// MaxCommitSizeFor bounds the commit a group of n members can need: the
// sealed list for n+1 members, the largest operand and the fixed fields.
func MaxCommitSizeFor(n int) int {
	return commitFixedSize + maxOperandSize + ratchet.SealedEpochSize(n+1)
}
