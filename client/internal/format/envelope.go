package format

import (
	"encoding/binary"
	"errors"
	"fmt"
	"unicode/utf8"

	"veil/crypto"
	"veil/relay/wire"
)

// The envelope is the plaintext inside every ratchet message
// (spec/client.md §5). It is pure data: encode and decode, no I/O.

// Envelope types, spec/client.md §5.1.
const (
	EnvText    byte = 0x01
	EnvEdit    byte = 0x02
	EnvDelete  byte = 0x03
	EnvReceipt byte = 0x04
	EnvBurn    byte = 0x05
	EnvHello   byte = 0x06
	EnvReply   byte = 0x07
	EnvReact   byte = 0x08
	EnvTimer   byte = 0x09
	// EnvFile offers a file (spec/files.md §4): ID, TTL, descriptor.
	EnvFile byte = 0x0a
	// EnvSession is a message about the session itself (spec/client.md
	// §13.4): Kind SessionRestarted or SessionOutdated, nothing else.
	EnvSession byte = 0x10
)

// Kinds of an EnvSession envelope.
const (
	// SessionRestarted is the answerer's first message of a session reset.
	SessionRestarted byte = 1
	// SessionOutdated tells an out-of-date copy of a profile, on the
	// session it still holds, that the chat continues with another copy.
	SessionOutdated byte = 2
)

// Receipt kinds, spec/client.md §5.5.
const (
	ReceiptDelivered byte = 1
	ReceiptRead      byte = 2
)

// Envelope limits, spec/client.md §5.
const (
	envVersion     = 1
	WireIDSize     = 16  // a message's wire ID
	MaxNick        = 64  // bytes of a nickname
	MaxReceiptIDs  = 64  // IDs in one receipt
	MaxAddressSize = 255 // a relay address in HELLO, HELLO2 and MOVE
	// MaxReaction bounds a REACT's reaction in bytes (§5.9); zero bytes
	// take our reaction back.
	MaxReaction = 32
	// MaxTimer is the longest disappearing timer a TIMER may announce:
	// 365 days in seconds (§5.10).
	MaxTimer = 31536000
	// ReplyOverhead is what a REPLY carries beyond a TEXT: the target's
	// wire ID (§5.8).
	ReplyOverhead = WireIDSize
)

// errEnvelope is wrapped by every envelope decoding error.
var errEnvelope = errors.New("client: malformed message envelope")

// WireID is a message's identifier on the wire: the 16 bytes behind its
// 32-hex-digit local ID (spec/client.md §6).
type WireID [WireIDSize]byte

// Envelope is one decoded plaintext. Which fields are set depends on Type.
type Envelope struct {
	Type byte
	// ID is the message's own ID (TEXT, REPLY, HELLO, TIMER) or its
	// target (EDIT, DELETE, REACT).
	ID       WireID
	TTL      uint32   // TEXT, REPLY: disappearing timer in seconds, 0 = off; TIMER: the chat's new timer
	Target   WireID   // REPLY: the message it quotes
	Reaction string   // REACT: the reaction, empty to take ours back
	Text     string   // TEXT, REPLY, EDIT
	Kind     byte     // RECEIPT, SESSION
	IDs      []WireID // RECEIPT
	SID      crypto.ID
	Cap      [wire.CapSize]byte // HELLO: the capability for SID (secret)
	Relay    string             // HELLO: the relay holding SID
	Nick     string             // HELLO, HELLO2
	Features uint16             // HELLO2, FEATURES: the sender's feature bits
	Slots    []SlotCap          // HELLO2: one mailbox per slot; MOVE: the one moved
	Move     MoveID             // MOVE, MOVED
	Slot     uint8              // MOVED: the slot the move was for
	// File is FILE's descriptor. A FILE whose descriptor is refused still
	// parses, so the chat can show what was refused: File is then nil,
	// FileErr says why (a *FileError) and FileRaw holds the bytes.
	File    *FileDescriptor
	FileErr error
	FileRaw []byte
}

// Marshal encodes e; it returns an error for a field out of range.
func (e *Envelope) Marshal() ([]byte, error) {
	b := []byte{envVersion, e.Type}
	if out, ok, err := e.marshalSlots(b); ok {
		return out, err
	}
	switch e.Type {
	case EnvText:
		b = append(b, e.ID[:]...)
		b = binary.BigEndian.AppendUint32(b, e.TTL)
		b = append(b, e.Text...)
	case EnvEdit:
		b = append(b, e.ID[:]...)
		b = append(b, e.Text...)
	case EnvFile:
		b = append(b, e.ID[:]...)
		b = binary.BigEndian.AppendUint32(b, e.TTL)
		return appendFile(b, e.File, e.FileRaw)
	case EnvDelete:
		b = append(b, e.ID[:]...)
	case EnvReceipt:
		if len(e.IDs) == 0 || len(e.IDs) > MaxReceiptIDs {
			return nil, fmt.Errorf("%w: receipt with %d IDs", errEnvelope, len(e.IDs))
		}
		b = append(b, e.Kind, byte(len(e.IDs)))
		for _, id := range e.IDs {
			b = append(b, id[:]...)
		}
	case EnvReply:
		b = append(b, e.ID[:]...)
		b = binary.BigEndian.AppendUint32(b, e.TTL)
		b = append(b, e.Target[:]...)
		b = append(b, e.Text...)
	case EnvReact:
		if len(e.Reaction) > MaxReaction || !utf8.ValidString(e.Reaction) {
			return nil, fmt.Errorf("%w: reaction of %d bytes", errEnvelope, len(e.Reaction))
		}
		b = append(b, e.ID[:]...)
		b = append(b, e.Reaction...)
	case EnvTimer:
		if e.TTL > MaxTimer {
			return nil, fmt.Errorf("%w: timer of %d s", errEnvelope, e.TTL)
		}
		b = append(b, e.ID[:]...)
		b = binary.BigEndian.AppendUint32(b, e.TTL)
	case EnvBurn:
	case EnvSession:
		if e.Kind != SessionRestarted && e.Kind != SessionOutdated {
			return nil, fmt.Errorf("%w: unknown session kind %d", errEnvelope, e.Kind)
		}
		b = append(b, e.Kind)
	case EnvHello:
		if len(e.Relay) > MaxAddressSize || len(e.Nick) > MaxNick {
			return nil, fmt.Errorf("%w: hello field too long", errEnvelope)
		}
		b = append(b, e.ID[:]...)
		b = append(b, e.SID[:]...)
		b = append(b, e.Cap[:]...)
		b = append(b, byte(len(e.Relay)))
		b = append(b, e.Relay...)
		b = append(b, byte(len(e.Nick)))
		b = append(b, e.Nick...)
	default:
		return nil, fmt.Errorf("%w: unknown type %d", errEnvelope, e.Type)
	}
	return b, nil
}

// ParseEnvelope decodes b strictly: exact lengths, valid UTF-8 text, a
// well-formed relay address. Text is returned as sent; callers sanitise it
// before display.
func ParseEnvelope(b []byte) (*Envelope, error) {
	if len(b) < 2 {
		return nil, fmt.Errorf("%w: too short", errEnvelope)
	}
	if b[0] != envVersion {
		return nil, fmt.Errorf("%w: unknown version %d", errEnvelope, b[0])
	}
	e := &Envelope{Type: b[1]}
	r := b[2:]
	take := func(n int) ([]byte, bool) {
		if len(r) < n {
			return nil, false
		}
		v := r[:n]
		r = r[n:]
		return v, true
	}
	if ok, err := e.parseSlots(r); ok {
		if err != nil {
			return nil, err
		}
		return e, nil
	}
	short := fmt.Errorf("%w: truncated", errEnvelope)
	switch e.Type {
	case EnvText, EnvEdit, EnvReply:
		id, ok := take(WireIDSize)
		if !ok {
			return nil, short
		}
		copy(e.ID[:], id)
		if e.Type != EnvEdit {
			ttl, ok := take(4)
			if !ok {
				return nil, short
			}
			e.TTL = binary.BigEndian.Uint32(ttl)
		}
		if e.Type == EnvReply {
			target, ok := take(WireIDSize)
			if !ok {
				return nil, short
			}
			copy(e.Target[:], target)
		}
		if !utf8.Valid(r) {
			return nil, fmt.Errorf("%w: text is not UTF-8", errEnvelope)
		}
		e.Text = string(r)
		r = nil
	case EnvDelete:
		id, ok := take(WireIDSize)
		if !ok {
			return nil, short
		}
		copy(e.ID[:], id)
	case EnvFile:
		fixed, ok := take(WireIDSize + 4)
		if !ok {
			return nil, short
		}
		copy(e.ID[:], fixed)
		e.TTL = binary.BigEndian.Uint32(fixed[WireIDSize:])
		e.File, e.FileRaw, e.FileErr = parseFile(r)
		r = nil
	case EnvReact:
		id, ok := take(WireIDSize)
		if !ok {
			return nil, short
		}
		copy(e.ID[:], id)
		if len(r) > MaxReaction || !utf8.Valid(r) {
			return nil, fmt.Errorf("%w: reaction too long or not UTF-8", errEnvelope)
		}
		e.Reaction = string(r)
		r = nil
	case EnvTimer:
		fixed, ok := take(WireIDSize + 4)
		if !ok {
			return nil, short
		}
		copy(e.ID[:], fixed)
		e.TTL = binary.BigEndian.Uint32(fixed[WireIDSize:])
		if e.TTL > MaxTimer {
			return nil, fmt.Errorf("%w: timer over 365 days", errEnvelope)
		}
	case EnvReceipt:
		hdr, ok := take(2)
		if !ok {
			return nil, short
		}
		e.Kind = hdr[0]
		if e.Kind != ReceiptDelivered && e.Kind != ReceiptRead {
			return nil, fmt.Errorf("%w: unknown receipt kind", errEnvelope)
		}
		n := int(hdr[1])
		if n == 0 || n > MaxReceiptIDs {
			return nil, fmt.Errorf("%w: receipt count %d", errEnvelope, n)
		}
		for range n {
			id, ok := take(WireIDSize)
			if !ok {
				return nil, short
			}
			e.IDs = append(e.IDs, WireID(id))
		}
	case EnvBurn:
	case EnvSession:
		k, ok := take(1)
		if !ok {
			return nil, short
		}
		e.Kind = k[0]
		if e.Kind != SessionRestarted && e.Kind != SessionOutdated {
			return nil, fmt.Errorf("%w: unknown session kind %d", errEnvelope, e.Kind)
		}
	case EnvHello:
		fixed, ok := take(WireIDSize + crypto.IDSize + wire.CapSize + 1)
		if !ok {
			return nil, short
		}
		copy(e.ID[:], fixed)
		copy(e.SID[:], fixed[WireIDSize:])
		copy(e.Cap[:], fixed[WireIDSize+crypto.IDSize:])
		relay, ok := take(int(fixed[len(fixed)-1]))
		if !ok {
			return nil, short
		}
		if _, err := wire.ParseAddress(string(relay)); err != nil || len(relay) == 0 {
			return nil, fmt.Errorf("%w: bad relay address", errEnvelope)
		}
		e.Relay = string(relay)
		nl, ok := take(1)
		if !ok {
			return nil, short
		}
		nick, ok := take(int(nl[0]))
		if !ok {
			return nil, short
		}
		if len(nick) > MaxNick || !utf8.Valid(nick) {
			return nil, fmt.Errorf("%w: bad nickname", errEnvelope)
		}
		e.Nick = string(nick)
	default:
		return nil, fmt.Errorf("%w: unknown type %d", errEnvelope, e.Type)
	}
	if len(r) != 0 {
		return nil, fmt.Errorf("%w: trailing bytes", errEnvelope)
	}
	return e, nil
}
