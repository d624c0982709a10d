package vault

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"time"
	"unicode/utf8"
)

// The typed records of spec/vault.md §8. Fields holding state that other
// packages serialise (ratchet sessions, group state) are opaque []byte.
// Profile, Contact and Group are stored sealed under per-record state keys
// (§6.6), so no superseded version of them stays readable.

// Profile is the user's own profile and settings (one per vault).
type Profile struct {
	Name     string            // the default nickname
	Created  time.Time         //
	Settings map[string]string // client settings, by name
}

// RelayCap is what a contact's chat needs to reach one relay mailbox.
type RelayCap struct {
	Address  string // relay address with its fingerprint
	RecvID   []byte // our mailbox's recipient ID
	RecvKey  []byte // the recipient auth key seed (secret)
	SendID   []byte // the peer's mailbox sender ID
	SendCred []byte // our sender credential for it (secret)

	// A chat on two relays (spec/client.md §7.5): the slot of a mailbox
	// of ours (RecvID set) or of the peer's (SendID set), 0 or 1.
	Slot uint8 `json:",omitempty"`
	// Created is when our mailbox was made (zero: the contact's
	// Created); RotateAt when it is next replaced by a fresh one.
	Created  time.Time `json:",omitzero"`
	RotateAt time.Time `json:",omitzero"`
	// Offer is the ID of our MOVE that offered this mailbox, until the
	// peer confirms it (MOVED): the mailbox is received on but not yet
	// the slot's.
	Offer []byte `json:",omitempty"`
	// Retire is set on our mailbox a move replaced: it is deleted on the
	// relay after this time, once drained.
	Retire time.Time `json:",omitzero"`
	// Pending is set on a mailbox of the peer's that its MOVE offered (the
	// move ID) until our MOVED reached it: meanwhile only MOVED goes there.
	Pending []byte `json:",omitempty"`
	// Heard is set on our mailbox once a new authenticated message of
	// the peer's other than MOVED arrived on it: the peer sends there, so
	// the mailbox it replaced may be deleted.
	Heard bool `json:",omitempty"`
}

// Contact is one peer: a fresh identity per contact (architecture §3).
type Contact struct {
	ID            string
	Nickname      string
	OurIdentity   []byte // our per-contact identity private key, serialised (secret)
	TheirIdentity []byte // the peer's identity public key
	Ratchet       []byte // serialised ratchet state (secret)
	Relays        []RelayCap
	SafetyChecked bool
	Created       time.Time
}

// ChatKind tells a direct chat from a group chat.
type ChatKind uint8

// Chat kinds.
const (
	ChatDirect ChatKind = 1
	ChatGroup  ChatKind = 2
)

// Chat is a conversation with a contact or a group. Its message bodies are
// sealed under a per-chat key kept outside Badger (spec/vault.md §6).
type Chat struct {
	ID   string
	Kind ChatKind
	// Name is the name the chat is shown and called by: the one the user
	// gave it or, for a group chat without one, the group's own name.
	Name string
	// NameLocal says the user gave Name (a rename, join --name): a group's
	// roster never replaces it. Absent in records written before it.
	NameLocal bool `json:",omitempty"`
	// GroupName is a group chat's own name as its roster last said; empty
	// in records written before it.
	GroupName  string        `json:",omitempty"`
	ContactID  string        // for direct chats
	GroupID    string        // for group chats
	MessageTTL time.Duration // self-destruct timer for new messages; 0 = off
	Deadline   time.Time     // the chat self-destructs at this time; zero = never
	Unread     int
	Created    time.Time
	LastActive time.Time
}

// Direction of a message.
type Direction uint8

// Directions.
const (
	Incoming Direction = 1
	Outgoing Direction = 2
)

// Status of a message.
type Status uint8

// Statuses.
const (
	StatusPending   Status = 1 // outgoing, not yet accepted by the relay
	StatusSent      Status = 2 // accepted by the relay
	StatusDelivered Status = 3 // the peer confirmed receipt
	StatusRead      Status = 4 // the peer (or we) read it
	StatusFailed    Status = 5
)

// Message is one message of a chat. Body is sealed under the chat's key
// when stored; the other fields are protected by Badger's encryption.
type Message struct {
	ID        string // unique within the chat; listing is in ID order
	ChatID    string
	Direction Direction
	Sender    string // contact or group-member ID; empty for our own
	Body      []byte
	Sent      time.Time
	Received  time.Time
	Read      time.Time
	Status    Status
	Expires   time.Time // swept by SweepExpired after this; zero = never
	Edited    time.Time // zero = never edited
	Deleted   bool      // deleted for everyone: body emptied, mark kept
	// Meta is the client's own data about the message (reply target,
	// reactions, …), sealed under the chat's key like Body and never
	// searched; a message marked Deleted keeps none.
	Meta []byte
}

// OutboxItem is an encrypted message waiting for a relay.
type OutboxItem struct {
	ID        string
	ChatID    string
	MessageID string
	Changes   string // an edit or deletion: the ID of the message of ours it changes
	Payload   []byte // the end-to-end ciphertext, ready to send
	Created   time.Time
	Attempts  int
	NextTry   time.Time
	// Done is the bitmask of slots whose relay took the item (spec/client.md
	// §7.3); Route limits it: "" for every slot, "move:" || hex(move ID)
	// for only the mailbox that MOVE offered, "slot:" || decimal slot for
	// only that slot's mailbox.
	Done  uint8  `json:",omitempty"`
	Route string `json:",omitempty"`
}

// Group is a group's state, serialised by the package that owns it.
type Group struct {
	ID    string
	State []byte
}

// recordVersion prefixes every stored record, spec/vault.md §8.2.
const recordVersion = 1

// storedMessage is Message as stored: the body sealed under the chat key.
// It lists its fields explicitly so the plaintext body cannot leak in.
type storedMessage struct {
	ID        string
	ChatID    string
	Direction Direction
	Sender    string
	Sealed    []byte `json:"-"` // stored ahead of the JSON, §8.2
	Bucket    uint64 `json:"-"` // the key that sealed it, §6.5; ahead of the JSON
	Sent      time.Time
	Received  time.Time
	Read      time.Time
	Status    Status
	Expires   time.Time
	Edited    time.Time
	Deleted   bool
	// SealedMeta is Meta sealed under the same key (§6.1); absent when
	// there is none.
	SealedMeta []byte `json:"meta,omitempty"`
}

func toStored(m *Message, bucket uint64, sealed, sealedMeta []byte) storedMessage {
	return storedMessage{
		ID: m.ID, ChatID: m.ChatID, Direction: m.Direction, Sender: m.Sender, Sealed: sealed, Bucket: bucket,
		Sent: m.Sent, Received: m.Received, Read: m.Read, Status: m.Status,
		Expires: m.Expires, Edited: m.Edited, Deleted: m.Deleted, SealedMeta: sealedMeta,
	}
}

func (s *storedMessage) message(body, meta []byte) Message {
	return Message{
		ID: s.ID, ChatID: s.ChatID, Direction: s.Direction, Sender: s.Sender, Body: body,
		Sent: s.Sent, Received: s.Received, Read: s.Read, Status: s.Status,
		Expires: s.Expires, Edited: s.Edited, Deleted: s.Deleted, Meta: meta,
	}
}

// encodeRecord returns version || JSON of a record; a message is
// version || bucket (8) || len(sealed) (4) || sealed || JSON of the rest
// (§8.2), so the search index can open the body without decoding JSON.
func encodeRecord(v any) ([]byte, error) {
	out := []byte{recordVersion}
	if m, ok := v.(*storedMessage); ok {
		out = binary.BigEndian.AppendUint64(out, m.Bucket)
		out = binary.BigEndian.AppendUint32(out, uint32(len(m.Sealed)))
		out = append(out, m.Sealed...)
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("vault: encoding record: %w", err)
	}
	return append(out, b...), nil
}

// decodeRecord decodes a stored record into v. It never panics.
func decodeRecord(b []byte, v any) error {
	if len(b) == 0 {
		return corrupt("empty record")
	}
	if b[0] != recordVersion {
		return corrupt("record version %d", b[0])
	}
	b = b[1:]
	m, isMsg := v.(*storedMessage)
	if isMsg {
		bucket, sealed, rest, err := splitSealed(b)
		if err != nil {
			return err
		}
		b = rest
		defer func() { m.Sealed, m.Bucket = append([]byte(nil), sealed...), bucket }()
	}
	if err := json.Unmarshal(b, v); err != nil {
		return corrupt("record: %v", err)
	}
	return nil
}

// splitSealed splits bucket (8) || len (4) || sealed || rest.
func splitSealed(b []byte) (bucket uint64, sealed, rest []byte, err error) {
	if len(b) < 12 {
		return 0, nil, nil, corrupt("message record truncated")
	}
	bucket = binary.BigEndian.Uint64(b)
	n := binary.BigEndian.Uint32(b[8:])
	if uint64(n) > uint64(len(b)-12) {
		return 0, nil, nil, corrupt("message record truncated")
	}
	return bucket, b[12 : 12+n], b[12+n:], nil
}

// sealedBody returns the bucket and sealed body inside a stored message
// value, without copying or decoding the rest.
func sealedBody(b []byte) (uint64, []byte, error) {
	if len(b) == 0 || b[0] != recordVersion {
		return 0, nil, corrupt("message record version")
	}
	bucket, sealed, _, err := splitSealed(b[1:])
	return bucket, sealed, err
}

// parseMessageKey splits 'M' || len(chat) || chat || id.
func parseMessageKey(k []byte) (chat, id string, ok bool) {
	if len(k) < 3 || k[0] != pfxMessage || k[1] == 0 {
		return "", "", false
	}
	l := 2 + int(k[1])
	if len(k) < l+1 {
		return "", "", false
	}
	return string(k[2:l]), string(k[l:]), true
}

// maxIDLen bounds every record ID (spec/vault.md §8.1).
const maxIDLen = 255

// checkID enforces 1..255 bytes of valid UTF-8: records are JSON, which
// would silently replace invalid UTF-8 and break the link between a record
// and its key (and a body's associated data).
func checkID(what, id string) error {
	if len(id) == 0 || len(id) > maxIDLen || !utf8.ValidString(id) {
		return fmt.Errorf("vault: %s ID must be 1..%d bytes of UTF-8", what, maxIDLen)
	}
	return nil
}

// Badger key prefixes, spec/vault.md §8.1.
const (
	pfxProfile = 'P'
	pfxContact = 'C'
	pfxChat    = 'H'
	pfxMessage = 'M'
	pfxExpiry  = 'X'
	pfxOutbox  = 'O'
	pfxGroup   = 'G'
	pfxRestore = 'R'
	// pfxDelivery keys a delivery-ID record: 'D' || len(chat) || chat ||
	// delivery ID (16).
	pfxDelivery = 'D'
)

func simpleKey(pfx byte, id string) []byte { return append([]byte{pfx}, id...) }

// chatPrefix is 'M' || len(chat) || chat: every message key of one chat.
func chatPrefix(chat string) []byte {
	return append([]byte{pfxMessage, byte(len(chat))}, chat...)
}

func messageKey(chat, id string) []byte { return append(chatPrefix(chat), id...) }

// expiryKey is 'X' || expiry (unix ns, big-endian) || len(chat) || chat || id.
// Times before 1970 sort first and times past 2262 (where UnixNano
// overflows) sort last.
func expiryKey(t time.Time, chat, id string) []byte {
	var ns uint64
	switch s := t.Unix(); {
	case s <= 0:
		ns = 0
	case s >= math.MaxInt64/int64(time.Second):
		ns = math.MaxInt64
	default:
		ns = uint64(t.UnixNano())
	}
	k := []byte{pfxExpiry, byte(ns >> 56), byte(ns >> 48), byte(ns >> 40), byte(ns >> 32), byte(ns >> 24), byte(ns >> 16), byte(ns >> 8), byte(ns)}
	k = append(k, byte(len(chat)))
	k = append(k, chat...)
	return append(k, id...)
}

// parseExpiryKey splits an expiry key; ok is false for a malformed key.
func parseExpiryKey(k []byte) (chat, id string, ok bool) {
	if len(k) < 10 || k[0] != pfxExpiry {
		return "", "", false
	}
	l := int(k[9])
	if l == 0 || len(k) < 10+l+1 {
		return "", "", false
	}
	return string(k[10 : 10+l]), string(k[10+l:]), true
}

// messageAD binds a sealed body to its chat and message ID, so a body
// cannot be moved to another message (spec/vault.md §6.1).
func messageAD(chat, id string) []byte {
	ad := append([]byte("veil/vault/message/v1"), byte(len(chat)))
	ad = append(ad, chat...)
	return append(ad, id...)
}

// metaAD binds a sealed Meta to its chat and message ID, apart from the
// body's (spec/vault.md §6.1).
func metaAD(chat, id string) []byte {
	ad := append([]byte("veil/vault/message-meta/v1"), byte(len(chat)))
	ad = append(ad, chat...)
	return append(ad, id...)
}
