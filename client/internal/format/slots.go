package format

import (
	"encoding/binary"
	"fmt"
	"unicode/utf8"

	"veil/crypto"
	"veil/relay/wire"
)

// The envelopes of a chat on two relays (spec/client.md §5.12–§5.15):
// HELLO2, FEATURES, MOVE and MOVED.

// Envelope types of spec/client.md §5.1 for two-relay chats.
const (
	EnvHello2   byte = 0x11
	EnvFeatures byte = 0x12
	EnvMove     byte = 0x13
	EnvMoved    byte = 0x14
)

// Feature bits of HELLO2, FEATURES and the version 2 invite blob
// (spec/client.md §5.13).
const (
	// FeatureMove: MOVE and MOVED are understood and deliveries are
	// deduplicated by delivery ID.
	FeatureMove uint16 = 1 << 0
	// FeatureTwoSlots: the client receives on two mailboxes at once.
	FeatureTwoSlots uint16 = 1 << 1
	// FeaturePQ: the client speaks the KEM ratchet (spec/session.md §14).
	FeaturePQ uint16 = 1 << 2
	// Features is everything this version does.
	Features = FeatureMove | FeatureTwoSlots | FeaturePQ
)

// Slot limits, spec/client.md §5.12.
const (
	// MaxSlots is how many receiving mailboxes one side of a chat has.
	MaxSlots = 2
	// MoveIDSize is the size of a MOVE's ID.
	MoveIDSize = 8
)

// MoveID names one MOVE; its MOVED repeats it.
type MoveID [MoveIDSize]byte

// SlotCap is one receiving mailbox offered to the peer: HELLO2 lists one
// per slot, MOVE carries one. Cap is secret. An empty Relay with a zero
// SID and Cap, only in a MOVE, drops the slot.
type SlotCap struct {
	Slot  uint8
	SID   crypto.ID
	Cap   [wire.CapSize]byte
	Relay string // canonical relay address
}

// Drop reports whether s is a MOVE's "drop this slot".
func (s *SlotCap) Drop() bool {
	return s.Relay == "" && s.SID == (crypto.ID{}) && s.Cap == [wire.CapSize]byte{}
}

func appendSlotCap(b []byte, s *SlotCap) ([]byte, error) {
	if s.Slot >= MaxSlots || len(s.Relay) > MaxAddressSize {
		return nil, fmt.Errorf("%w: slot %d or relay address out of range", errEnvelope, s.Slot)
	}
	if s.Relay == "" && !s.Drop() {
		return nil, fmt.Errorf("%w: a mailbox without a relay", errEnvelope)
	}
	b = append(b, s.Slot)
	b = append(b, s.SID[:]...)
	b = append(b, s.Cap[:]...)
	b = binary.BigEndian.AppendUint16(b, uint16(len(s.Relay)))
	return append(b, s.Relay...), nil
}

// marshalSlots encodes the types of this file; ok is false for any other.
func (e *Envelope) marshalSlots(b []byte) (out []byte, ok bool, err error) {
	switch e.Type {
	case EnvHello2:
		if len(e.Nick) > MaxNick || len(e.Slots) == 0 || len(e.Slots) > MaxSlots {
			return nil, true, fmt.Errorf("%w: hello2 field out of range", errEnvelope)
		}
		if len(e.Slots) == 2 && e.Slots[0].Slot == e.Slots[1].Slot {
			return nil, true, fmt.Errorf("%w: hello2 names a slot twice", errEnvelope)
		}
		b = append(b, e.ID[:]...)
		b = append(b, byte(len(e.Nick)))
		b = append(b, e.Nick...)
		b = binary.BigEndian.AppendUint16(b, e.Features)
		b = append(b, byte(len(e.Slots)))
		for i := range e.Slots {
			if e.Slots[i].Drop() {
				return nil, true, fmt.Errorf("%w: hello2 without a mailbox", errEnvelope)
			}
			if b, err = appendSlotCap(b, &e.Slots[i]); err != nil {
				return nil, true, err
			}
		}
	case EnvFeatures:
		b = binary.BigEndian.AppendUint16(b, e.Features)
	case EnvMove:
		if len(e.Slots) != 1 {
			return nil, true, fmt.Errorf("%w: a move names one mailbox", errEnvelope)
		}
		b = append(b, e.Move[:]...)
		if b, err = appendSlotCap(b, &e.Slots[0]); err != nil {
			return nil, true, err
		}
	case EnvMoved:
		if e.Slot >= MaxSlots {
			return nil, true, fmt.Errorf("%w: slot %d", errEnvelope, e.Slot)
		}
		b = append(b, e.Move[:]...)
		b = append(b, e.Slot)
	default:
		return nil, false, nil
	}
	return b, true, nil
}

// parseSlotCap reads one slot's mailbox; drop allows the empty form.
func parseSlotCap(r []byte, drop bool) (SlotCap, []byte, error) {
	var s SlotCap
	fixed := 1 + crypto.IDSize + wire.CapSize + 2
	if len(r) < fixed {
		return s, nil, fmt.Errorf("%w: truncated", errEnvelope)
	}
	s.Slot = r[0]
	copy(s.SID[:], r[1:])
	copy(s.Cap[:], r[1+crypto.IDSize:])
	n := int(binary.BigEndian.Uint16(r[fixed-2:]))
	r = r[fixed:]
	if s.Slot >= MaxSlots {
		return s, nil, fmt.Errorf("%w: slot %d", errEnvelope, s.Slot)
	}
	if n > MaxAddressSize || len(r) < n {
		return s, nil, fmt.Errorf("%w: bad relay address length", errEnvelope)
	}
	addr := r[:n]
	r = r[n:]
	if n == 0 {
		if !drop || !s.Drop() {
			return s, nil, fmt.Errorf("%w: a mailbox without a relay", errEnvelope)
		}
		return s, r, nil
	}
	a, err := wire.ParseAddress(string(addr))
	if err != nil || a.String() != string(addr) {
		return s, nil, fmt.Errorf("%w: bad relay address", errEnvelope)
	}
	s.Relay = string(addr)
	return s, r, nil
}

// parseSlots decodes the body r of the types of this file; ok is false
// for any other type.
func (e *Envelope) parseSlots(r []byte) (ok bool, err error) {
	short := fmt.Errorf("%w: truncated", errEnvelope)
	switch e.Type {
	case EnvHello2:
		if len(r) < WireIDSize+1 {
			return true, short
		}
		copy(e.ID[:], r)
		nl := int(r[WireIDSize])
		r = r[WireIDSize+1:]
		if len(r) < nl+3 {
			return true, short
		}
		if nl > MaxNick || !utf8.Valid(r[:nl]) {
			return true, fmt.Errorf("%w: bad nickname", errEnvelope)
		}
		e.Nick = string(r[:nl])
		e.Features = binary.BigEndian.Uint16(r[nl:])
		n := int(r[nl+2])
		r = r[nl+3:]
		if n == 0 || n > MaxSlots {
			return true, fmt.Errorf("%w: hello2 with %d mailboxes", errEnvelope, n)
		}
		for range n {
			var s SlotCap
			if s, r, err = parseSlotCap(r, false); err != nil {
				return true, err
			}
			e.Slots = append(e.Slots, s)
		}
		if n == 2 && e.Slots[0].Slot == e.Slots[1].Slot {
			return true, fmt.Errorf("%w: hello2 names a slot twice", errEnvelope)
		}
	case EnvFeatures:
		if len(r) < 2 {
			return true, short
		}
		e.Features = binary.BigEndian.Uint16(r)
		r = r[2:]
	case EnvMove:
		if len(r) < MoveIDSize {
			return true, short
		}
		copy(e.Move[:], r)
		var s SlotCap
		if s, r, err = parseSlotCap(r[MoveIDSize:], true); err != nil {
			return true, err
		}
		e.Slots = []SlotCap{s}
	case EnvMoved:
		if len(r) < MoveIDSize+1 {
			return true, short
		}
		copy(e.Move[:], r)
		e.Slot = r[MoveIDSize]
		r = r[MoveIDSize+1:]
		if e.Slot >= MaxSlots {
			return true, fmt.Errorf("%w: slot %d", errEnvelope, e.Slot)
		}
	default:
		return false, nil
	}
	if len(r) != 0 {
		return true, fmt.Errorf("%w: trailing bytes", errEnvelope)
	}
	return true, nil
}

// DeliveryIDSize is the size of a delivery ID.
const DeliveryIDSize = 16

const labelDeliveryID = "veil-client/v1/delivery id"

// DeliveryID identifies one ciphertext as the relay delivers it, so a
// copy that arrives through a second mailbox is dropped before decryption
// (spec/client.md §7.5).
func DeliveryID(body []byte) [DeliveryIDSize]byte {
	h := crypto.Hash([]byte(labelDeliveryID), body)
	return [DeliveryIDSize]byte(h[:DeliveryIDSize])
}
