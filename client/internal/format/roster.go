package format

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"unicode/utf8"

	"veil/crypto"
	"veil/ratchet"
)

// Group rosters and commits (spec/groups.md §3.3, §3.4, §6.3). Pure data:
// encode, decode, sign, verify and apply; no I/O.

// Group labels, spec/groups.md §2.
const (
	labelGroupRoster = "veil/group/v1/roster"
	labelGroupCommit = "veil/group/v1/commit"
)

// Group record limits, spec/groups.md §3.3 and §11.
const (
	groupRecordVersion = 1
	MaxGroupNick       = 32
	MaxGroupName       = 64
)

// Member roles, spec/groups.md §3.3.
const (
	RoleMember byte = 1
	RoleAdmin  byte = 2
)

// Commit changes, spec/groups.md §6.3.
const (
	ChangeAdd      byte = 1
	ChangeRemove   byte = 2
	ChangeLeave    byte = 3
	ChangePromote  byte = 4
	ChangeSettings byte = 5
)

// errGroupRecord is wrapped by every roster and commit decoding error.
var errGroupRecord = errors.New("client: malformed group record")

// Member is one roster entry.
type Member struct {
	Sign crypto.SignPublic // the member's per-group signing key
	Seal crypto.DHPublic   // the member's per-group sealing key
	Role byte
	Nick string // as the member chose it; sanitise before display
}

// Settings are the group's settings.
type Settings struct {
	Name     string
	Timer    uint32 // disappearing timer in seconds, 0 = off
	Deadline uint64 // Unix seconds, 0 = none
}

// Roster is one epoch's roster record.
type Roster struct {
	GroupID  [ratchet.GroupIDSize]byte
	Epoch    uint64
	Settings Settings
	Members  []Member
}

// AppendTo appends m's roster entry to b.
func (m *Member) AppendTo(b []byte) ([]byte, error) {
	if err := CheckGroupNick(m.Nick); err != nil {
		return nil, err
	}
	if m.Role != RoleMember && m.Role != RoleAdmin {
		return nil, fmt.Errorf("%w: role %d", errGroupRecord, m.Role)
	}
	b = append(b, m.Sign[:]...)
	b = append(b, m.Seal[:]...)
	b = append(b, m.Role, byte(len(m.Nick)))
	return append(b, m.Nick...), nil
}

func (s *Settings) appendTo(b []byte) ([]byte, error) {
	if len(s.Name) > MaxGroupName || !utf8.ValidString(s.Name) {
		return nil, fmt.Errorf("client: a group name is at most %d bytes of UTF-8", MaxGroupName)
	}
	b = append(b, byte(len(s.Name)))
	b = append(b, s.Name...)
	b = binary.BigEndian.AppendUint32(b, s.Timer)
	return binary.BigEndian.AppendUint64(b, s.Deadline), nil
}

// CheckGroupNick refuses a group nickname out of range.
func CheckGroupNick(n string) error {
	if len(n) == 0 || len(n) > MaxGroupNick || !utf8.ValidString(n) {
		return fmt.Errorf("client: a group nickname is 1 to %d bytes of UTF-8", MaxGroupNick)
	}
	return nil
}

// Marshal encodes the roster record (spec/groups.md §3.3).
func (r *Roster) Marshal() ([]byte, error) {
	if len(r.Members) == 0 || len(r.Members) > ratchet.MaxGroupMembers {
		return nil, fmt.Errorf("client: a group has 1 to %d members", ratchet.MaxGroupMembers)
	}
	b := []byte{groupRecordVersion}
	b = append(b, r.GroupID[:]...)
	b = binary.BigEndian.AppendUint64(b, r.Epoch)
	b, err := r.Settings.appendTo(b)
	if err != nil {
		return nil, err
	}
	b = binary.BigEndian.AppendUint16(b, uint16(len(r.Members)))
	for i := range r.Members {
		if b, err = r.Members[i].AppendTo(b); err != nil {
			return nil, err
		}
	}
	return b, nil
}

// hash is the roster record's hash (spec/groups.md §3.3).
func (r *Roster) hash() ([crypto.HashSize]byte, error) {
	b, err := r.Marshal()
	if err != nil {
		return [crypto.HashSize]byte{}, err
	}
	return crypto.Hash([]byte(labelGroupRoster), b), nil
}

// recordReader takes fixed-size fields off a record; ok turns false at the
// first short read and stays false.
type recordReader struct {
	b  []byte
	ok bool
}

func (r *recordReader) take(n int) []byte {
	if !r.ok || n < 0 || len(r.b) < n {
		r.ok = false
		return make([]byte, max(n, 0))
	}
	v := r.b[:n]
	r.b = r.b[n:]
	return v
}

func (r *recordReader) u8() byte             { return r.take(1)[0] }
func (r *recordReader) u16() int             { return int(binary.BigEndian.Uint16(r.take(2))) }
func (r *recordReader) u32() uint32          { return binary.BigEndian.Uint32(r.take(4)) }
func (r *recordReader) u64() uint64          { return binary.BigEndian.Uint64(r.take(8)) }
func (r *recordReader) done() bool           { return r.ok && len(r.b) == 0 }
func newRecordReader(b []byte) *recordReader { return &recordReader{b: b, ok: true} }

func (r *recordReader) member() (Member, error) {
	var m Member
	copy(m.Sign[:], r.take(crypto.KeySize))
	copy(m.Seal[:], r.take(crypto.KeySize))
	m.Role = r.u8()
	m.Nick = string(r.take(int(r.u8())))
	if !r.ok {
		return m, fmt.Errorf("%w: truncated member", errGroupRecord)
	}
	if m.Role != RoleMember && m.Role != RoleAdmin {
		return m, fmt.Errorf("%w: role %d", errGroupRecord, m.Role)
	}
	if CheckGroupNick(m.Nick) != nil {
		return m, fmt.Errorf("%w: bad nickname", errGroupRecord)
	}
	return m, nil
}

func (r *recordReader) settings() (Settings, error) {
	var s Settings
	s.Name = string(r.take(int(r.u8())))
	s.Timer = r.u32()
	s.Deadline = r.u64()
	if !r.ok {
		return s, fmt.Errorf("%w: truncated settings", errGroupRecord)
	}
	if len(s.Name) > MaxGroupName || !utf8.ValidString(s.Name) {
		return s, fmt.Errorf("%w: bad group name", errGroupRecord)
	}
	return s, nil
}

// ParseRoster decodes a roster record strictly: exact length, valid
// nicknames and roles, no signing or sealing key twice.
func ParseRoster(b []byte) (*Roster, error) {
	r := newRecordReader(b)
	if r.u8() != groupRecordVersion || !r.ok {
		return nil, fmt.Errorf("%w: unknown version", errGroupRecord)
	}
	out := &Roster{}
	copy(out.GroupID[:], r.take(ratchet.GroupIDSize))
	out.Epoch = r.u64()
	var err error
	if out.Settings, err = r.settings(); err != nil {
		return nil, err
	}
	n := r.u16()
	if !r.ok || n == 0 || n > ratchet.MaxGroupMembers {
		return nil, fmt.Errorf("%w: member count", errGroupRecord)
	}
	out.Members = make([]Member, 0, min(n, len(r.b)/(2*crypto.KeySize+3)+1))
	for range n {
		m, err := r.member()
		if err != nil {
			return nil, err
		}
		out.Members = append(out.Members, m)
	}
	if !r.done() {
		return nil, fmt.Errorf("%w: trailing bytes", errGroupRecord)
	}
	if err := out.checkUnique(); err != nil {
		return nil, err
	}
	return out, nil
}

// checkUnique refuses a roster with a signing or sealing key twice.
func (r *Roster) checkUnique() error {
	signs := make(map[crypto.SignPublic]bool, len(r.Members))
	seals := make(map[crypto.DHPublic]bool, len(r.Members))
	for _, m := range r.Members {
		if signs[m.Sign] || seals[m.Seal] {
			return fmt.Errorf("%w: a key is twice in the roster", errGroupRecord)
		}
		signs[m.Sign], seals[m.Seal] = true, true
	}
	return nil
}

// Index returns the roster index of the member with signing key k, or -1.
func (r *Roster) Index(k crypto.SignPublic) int {
	for i := range r.Members {
		if r.Members[i].Sign == k {
			return i
		}
	}
	return -1
}

// Admins returns how many admins the roster has.
func (r *Roster) Admins() int {
	n := 0
	for _, m := range r.Members {
		if m.Role == RoleAdmin {
			n++
		}
	}
	return n
}

// Clone returns a copy of r that shares no member slice with it.
func (r *Roster) Clone() *Roster {
	c := *r
	c.Members = append([]Member(nil), r.Members...)
	return &c
}

// Commit is one roster change for the next epoch (spec/groups.md §6.3).
type Commit struct {
	Epoch   uint64 // the new epoch
	OldHash [crypto.HashSize]byte
	Change  byte
	Operand []byte
	NewHash [crypto.HashSize]byte
	Sealed  []byte // the new epoch secret sealed to the new roster
	LogID   []byte // the new log's ID sealed under the new epoch
	Signer  crypto.SignPublic
	Sig     [crypto.SignatureSize]byte
}

// maxCommitSize bounds a commit: the largest sealed list, an operand and
// the fixed fields (spec/groups.md §11: at most 8 parts).
const maxCommitSize = 8 * 15000

// signedPart returns the commit's bytes before the signature.
func (c *Commit) signedPart() []byte {
	b := []byte{groupRecordVersion}
	b = binary.BigEndian.AppendUint64(b, c.Epoch)
	b = append(b, c.OldHash[:]...)
	b = append(b, c.Change)
	b = binary.BigEndian.AppendUint16(b, uint16(len(c.Operand)))
	b = append(b, c.Operand...)
	b = append(b, c.NewHash[:]...)
	b = binary.BigEndian.AppendUint32(b, uint32(len(c.Sealed)))
	b = append(b, c.Sealed...)
	b = append(b, c.LogID...)
	return append(b, c.Signer[:]...)
}

// Marshal encodes the signed commit.
func (c *Commit) Marshal() []byte { return append(c.signedPart(), c.Sig[:]...) }

// commitSigInput is what an admin signs: the label, the old epoch's
// context and the commit without its signature.
func commitSigInput(oldCtx [ratchet.EpochContextSize]byte, signed []byte) []byte {
	b := make([]byte, 0, len(labelGroupCommit)+len(oldCtx)+len(signed))
	b = append(b, labelGroupCommit...)
	b = append(b, oldCtx[:]...)
	return append(b, signed...)
}

// Sign signs c with an admin's group signing key in the old epoch.
func (c *Commit) Sign(key crypto.SignPrivate, oldCtx [ratchet.EpochContextSize]byte) {
	c.Signer = key.Public()
	copy(c.Sig[:], key.Sign(commitSigInput(oldCtx, c.signedPart())))
}

// ParseCommit decodes a commit strictly; it does not verify it.
func ParseCommit(b []byte) (*Commit, error) {
	if len(b) > maxCommitSize {
		return nil, fmt.Errorf("%w: commit too long", errGroupRecord)
	}
	r := newRecordReader(b)
	if r.u8() != groupRecordVersion || !r.ok {
		return nil, fmt.Errorf("%w: unknown version", errGroupRecord)
	}
	c := &Commit{}
	c.Epoch = r.u64()
	copy(c.OldHash[:], r.take(crypto.HashSize))
	c.Change = r.u8()
	c.Operand = bytes.Clone(r.take(r.u16()))
	copy(c.NewHash[:], r.take(crypto.HashSize))
	n := r.u32()
	if n > maxCommitSize {
		return nil, fmt.Errorf("%w: sealed list too long", errGroupRecord)
	}
	c.Sealed = bytes.Clone(r.take(int(n)))
	c.LogID = bytes.Clone(r.take(ratchet.SealedLogIDSize))
	copy(c.Signer[:], r.take(crypto.KeySize))
	copy(c.Sig[:], r.take(crypto.SignatureSize))
	if !r.done() {
		return nil, fmt.Errorf("%w: truncated or trailing bytes", errGroupRecord)
	}
	if c.Change < ChangeAdd || c.Change > ChangeSettings {
		return nil, fmt.Errorf("%w: unknown change %d", errGroupRecord, c.Change)
	}
	return c, nil
}

// apply returns the roster that c's change makes of old, for epoch
// old.Epoch+1. It checks the change is well-formed and allowed; it does not
// check the signature (verify does).
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
		s, err := r.settings()
		if err != nil {
			return nil, err
		}
		next.Settings = s
	}
	if !r.done() {
		return nil, fmt.Errorf("%w: operand length", errGroupRecord)
	}
	if err := next.checkUnique(); err != nil {
		return nil, err
	}
	return next, nil
}

// Verify checks c against the current roster old of epoch context oldCtx
// (spec/groups.md §3.4) and returns the next epoch's roster: the commit is
// for the next epoch, names old's hash, is signed by an admin of old, and
// its change applied to old gives the roster whose hash it names.
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
	i := old.Index(c.Signer)
	if i < 0 || old.Members[i].Role != RoleAdmin {
		return nil, errors.New("client: group commit not signed by an admin")
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
	return next, nil
}

// MakeCommit builds the unsigned commit of a change to old and returns it
// with the roster it makes. sealed and logID are filled in by the caller
// once the new epoch's secret and log exist; they are not part of the
// Roster hash.
func MakeCommit(old *Roster, change byte, operand []byte) (*Commit, *Roster, error) {
	c := &Commit{Epoch: old.Epoch + 1, Change: change, Operand: operand}
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

// IndexOperand is the operand of a remove, leave or promote change.
func IndexOperand(i int) []byte { return binary.BigEndian.AppendUint16(nil, uint16(i)) }

// SettingsOperand is the operand of a settings change: the whole new
// settings record (spec/groups.md §6.3).
func SettingsOperand(s Settings) ([]byte, error) { return s.appendTo(nil) }

// OperandIndex is the member index of a verified remove, leave or promote
// change's operand.
func OperandIndex(operand []byte) int { return newRecordReader(operand).u16() }
