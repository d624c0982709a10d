package format

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"

	"veil/crypto"
	"veil/ratchet"
)

// Commit is one roster change for the next epoch (spec/groups.md §6.3).
type Commit struct {
	// Version is 3 for a commit whose new roster names the group's
	// relays (spec/groups.md §3.5), else 2 (0 means 2).
	Version byte
	Epoch   uint64 // the new epoch
	OldHash [crypto.HashSize]byte
	Change  byte
	Operand []byte
	NewHash [crypto.HashSize]byte
	Sealed  []byte // the new epoch secret sealed to the new roster
	// SecretHash commits to the new epoch secret (SecretCommitment): a
	// share that opens to another secret is caught at once.
	SecretHash [crypto.HashSize]byte
	// LogID is the new log's ID sealed under the new epoch; in version 3,
	// the count of logs then each one's ID sealed so (SealLogIDs).
	LogID  []byte
	Signer crypto.SignPublic
	Sig    [crypto.SignatureSize]byte
}

// Commit sizes, spec/groups.md §6.3 and §11.
const (
	// commitFixedSize is a commit without its operand and sealed list:
	// version, epoch, old hash, change, operand length, new hash, sealed
	// length, secret hash, sealed log ID, signer, signature.
	commitFixedSize = 1 + 8 + crypto.HashSize + 1 + 2 + crypto.HashSize + 4 + crypto.HashSize +
		ratchet.SealedLogIDSize + crypto.KeySize + crypto.SignatureSize
	// maxOperandSize is the largest operand, an update's.
	maxOperandSize = 2 + MaxMemberSize
	// MaxCommitSize is the largest commit: the largest operand and the
	// epoch secret sealed to the largest roster.
	MaxCommitSize = commitFixedSize + maxOperandSize + ratchet.MaxSealedEpochSize

	// SealedLogsExtra is what a version-3 commit on two relays adds to
	// the sealed log ID of version 2: the count and a second sealed ID.
	SealedLogsExtra = 1 + (MaxGroupRelays-1)*ratchet.SealedLogIDSize
	// maxSettingsV3 is the largest version-3 settings operand.
	maxSettingsV3 = 1 + MaxGroupName + 4 + 8 + 1 + MaxGroupRelays*(2+MaxRelayAddress)
	// MaxCommitSizeV3 is the largest version-3 commit.
	MaxCommitSizeV3 = commitFixedSize + SealedLogsExtra + max(maxOperandSize, maxSettingsV3) + ratchet.MaxSealedEpochSize
)

// version is c's version: 2 unless set.
func (c *Commit) version() byte {
	if c.Version == 0 {
		return groupRecordVersion
	}
	return c.Version
}

// CommitHash names a commit by its encoding (spec/groups.md §6.3): commit
// parts and the confirmation value refer to it.
func CommitHash(commitBytes []byte) [crypto.HashSize]byte {
	return crypto.Hash([]byte(labelGroupCommitHash), commitBytes)
}

// signedPart returns the commit's bytes before the signature.
func (c *Commit) signedPart() []byte {
	b := make([]byte, 0, commitFixedSize+len(c.Operand)+len(c.Sealed))
	b = append(b, c.version())
	b = binary.BigEndian.AppendUint64(b, c.Epoch)
	b = append(b, c.OldHash[:]...)
	b = append(b, c.Change)
	b = binary.BigEndian.AppendUint16(b, uint16(len(c.Operand)))
	b = append(b, c.Operand...)
	b = append(b, c.NewHash[:]...)
	b = binary.BigEndian.AppendUint32(b, uint32(len(c.Sealed)))
	b = append(b, c.Sealed...)
	b = append(b, c.SecretHash[:]...)
	b = append(b, c.LogID...)
	return append(b, c.Signer[:]...)
}

// Marshal encodes the signed commit.
func (c *Commit) Marshal() []byte { return append(c.signedPart(), c.Sig[:]...) }

// commitSigInput is what the signer signs: the label, the old epoch's
// context and the commit without its signature.
func commitSigInput(oldCtx [ratchet.EpochContextSize]byte, signed []byte) []byte {
	b := make([]byte, 0, len(labelGroupCommit)+len(oldCtx)+len(signed))
	b = append(b, labelGroupCommit...)
	b = append(b, oldCtx[:]...)
	return append(b, signed...)
}

// Sign signs c with a group signing key of the old epoch: an admin's, or
// for an update the updating member's old key.
func (c *Commit) Sign(key crypto.SignPrivate, oldCtx [ratchet.EpochContextSize]byte) {
	c.Signer = key.Public()
	copy(c.Sig[:], key.Sign(commitSigInput(oldCtx, c.signedPart())))
}

// ParseCommit decodes a commit strictly; it does not verify it.
func ParseCommit(b []byte) (*Commit, error) {
	if len(b) > MaxCommitSizeV3 || (len(b) > MaxCommitSize && len(b) > 0 && b[0] != groupRecordV3) {
		return nil, fmt.Errorf("%w: commit too long", errGroupRecord)
	}
	r := newRecordReader(b)
	v := r.u8()
	if (v != groupRecordVersion && v != groupRecordV3) || !r.ok {
		return nil, fmt.Errorf("%w: unknown version", errGroupRecord)
	}
	c := &Commit{Version: v}
	c.Epoch = r.u64()
	copy(c.OldHash[:], r.take(crypto.HashSize))
	c.Change = r.u8()
	c.Operand = bytes.Clone(r.take(r.u16()))
	copy(c.NewHash[:], r.take(crypto.HashSize))
	n := r.u32()
	if n > ratchet.MaxSealedEpochSize {
		return nil, fmt.Errorf("%w: sealed list too long", errGroupRecord)
	}
	c.Sealed = bytes.Clone(r.take(int(n)))
	copy(c.SecretHash[:], r.take(crypto.HashSize))
	if v == groupRecordV3 {
		// The count, then that many sealed IDs (spec/groups.md §6.3).
		n := int(r.u8())
		if n < 1 || n > MaxGroupRelays {
			return nil, fmt.Errorf("%w: log count", errGroupRecord)
		}
		c.LogID = append([]byte{byte(n)}, r.take(n*ratchet.SealedLogIDSize)...)
	} else {
		c.LogID = bytes.Clone(r.take(ratchet.SealedLogIDSize))
	}
	copy(c.Signer[:], r.take(crypto.KeySize))
	copy(c.Sig[:], r.take(crypto.SignatureSize))
	if !r.done() {
		return nil, fmt.Errorf("%w: truncated or trailing bytes", errGroupRecord)
	}
	if c.Change < ChangeAdd || c.Change > ChangeUpdate {
		return nil, fmt.Errorf("%w: unknown change %d", errGroupRecord, c.Change)
	}
	return c, nil
}

// apply returns the roster that c's change makes of old, for epoch
// old.Epoch+1. It checks the change is well-formed and allowed; it does not
// check the signer or the signature (Verify does).
func (c *Commit) apply(old *Roster) (*Roster, error) {
	next := old.Clone()
	next.Epoch = old.Epoch + 1
	r := newRecordReader(c.Operand)
	switch c.Change {
	case ChangeAdd:
		m, err := r.member()
		if err != nil {
			return nil, err
		}
		if m.Role != RoleMember {
			return nil, fmt.Errorf("%w: a new member must join as a member", errGroupRecord)
		}
		if len(next.Members) >= ratchet.MaxGroupMembers {
			return nil, fmt.Errorf("client: the group is full (%d members)", ratchet.MaxGroupMembers)
		}
		next.Members = append(next.Members, m)
	case ChangeRemove, ChangeLeave, ChangePromote:
		i := r.u16()
		if !r.ok || i >= len(old.Members) {
			return nil, fmt.Errorf("%w: no member %d", errGroupRecord, i)
		}
		if c.Change == ChangePromote {
			if next.Members[i].Role == RoleAdmin {
				return nil, fmt.Errorf("%w: already an admin", errGroupRecord)
			}
			next.Members[i].Role = RoleAdmin
		} else {
			if len(old.Members) == 1 {
				return nil, fmt.Errorf("%w: the last member cannot go", errGroupRecord)
			}
			next.Members = append(next.Members[:i], next.Members[i+1:]...)
		}
	case ChangeSettings:
		s, err := r.settings(c.version())
		if err != nil {
			return nil, err
		}
		next.Settings = s
	case ChangeUpdate:
		i := r.u16()
		if !r.ok || i >= len(old.Members) {
			return nil, fmt.Errorf("%w: no member %d", errGroupRecord, i)
		}
		m, err := r.member()
		if err != nil {
			return nil, err
		}
		o := &old.Members[i]
		if m.Role != o.Role || m.Nick != o.Nick {
			return nil, fmt.Errorf("%w: an update keeps the role and nickname", errGroupRecord)
		}
		if m.Sign == o.Sign || m.Seal == o.Seal || m.Kem.Raw() == o.Kem.Raw() {
			return nil, fmt.Errorf("%w: an update replaces all three keys", errGroupRecord)
		}
		next.Members[i] = m
	}
	if !r.done() {
		return nil, fmt.Errorf("%w: operand length", errGroupRecord)
	}
	if err := next.checkUnique(); err != nil {
		return nil, err
	}
	// A commit's version is its new roster's: a group that names its
	// relays keeps naming them (spec/groups.md §3.5).
	if next.Settings.version() != c.version() {
		return nil, fmt.Errorf("%w: a version-%d commit cannot make a version-%d roster", errGroupRecord, c.version(), next.Settings.version())
	}
	return next, nil
}

// checkSigner checks that c's signer may make its change in old: the
// member an update names, or an admin for every other change.
func (c *Commit) checkSigner(old *Roster) error {
	if c.Change == ChangeUpdate {
		r := newRecordReader(c.Operand)
		i := r.u16()
		if !r.ok || i >= len(old.Members) || old.Members[i].Sign != c.Signer {
			return errors.New("client: group update not signed by the member it updates")
		}
		return nil
	}
	i := old.Index(c.Signer)
	if i < 0 || old.Members[i].Role != RoleAdmin {
		return errors.New("client: group commit not signed by an admin")
	}
	return nil
}

// Verify checks c against the current roster old of epoch context oldCtx
// (spec/groups.md §3.4, §6.3) and returns the next epoch's roster: the
// commit is for the next epoch, names old's hash, is signed by a member of
// old allowed to make its change, its change applied to old gives the
// roster whose hash it names, and its sealed list has one entry per member
// of that roster.
func (c *Commit) Verify(old *Roster, oldCtx [ratchet.EpochContextSize]byte) (*Roster, error) {
	if c.Epoch != old.Epoch+1 {
		return nil, fmt.Errorf("client: group commit for epoch %d, expected %d", c.Epoch, old.Epoch+1)
	}
	h, err := old.hash()
	if err != nil {
		return nil, err
	}
	if !crypto.Equal(h[:], c.OldHash[:]) {
		return nil, errors.New("client: group commit names another roster")
	}
	if err := c.checkSigner(old); err != nil {
		return nil, err
	}
	if !crypto.Verify(c.Signer, commitSigInput(oldCtx, c.signedPart()), c.Sig[:]) {
		return nil, errors.New("client: group commit signature does not verify")
	}
	next, err := c.apply(old)
	if err != nil {
		return nil, err
	}
	nh, err := next.hash()
	if err != nil {
		return nil, err
	}
	if !crypto.Equal(nh[:], c.NewHash[:]) {
		return nil, errors.New("client: group commit's new roster does not match its hash")
	}
	if next.Admins() == 0 {
		return nil, errors.New("client: group commit leaves no admin")
	}
	if len(c.Sealed) != ratchet.SealedEpochSize(len(next.Members)) {
		return nil, errors.New("client: group commit's sealed list does not fit its roster")
	}
	if c.version() == groupRecordV3 && sealedLogCount(c.LogID) != len(next.Settings.Relays) {
		return nil, errors.New("client: group commit's logs do not match the group's relays")
	}
	return next, nil
}

// MakeCommit builds the unsigned commit of a change to old and returns it
// with the roster it makes. sealed and logID are filled in by the caller
// once the new epoch's secret and log exist; they are not part of the
// Roster hash.
func MakeCommit(old *Roster, change byte, operand []byte) (*Commit, *Roster, error) {
	c := &Commit{Epoch: old.Epoch + 1, Change: change, Operand: operand, Version: old.Settings.version()}
	if change == ChangeSettings && len(operand) > 0 {
		// A settings change may name relays where old named none.
		if s, err := newRecordReader(operand).settings(groupRecordV3); err == nil && len(s.Relays) > 0 {
			c.Version = groupRecordV3
		}
	}
	var err error
	if c.OldHash, err = old.hash(); err != nil {
		return nil, nil, err
	}
	next, err := c.apply(old)
	if err != nil {
		return nil, nil, err
	}
	if next.Admins() == 0 {
		return nil, nil, errors.New("client: the group would have no admin left: promote someone first")
	}
	if c.NewHash, err = next.hash(); err != nil {
		return nil, nil, err
	}
	return c, next, nil
}

// SecretCommitment is the commitment to epoch secret es of the epoch
// with context ctx that a commit carries (spec/groups.md §6.3):
// SHA-256("veil/group/v2/secret-commit" || ctx || es).
func SecretCommitment(es *crypto.SymKey, ctx [ratchet.EpochContextSize]byte) [crypto.HashSize]byte {
	return crypto.Hash([]byte(labelSecretCommit), ctx[:], es[:])
}

// labelSecretCommit labels SecretCommitment (spec/groups.md §2).
const labelSecretCommit = "veil/group/v2/secret-commit"

// CommitSecret sets c's commitment to es, the secret of the epoch c makes
// of roster next.
func (c *Commit) CommitSecret(es *crypto.SymKey, next *Roster) {
	c.SecretHash = SecretCommitment(es, ratchet.EpochContext(next.GroupID, next.Epoch))
}

// OpensTo reports whether es, opened from c's sealed list, is the secret
// c commits to, for the epoch c makes of roster next.
func (c *Commit) OpensTo(es *crypto.SymKey, next *Roster) bool {
	h := SecretCommitment(es, ratchet.EpochContext(next.GroupID, next.Epoch))
	return crypto.Equal(h[:], c.SecretHash[:])
}

// IndexOperand is the operand of a remove, leave or promote change.
func IndexOperand(i int) []byte { return binary.BigEndian.AppendUint16(nil, uint16(i)) }

// UpdateOperand is the operand of an update change: the member's index and
// its new entry (new keys, the same role and nickname).
func UpdateOperand(i int, m *Member) ([]byte, error) { return m.AppendTo(IndexOperand(i)) }

// OperandIndex is the member index of a verified remove, leave, promote or
// update change's operand.
func OperandIndex(operand []byte) int { return newRecordReader(operand).u16() }

// SettingsOperand is the operand of a settings change: the whole new
// settings record (spec/groups.md §6.3).
func SettingsOperand(s Settings) ([]byte, error) { return s.appendTo(nil) }
