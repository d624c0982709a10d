package format

import (
	"encoding/binary"
	"errors"
	"fmt"
	"unicode/utf8"

	"veil/crypto"
	"veil/relay/wire"
)

// GroupWelcome is what a new member needs to enter the group
// (spec/groups.md §9.2): the roster record of the epoch it enters, that
// epoch's secret, log ID and confirmation value.
type GroupWelcome struct {
	Roster []byte // the roster record of the epoch the joiner enters
	Secret crypto.SymKey
	LogID  crypto.ID
	Conf   [crypto.HashSize]byte // the epoch's confirmation value
	// Logs are the epoch's logs, one per relay the roster names, the
	// primary's (LogID) first; set, they make the welcome version 3
	// (spec/groups.md §9.2).
	Logs []crypto.ID
}

func (w GroupWelcome) String() string { return "groupWelcome(redacted)" }

// Group invite labels, spec/groups.md §9.2.
const (
	labelGroupInviteWrite = "veil-client/v2/group invite log write"
	labelGroupInviteRead  = "veil-client/v2/group invite log read"
	labelGroupInviteKey   = "veil-client/v2/group invite key"
	labelGroupExchangeKey = "veil-client/v2/group exchange key"
	LabelGroupRequestAD   = "veil-client/v2/group join request"
)

// GroupBlobMarker is the first byte of a group invite blob; a 1:1 blob
// starts with its version, 1 (spec/client.md §3.1).
const GroupBlobMarker = 0x47

// Group invite sizes, spec/groups.md §9.1.
const (
	groupBlobVersion = 3
	JoinTokenSize    = 16
	welcomeVersion   = 2
)

// GroupInviteKeys are what a group invite secret derives (spec/groups.md
// §9.2): the exchange log's write and read capabilities and the exchange
// key K that seals the join request and the welcome key. They must be
// kept secret.
type GroupInviteKeys struct {
	Write, Read [wire.CapSize]byte
	Key         crypto.SymKey
}

// DeriveGroupInvite derives the exchange keys from an invite secret and
// the relay's fingerprint as salt. exchange is the blob's exchange secret:
// with it, Key is HKDF(K || exchange secret, log ID), which only the admin
// and whoever took the blob know (spec/groups.md §9.2); without it (an
// invite of an earlier version, stored before its blob carried one), Key
// is K.
func DeriveGroupInvite(secret, salt []byte, logID crypto.ID, exchange []byte) GroupInviteKeys {
	var k GroupInviteKeys
	crypto.HKDF(k.Write[:], secret, salt, labelGroupInviteWrite)
	crypto.HKDF(k.Read[:], secret, salt, labelGroupInviteRead)
	crypto.HKDF(k.Key[:], secret, salt, labelGroupInviteKey)
	if len(exchange) > 0 {
		ikm := append(append(make([]byte, 0, 2*crypto.KeySize), k.Key[:]...), exchange...)
		k.Key = crypto.HKDFKey(ikm, logID[:], labelGroupExchangeKey)
		crypto.Wipe(ikm) // best effort: Go cannot guarantee no copy remains
	}
	return k
}

// JoinToken is the random value an admin puts in a group invite blob and
// answers only a join request that repeats it (spec/groups.md §9.2). It
// must be kept secret.
type JoinToken [JoinTokenSize]byte

func (JoinToken) String() string   { return "joinToken(redacted)" }
func (JoinToken) GoString() string { return "joinToken(redacted)" }

// Equal compares t and u in constant time.
func (t *JoinToken) Equal(u *JoinToken) bool { return crypto.Equal(t[:], u[:]) }

// GroupBlob is the plaintext of a group invite blob.
type GroupBlob struct {
	LogID crypto.ID
	Token JoinToken
	// Exchange is the exchange secret: never sent on the exchange log, it
	// keys every entry there, so a holder of the invite key who did not
	// take the blob can neither read the join request nor write a welcome
	// the joiner accepts.
	Exchange crypto.SymKey
	Deadline uint64 // the group's deadline, Unix seconds; 0 = none
	Name     string
}

// Marshal encodes b (spec/groups.md §9.1).
func (b *GroupBlob) Marshal() []byte {
	out := []byte{GroupBlobMarker, groupBlobVersion}
	out = append(out, b.LogID[:]...)
	out = append(out, b.Token[:]...)
	out = append(out, b.Exchange[:]...)
	out = binary.BigEndian.AppendUint64(out, b.Deadline)
	out = append(out, byte(len(b.Name)))
	return append(out, b.Name...)
}

// errOldGroupInvite is the answer to a group invite blob of version 1.
var errOldGroupInvite = errors.New("client: this group invite was made by an older veil; ask an admin for a new invite")

// ParseGroupBlob decodes a group invite blob strictly.
func ParseGroupBlob(p []byte) (*GroupBlob, error) {
	r := newRecordReader(p)
	if r.u8() != GroupBlobMarker {
		return nil, errors.New("client: not a group invite")
	}
	switch v := r.u8(); {
	case !r.ok:
		return nil, errors.New("client: the group invite blob is malformed")
	case v == 1 || v == 2:
		return nil, errOldGroupInvite
	case v != groupBlobVersion:
		return nil, errors.New("client: the group invite blob has an unknown version")
	}
	b := &GroupBlob{}
	copy(b.LogID[:], r.take(crypto.IDSize))
	copy(b.Token[:], r.take(JoinTokenSize))
	copy(b.Exchange[:], r.take(crypto.KeySize))
	b.Deadline = r.u64()
	b.Name = string(r.take(int(r.u8())))
	if !r.done() || len(b.Name) > MaxGroupName || !utf8.ValidString(b.Name) {
		return nil, errors.New("client: the group invite blob is malformed")
	}
	return b, nil
}

// JoinRequest is what a joiner appends to the exchange log: the token from
// the blob and its roster entry with its fresh per-group keys.
type JoinRequest struct {
	Token  JoinToken
	Member Member
}

// Marshal encodes q: token (16) || roster entry (spec/groups.md §9.2).
func (q *JoinRequest) Marshal() ([]byte, error) {
	return q.Member.AppendTo(append([]byte(nil), q.Token[:]...))
}

// ParseJoinRequest decodes a join request strictly: the token and exactly
// one roster entry.
func ParseJoinRequest(b []byte) (*JoinRequest, error) {
	if len(b) < JoinTokenSize {
		return nil, fmt.Errorf("%w: short join request", errGroupRecord)
	}
	m, err := ParseMember(b[JoinTokenSize:])
	if err != nil {
		return nil, err
	}
	return &JoinRequest{Token: JoinToken(b[:JoinTokenSize]), Member: m}, nil
}

// Marshal encodes w: version (1) = 2 || uint32(roster length) || roster
// || epoch secret (32) || log ID (24) || confirmation value (32); with
// Logs, version 3 and `n (1) || n × log ID (24)` in place of the log ID.
func (w *GroupWelcome) Marshal() []byte {
	v := byte(welcomeVersion)
	if len(w.Logs) > 0 {
		v = groupRecordV3
	}
	b := []byte{v}
	b = binary.BigEndian.AppendUint32(b, uint32(len(w.Roster)))
	b = append(b, w.Roster...)
	b = append(b, w.Secret[:]...)
	if v == groupRecordV3 {
		b = append(b, byte(len(w.Logs)))
		for _, id := range w.Logs {
			b = append(b, id[:]...)
		}
	} else {
		b = append(b, w.LogID[:]...)
	}
	return append(b, w.Conf[:]...)
}

// ParseGroupWelcome decodes a welcome strictly; it does not parse the
// roster inside.
func ParseGroupWelcome(b []byte) (*GroupWelcome, error) {
	r := newRecordReader(b)
	v := r.u8()
	if (v != welcomeVersion && v != groupRecordV3) || !r.ok {
		return nil, errors.New("client: group welcome of an unknown version")
	}
	w := &GroupWelcome{}
	n := r.u32()
	if n > maxRosterSizeV3 || (v == welcomeVersion && n > maxRosterSize) {
		return nil, errors.New("client: malformed group welcome")
	}
	w.Roster = append([]byte(nil), r.take(int(n))...)
	copy(w.Secret[:], r.take(crypto.KeySize))
	if v == groupRecordV3 {
		k := int(r.u8())
		if k < 1 || k > MaxGroupRelays {
			return nil, errors.New("client: malformed group welcome")
		}
		for range k {
			w.Logs = append(w.Logs, crypto.ID(r.take(crypto.IDSize)))
		}
		w.LogID = w.Logs[0]
	} else {
		copy(w.LogID[:], r.take(crypto.IDSize))
	}
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
