// Package record is the on-disk format of the relay stores' metadata: the
// record of a mailbox and the record of a group log, the same bytes in
// every store (spec/relay.md §13, spec/relay-jetstream.md §4.1, §5.1).
// Version 2 is written; the version-1 records each store wrote before it
// are still read.
//
// It is pure: no I/O. Decoders never panic and return the zero value with
// an error on any input they do not accept exactly.
package record

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"time"

	"veil/relay/store"
)

const (
	// V2 is the version byte of the records Encode writes.
	V2 = 2
	// MaxSenderKey bounds the sender credential a mailbox record holds.
	MaxSenderKey = 1024

	// mailboxFixed: version, recipient ID, sender ID, recipient key,
	// created day, last active day, sender credential length.
	mailboxFixed = 1 + 2*store.IDSize + 32 + 4 + 4 + 2
	// logFixed: version, ID, write cap hash, read cap hash, TTL, created
	// day, floor.
	logFixed = 1 + store.IDSize + 32 + 32 + 8 + 4 + 8
)

// ErrMalformed is the error of every decoder.
var ErrMalformed = errors.New("record: malformed record")

// Legacy names the version-1 format of a store, which decoders accept
// besides version 2. The two stores' version-1 formats share the version
// byte, so the caller says which one it may find.
type Legacy uint8

const (
	// BadgerV1 is the badger store's version 1: days as 4-byte day
	// numbers, no floor in a log record.
	BadgerV1 Legacy = iota + 1
	// JetStreamV1 is the JetStream store's version 1: days as 8-byte
	// Unix seconds of a UTC midnight.
	JetStreamV1
)

const day = 24 * time.Hour

// DayNumber returns the days since the Unix epoch of t (UTC), clamped to
// the range of a uint32.
func DayNumber(t time.Time) uint32 {
	d := t.Unix() / int64(day/time.Second)
	if d < 0 {
		return 0
	}
	if d > math.MaxUint32 {
		return math.MaxUint32
	}
	return uint32(d)
}

// DayTime returns UTC midnight of day number d.
func DayTime(d uint32) time.Time { return time.Unix(int64(d)*int64(day/time.Second), 0).UTC() }

// EncodeMailbox returns the version-2 record of m:
//
//	0x02 || recipient id (24) || sender id (24) || recipient key (32) ||
//	created (4, day number) || last active (4, day number) ||
//	sender credential length (2) || sender credential (0..1024)
//
// Times keep only their day.
func EncodeMailbox(m store.Mailbox) ([]byte, error) {
	if len(m.SenderKey) > MaxSenderKey {
		return nil, fmt.Errorf("record: sender credential of %d bytes is too long", len(m.SenderKey))
	}
	b := make([]byte, 0, mailboxFixed+len(m.SenderKey))
	b = append(b, V2)
	b = append(b, m.RecipientID[:]...)
	b = append(b, m.SenderID[:]...)
	b = append(b, m.RecipientKey[:]...)
	b = binary.BigEndian.AppendUint32(b, DayNumber(m.Created))
	b = binary.BigEndian.AppendUint32(b, DayNumber(m.LastActive))
	b = binary.BigEndian.AppendUint16(b, uint16(len(m.SenderKey)))
	return append(b, m.SenderKey...), nil
}

// DecodeMailbox parses a version-2 mailbox record, or a version-1 record
// of the format legacy names. The result owns no part of b.
func DecodeMailbox(b []byte, legacy Legacy) (store.Mailbox, error) {
	var m store.Mailbox
	if len(b) < 1 {
		return m, ErrMalformed
	}
	var ok bool
	switch {
	case b[0] == V2:
		m, ok = decodeMailbox(b[1:], 4, MaxSenderKey)
	case b[0] == 1 && legacy == BadgerV1:
		m, ok = decodeMailbox(b[1:], 4, math.MaxUint16)
	case b[0] == 1 && legacy == JetStreamV1:
		m, ok = decodeMailbox(b[1:], 8, MaxSenderKey)
	}
	if !ok {
		return store.Mailbox{}, ErrMalformed
	}
	return m, nil
}

// decodeMailbox parses a mailbox record after its version byte, with
// days of daySize bytes (4: day numbers, 8: Unix seconds of the day).
func decodeMailbox(p []byte, daySize, maxKey int) (store.Mailbox, bool) {
	var m store.Mailbox
	if len(p) < 2*store.IDSize+32+2*daySize+2 {
		return m, false
	}
	copy(m.RecipientID[:], p)
	p = p[store.IDSize:]
	copy(m.SenderID[:], p)
	p = p[store.IDSize:]
	copy(m.RecipientKey[:], p)
	p = p[32:]
	var ok1, ok2 bool
	m.Created, ok1 = readDay(p, daySize)
	m.LastActive, ok2 = readDay(p[daySize:], daySize)
	p = p[2*daySize:]
	n := int(binary.BigEndian.Uint16(p))
	p = p[2:]
	if !ok1 || !ok2 || n > maxKey || len(p) != n {
		return store.Mailbox{}, false
	}
	if n > 0 {
		m.SenderKey = append([]byte(nil), p...)
	}
	return m, true
}

// readDay reads a day of size bytes from p: a day number (4) or the Unix
// seconds of a UTC midnight (8), which must be a whole day within
// ±10,000 years of 1970.
func readDay(p []byte, size int) (time.Time, bool) {
	if size == 4 {
		return DayTime(binary.BigEndian.Uint32(p)), true
	}
	const maxUnix = 10000 * 365 * 24 * 3600
	s := int64(binary.BigEndian.Uint64(p))
	if s%int64(day/time.Second) != 0 || s < -maxUnix || s > maxUnix {
		return time.Time{}, false
	}
	return time.Unix(s, 0).UTC(), true
}

// Log is a log's record: its metadata and its floor, the highest entry
// number ever removed from the log (spec/relay-jetstream.md §5.2). A
// store that keeps numbering elsewhere writes 0.
type Log struct {
	store.Log
	Floor uint64
}

// EncodeLog returns the version-2 record of l:
//
//	0x02 || log id (24) || write cap hash (32) || read cap hash (32) ||
//	TTL (8, nanoseconds, > 0) || created (4, day number) || floor (8)
//
// l.TTL must be positive (a programmer error otherwise).
func EncodeLog(l Log) []byte {
	if l.TTL <= 0 {
		panic("record: log TTL must be positive")
	}
	b := make([]byte, 0, logFixed)
	b = append(b, V2)
	b = append(b, l.ID[:]...)
	b = append(b, l.WriteCap[:]...)
	b = append(b, l.ReadCap[:]...)
	b = binary.BigEndian.AppendUint64(b, uint64(l.TTL))
	b = binary.BigEndian.AppendUint32(b, DayNumber(l.Created))
	return binary.BigEndian.AppendUint64(b, l.Floor)
}

// DecodeLog parses a version-2 log record, or a version-1 record of the
// format legacy names.
func DecodeLog(b []byte, legacy Legacy) (Log, error) {
	var l Log
	if len(b) < 1 {
		return l, ErrMalformed
	}
	var ok bool
	switch {
	case b[0] == V2 && len(b) == logFixed:
		l, ok = decodeLog(b[1:], 4, true)
	case b[0] == 1 && legacy == BadgerV1 && len(b) == 1+store.IDSize+64+8+4:
		l, ok = decodeLog(b[1:], 4, false)
	case b[0] == 1 && legacy == JetStreamV1 && len(b) == 1+store.IDSize+64+8+8+8:
		l, ok = decodeLog(b[1:], 8, true)
	}
	if !ok {
		return Log{}, ErrMalformed
	}
	return l, nil
}

// decodeLog parses a log record of the right length after its version
// byte.
func decodeLog(p []byte, daySize int, floor bool) (Log, bool) {
	var l Log
	copy(l.ID[:], p)
	p = p[store.IDSize:]
	copy(l.WriteCap[:], p)
	p = p[32:]
	copy(l.ReadCap[:], p)
	p = p[32:]
	ttl := binary.BigEndian.Uint64(p)
	created, ok := readDay(p[8:], daySize)
	if ttl == 0 || ttl > math.MaxInt64 || !ok {
		return Log{}, false
	}
	l.TTL, l.Created = time.Duration(ttl), created
	if floor {
		l.Floor = binary.BigEndian.Uint64(p[8+daySize:])
	}
	return l, true
}
