package client

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
	envText    byte = 0x01
	envEdit    byte = 0x02
	envDelete  byte = 0x03
	envReceipt byte = 0x04
	envBurn    byte = 0x05
	envHello   byte = 0x06
)

// Receipt kinds, spec/client.md §5.5.
const (
	receiptDelivered byte = 1
	receiptRead      byte = 2
)

// Envelope limits, spec/client.md §5.
const (
	envVersion     = 1
	wireIDSize     = 16  // a message's wire ID
	maxNick        = 64  // bytes of a nickname
	maxReceiptIDs  = 64  // IDs in one receipt
	maxAddressSize = 255 // a relay address in HELLO
)

// errEnvelope is wrapped by every envelope decoding error.
var errEnvelope = errors.New("client: malformed message envelope")

// wireID is a message's identifier on the wire: the 16 bytes behind its
// 32-hex-digit local ID (spec/client.md §6).
type wireID [wireIDSize]byte

// envelope is one decoded plaintext. Which fields are set depends on Type.
type envelope struct {
	Type  byte
	ID    wireID   // TEXT, HELLO: the message's own ID; EDIT, DELETE: the target
	TTL   uint32   // TEXT: disappearing timer in seconds, 0 = off
	Text  string   // TEXT, EDIT
	Kind  byte     // RECEIPT
	IDs   []wireID // RECEIPT
	SID   crypto.ID
	Cap   [wire.CapSize]byte // HELLO: the capability for SID (secret)
	Relay string             // HELLO: the relay holding SID
	Nick  string             // HELLO
}

// marshal encodes e; it returns an error for a field out of range.
func (e *envelope) marshal() ([]byte, error) {
	b := []byte{envVersion, e.Type}
	switch e.Type {
	case envText:
		b = append(b, e.ID[:]...)
		b = binary.BigEndian.AppendUint32(b, e.TTL)
		b = append(b, e.Text...)
	case envEdit:
		b = append(b, e.ID[:]...)
		b = append(b, e.Text...)
	case envDelete:
		b = append(b, e.ID[:]...)
	case envReceipt:
		if len(e.IDs) == 0 || len(e.IDs) > maxReceiptIDs {
			return nil, fmt.Errorf("%w: receipt with %d IDs", errEnvelope, len(e.IDs))
		}
		b = append(b, e.Kind, byte(len(e.IDs)))
		for _, id := range e.IDs {
			b = append(b, id[:]...)
		}
	case envBurn:
	case envHello:
		if len(e.Relay) > maxAddressSize || len(e.Nick) > maxNick {
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

// parseEnvelope decodes b strictly: exact lengths, valid UTF-8 text, a
// well-formed relay address. Text is returned as sent; callers sanitise it
// before display.
func parseEnvelope(b []byte) (*envelope, error) {
	if len(b) < 2 {
		return nil, fmt.Errorf("%w: too short", errEnvelope)
	}
	if b[0] != envVersion {
		return nil, fmt.Errorf("%w: unknown version %d", errEnvelope, b[0])
	}
	e := &envelope{Type: b[1]}
	r := b[2:]
	take := func(n int) ([]byte, bool) {
		if len(r) < n {
			return nil, false
		}
		v := r[:n]
		r = r[n:]
		return v, true
	}
	short := fmt.Errorf("%w: truncated", errEnvelope)
	switch e.Type {
	case envText, envEdit:
		id, ok := take(wireIDSize)
		if !ok {
			return nil, short
		}
		copy(e.ID[:], id)
		if e.Type == envText {
			ttl, ok := take(4)
			if !ok {
				return nil, short
			}
			e.TTL = binary.BigEndian.Uint32(ttl)
		}
		if !utf8.Valid(r) {
			return nil, fmt.Errorf("%w: text is not UTF-8", errEnvelope)
		}
		e.Text = string(r)
		r = nil
	case envDelete:
		id, ok := take(wireIDSize)
		if !ok {
			return nil, short
		}
		copy(e.ID[:], id)
	case envReceipt:
		hdr, ok := take(2)
		if !ok {
			return nil, short
		}
		e.Kind = hdr[0]
		if e.Kind != receiptDelivered && e.Kind != receiptRead {
			return nil, fmt.Errorf("%w: unknown receipt kind", errEnvelope)
		}
		n := int(hdr[1])
		if n == 0 || n > maxReceiptIDs {
			return nil, fmt.Errorf("%w: receipt count %d", errEnvelope, n)
		}
		for range n {
			id, ok := take(wireIDSize)
			if !ok {
				return nil, short
			}
			e.IDs = append(e.IDs, wireID(id))
		}
	case envBurn:
	case envHello:
		fixed, ok := take(wireIDSize + crypto.IDSize + wire.CapSize + 1)
		if !ok {
			return nil, short
		}
		copy(e.ID[:], fixed)
		copy(e.SID[:], fixed[wireIDSize:])
		copy(e.Cap[:], fixed[wireIDSize+crypto.IDSize:])
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
		if len(nick) > maxNick || !utf8.Valid(nick) {
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
