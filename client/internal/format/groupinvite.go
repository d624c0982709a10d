package format

import (
	"encoding/binary"
	"errors"
	"fmt"
	"unicode/utf8"

	"veil/crypto"
	"veil/relay/wire"
)

// GroupWelcome is what a new member needs to enter the group: sent by the
// admin over their 1:1 session (spec/groups.md §9.3).
type GroupWelcome struct {
	Roster []byte // the roster record of the epoch the joiner enters
	Secret crypto.SymKey
	LogID  crypto.ID
	Conf   [crypto.HashSize]byte // the epoch's confirmation value
}

func (w GroupWelcome) String() string { return "groupWelcome(redacted)" }

// Group invite labels, spec/groups.md §9.2.
const (
	labelGroupInviteWrite = "veil-client/v1/group invite log write"
	labelGroupInviteRead  = "veil-client/v1/group invite log read"
	labelGroupInviteKey   = "veil-client/v1/group invite key"
	LabelGroupRequestAD   = "veil-client/v1/group join request"
	LabelGroupWelcomeAD   = "veil-client/v1/group welcome"
)

// GroupBlobMarker is the first byte of a group invite blob; a 1:1 blob
// starts with its version, 1 (spec/client.md §3.1).
const GroupBlobMarker = 0x47

// GroupInviteKeys are what a group invite secret derives (spec/groups.md
// §9.2): the exchange log's write and read capabilities and the key that
// seals the join request and the welcome. They must be kept secret.
type GroupInviteKeys struct {
	Write, Read [wire.CapSize]byte
	Key         crypto.SymKey
}

// DeriveGroupInvite derives the exchange keys from an invite secret and
// the relay's fingerprint as salt.
func DeriveGroupInvite(secret, salt []byte) GroupInviteKeys {
	var k GroupInviteKeys
	crypto.HKDF(k.Write[:], secret, salt, labelGroupInviteWrite)
	crypto.HKDF(k.Read[:], secret, salt, labelGroupInviteRead)
	crypto.HKDF(k.Key[:], secret, salt, labelGroupInviteKey)
	return k
}

// GroupBlob is the plaintext of a group invite blob.
type GroupBlob struct {
	LogID    crypto.ID
	Deadline uint64 // the group's deadline, Unix seconds; 0 = none
	Name     string
}

// Marshal encodes b (spec/groups.md §9.1).
func (b *GroupBlob) Marshal() []byte {
	out := []byte{GroupBlobMarker, 1}
	out = append(out, b.LogID[:]...)
	out = binary.BigEndian.AppendUint64(out, b.Deadline)
	out = append(out, byte(len(b.Name)))
	return append(out, b.Name...)
}

// ParseGroupBlob decodes a group invite blob strictly.
func ParseGroupBlob(p []byte) (*GroupBlob, error) {
	r := newRecordReader(p)
	if r.u8() != GroupBlobMarker || r.u8() != 1 {
		return nil, errors.New("client: not a group invite")
	}
	b := &GroupBlob{}
	copy(b.LogID[:], r.take(crypto.IDSize))
	b.Deadline = r.u64()
	b.Name = string(r.take(int(r.u8())))
	if !r.done() || len(b.Name) > MaxGroupName || !utf8.ValidString(b.Name) {
		return nil, errors.New("client: the group invite blob is malformed")
	}
	return b, nil
}

// GroupWelcome encoding: uint32(roster length) || roster || secret || log ID
// || confirmation value.
func (w *GroupWelcome) Marshal() []byte {
	b := binary.BigEndian.AppendUint32(nil, uint32(len(w.Roster)))
	b = append(b, w.Roster...)
	b = append(b, w.Secret[:]...)
	b = append(b, w.LogID[:]...)
	return append(b, w.Conf[:]...)
}

// ParseGroupWelcome decodes a welcome strictly; it does not parse the
// roster inside.
func ParseGroupWelcome(b []byte) (*GroupWelcome, error) {
	r := newRecordReader(b)
	w := &GroupWelcome{}
	n := r.u32()
	if n > maxRosterSize {
		return nil, errors.New("client: malformed group welcome")
	}
	w.Roster = append([]byte(nil), r.take(int(n))...)
	copy(w.Secret[:], r.take(crypto.KeySize))
	copy(w.LogID[:], r.take(crypto.IDSize))
	copy(w.Conf[:], r.take(crypto.HashSize))
	if !r.done() {
		return nil, errors.New("client: malformed group welcome")
	}
	return w, nil
}

// ParseMember parses exactly one roster entry.
func ParseMember(b []byte) (Member, error) {
	r := newRecordReader(b)
	m, err := r.member()
	if err == nil && !r.done() {
		err = fmt.Errorf("%w: trailing bytes", errGroupRecord)
	}
	return m, err
}
