package format

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"unicode/utf8"

	"veil/crypto"
	"veil/ratchet"
)

// Group rosters and commits (spec/groups.md §3.3, §3.4, §6.3). Pure data:
// encode, decode, sign, verify and apply; no I/O.

// Group labels, spec/groups.md §2.
const (
	labelGroupRoster     = "veil/group/v2/roster"
	labelGroupCommit     = "veil/group/v2/commit"
	labelGroupCommitHash = "veil/group/v2/commit-hash"
)

// Group record limits, spec/groups.md §3.3 and §11.
const (
	groupRecordVersion = 2
	// groupRecordV3 is the version of a roster, commit and welcome of a
	// group whose settings name its relays (spec/groups.md §3.5).
	groupRecordV3 = 3
	MaxGroupNick  = 32
	MaxGroupName  = 64

	// memberFixedSize is a roster entry without its nickname: S, P, Q,
	// role and nickname length.
	memberFixedSize = 2*crypto.KeySize + crypto.KEM768PublicSize + 2
	// MaxMemberSize is the largest roster entry (spec/groups.md §3.3).
	MaxMemberSize = memberFixedSize + MaxGroupNick
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
	ChangeUpdate   byte = 6
)

// errGroupRecord is wrapped by every roster and commit decoding error.
var errGroupRecord = errors.New("client: malformed group record")

// Member is one roster entry.
type Member struct {
	Sign crypto.SignPublic   // S: the member's per-group signing key
	Seal crypto.DHPublic     // P: the member's per-group X25519 sealing key
	Kem  crypto.KEM768Public // Q: the member's per-group ML-KEM-768 sealing key
	Role byte
	Nick string // as the member chose it; sanitise before display
}

// Settings are the group's settings.
type Settings struct {
	Name     string
	Timer    uint32 // disappearing timer in seconds, 0 = off
	Deadline uint64 // Unix seconds, 0 = none
	// Relays are the group's relays, the primary first (spec/groups.md
	// §3.5); empty in a version-2 record, whose relay is the one of the
	// invite. Non-empty makes every record that holds them version 3.
	Relays []string
}

// version is the record version settings s are encoded in.
func (s *Settings) version() byte {
	if len(s.Relays) > 0 {
		return groupRecordV3
	}
	return groupRecordVersion
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
	if !m.Kem.Valid() {
		return nil, fmt.Errorf("%w: a member without an ML-KEM key", errGroupRecord)
	}
	b = append(b, m.Sign[:]...)
	b = append(b, m.Seal[:]...)
	b = append(b, m.Kem.Bytes()...)
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
	b = binary.BigEndian.AppendUint64(b, s.Deadline)
	if len(s.Relays) == 0 {
		return b, nil
	}
	if err := CheckGroupRelays(s.Relays); err != nil {
		return nil, err
	}
	b = append(b, byte(len(s.Relays)))
	for _, a := range s.Relays {
		b = binary.BigEndian.AppendUint16(b, uint16(len(a)))
		b = append(b, a...)
	}
	return b, nil
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
	b := []byte{r.Settings.version()}
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

func (r *recordReader) member() (Member, error) { return r.memberOf(crypto.ParseKEM768Public) }

// memberOf reads a roster entry, taking its ML-KEM key with kem.
func (r *recordReader) memberOf(kem func([]byte) (crypto.KEM768Public, error)) (Member, error) {
	var m Member
	copy(m.Sign[:], r.take(crypto.KeySize))
	copy(m.Seal[:], r.take(crypto.KeySize))
	q := r.take(crypto.KEM768PublicSize)
	m.Role = r.u8()
	m.Nick = string(r.take(int(r.u8())))
	if !r.ok {
		return m, fmt.Errorf("%w: truncated member", errGroupRecord)
	}
	var err error
	if m.Kem, err = kem(q); err != nil {
		return m, fmt.Errorf("%w: bad ML-KEM key", errGroupRecord)
	}
	if m.Role != RoleMember && m.Role != RoleAdmin {
		return m, fmt.Errorf("%w: role %d", errGroupRecord, m.Role)
	}
	if CheckGroupNick(m.Nick) != nil {
		return m, fmt.Errorf("%w: bad nickname", errGroupRecord)
	}
	return m, nil
}

// settings reads the settings of a record of version v.
func (r *recordReader) settings(v byte) (Settings, error) {
	var s Settings
	s.Name = string(r.take(int(r.u8())))
	s.Timer = r.u32()
	s.Deadline = r.u64()
	if v == groupRecordV3 {
		n := int(r.u8())
		if !r.ok || n < 1 || n > MaxGroupRelays {
			return s, fmt.Errorf("%w: relay count", errGroupRecord)
		}
		s.Relays = make([]string, 0, n)
		for range n {
			s.Relays = append(s.Relays, string(r.take(r.u16())))
		}
	}
	if !r.ok {
		return s, fmt.Errorf("%w: truncated settings", errGroupRecord)
	}
	if len(s.Name) > MaxGroupName || !utf8.ValidString(s.Name) {
		return s, fmt.Errorf("%w: bad group name", errGroupRecord)
	}
	if v == groupRecordV3 {
		if err := CheckGroupRelays(s.Relays); err != nil {
			return s, fmt.Errorf("%w: %w", errGroupRecord, err)
		}
	}
	return s, nil
}

// ParseRoster decodes a roster record strictly: exact length, valid
// nicknames, roles and ML-KEM keys, no S, P or Q twice.
func ParseRoster(b []byte) (*Roster, error) { return parseRoster(b, crypto.ParseKEM768Public) }

// LoadRoster decodes a roster record read back from the member's own
// vault, where it was stored after ParseRoster or a verified commit: as
// strictly, but its ML-KEM keys are unpacked only when a commit seals to
// them (crypto.LoadKEM768Public).
func LoadRoster(b []byte) (*Roster, error) { return parseRoster(b, crypto.LoadKEM768Public) }

func parseRoster(b []byte, kem func([]byte) (crypto.KEM768Public, error)) (*Roster, error) {
	r := newRecordReader(b)
	v := r.u8()
	if (v != groupRecordVersion && v != groupRecordV3) || !r.ok {
		return nil, fmt.Errorf("%w: unknown version", errGroupRecord)
	}
	out := &Roster{}
	copy(out.GroupID[:], r.take(ratchet.GroupIDSize))
	out.Epoch = r.u64()
	var err error
	if out.Settings, err = r.settings(v); err != nil {
		return nil, err
	}
	n := r.u16()
	if !r.ok || n == 0 || n > ratchet.MaxGroupMembers {
		return nil, fmt.Errorf("%w: member count", errGroupRecord)
	}
	out.Members = make([]Member, 0, min(n, len(r.b)/(memberFixedSize+1)+1))
	for range n {
		m, err := r.memberOf(kem)
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

// checkUnique refuses a roster with any of S, P or Q twice.
func (r *Roster) checkUnique() error {
	signs := make(map[crypto.SignPublic]bool, len(r.Members))
	seals := make(map[crypto.DHPublic]bool, len(r.Members))
	kems := make(map[[crypto.KEM768PublicSize]byte]bool, len(r.Members))
	for _, m := range r.Members {
		q := m.Kem.Raw()
		if signs[m.Sign] || seals[m.Seal] || kems[q] {
			return fmt.Errorf("%w: a key is twice in the roster", errGroupRecord)
		}
		signs[m.Sign], seals[m.Seal], kems[q] = true, true, true
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
	c.Settings.Relays = slices.Clone(r.Settings.Relays)
	return &c
}
