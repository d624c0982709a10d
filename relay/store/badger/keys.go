package badger

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"time"

	"veil/relay/store"
)

// Key layout. Every key is one prefix byte followed by random IDs and, for
// records in a sequence, a big-endian sequence number, so the keys show
// nothing but the IDs the relay hands out and how many records each has
// seen. Times live in values (day granularity) and in Badger's own expiry
// field.
const (
	prefixMailbox = 'm' // m | rid            → mailbox record
	prefixSender  = 's' // s | sid            → rid
	prefixBoxSeq  = 'q' // q | rid            → seq reservation (uint64): no seq above it handed out
	prefixMessage = 'M' // M | rid | seq      → body, expires natively
	prefixLog     = 'l' // l | lid            → log record
	prefixLogSeq  = 'L' // L | lid            → last entry seq (uint64)
	prefixEntry   = 'E' // E | lid | seq      → body, expires natively
	prefixBlob    = 'b' // b | bid            → body, expires natively
	prefixActive  = 'a' // a | day | rid      → empty: the idle index
)

// activeKey is the idle-index key of mailbox rid, last active on day d
// (days since the Unix epoch, big-endian, so keys sort by day).
func activeKey(d uint32, rid store.ID) []byte {
	k := make([]byte, 1+4+store.IDSize)
	k[0] = prefixActive
	binary.BigEndian.PutUint32(k[1:], d)
	copy(k[5:], rid[:])
	return k
}

// parseActiveKey splits an idle-index key.
func parseActiveKey(k []byte) (uint32, store.ID, bool) {
	var rid store.ID
	if len(k) != 1+4+store.IDSize || k[0] != prefixActive {
		return 0, rid, false
	}
	copy(rid[:], k[5:])
	return binary.BigEndian.Uint32(k[1:]), rid, true
}

const idKeyLen = 1 + store.IDSize

func idKey(prefix byte, id store.ID) []byte {
	k := make([]byte, idKeyLen)
	k[0] = prefix
	copy(k[1:], id[:])
	return k
}

func seqKey(prefix byte, id store.ID, seq uint64) []byte {
	k := make([]byte, idKeyLen+8)
	k[0] = prefix
	copy(k[1:], id[:])
	binary.BigEndian.PutUint64(k[idKeyLen:], seq)
	return k
}

// parseSeqKey splits a message or entry key.
func parseSeqKey(k []byte) (store.ID, uint64, bool) {
	var id store.ID
	if len(k) != idKeyLen+8 {
		return id, 0, false
	}
	copy(id[:], k[1:idKeyLen])
	return id, binary.BigEndian.Uint64(k[idKeyLen:]), true
}

func encodeUint64(v uint64) []byte { return binary.BigEndian.AppendUint64(nil, v) }

func decodeUint64(b []byte) (uint64, error) {
	if len(b) != 8 {
		return 0, errors.New("badger: corrupt counter record")
	}
	return binary.BigEndian.Uint64(b), nil
}

// Record formats. The first byte is the format version.
const (
	mailboxV1 = 1
	logV1     = 1
	// mailboxFixed is the size of a version-1 mailbox record without the
	// sender key: version, rid, sid, recipient key, created day, last
	// active day, sender key length.
	mailboxFixed = 1 + 2*store.IDSize + 32 + 4 + 4 + 2
	logLen       = 1 + store.IDSize + 32 + 32 + 8 + 4
	maxSenderKey = math.MaxUint16
)

const day = 24 * time.Hour

// dayNumber returns the days since the Unix epoch of t (UTC).
func dayNumber(t time.Time) uint32 {
	d := t.Unix() / int64(day/time.Second)
	if d < 0 {
		return 0
	}
	if d > math.MaxUint32 {
		return math.MaxUint32
	}
	return uint32(d)
}

func dayTime(d uint32) time.Time { return time.Unix(int64(d)*int64(day/time.Second), 0).UTC() }

var errCorrupt = errors.New("badger: corrupt record")

func encodeMailbox(m store.Mailbox) ([]byte, error) {
	if len(m.SenderKey) > maxSenderKey {
		return nil, fmt.Errorf("badger: sender key of %d bytes is too long", len(m.SenderKey))
	}
	b := make([]byte, 0, mailboxFixed+len(m.SenderKey))
	b = append(b, mailboxV1)
	b = append(b, m.RecipientID[:]...)
	b = append(b, m.SenderID[:]...)
	b = append(b, m.RecipientKey[:]...)
	b = binary.BigEndian.AppendUint32(b, dayNumber(m.Created))
	b = binary.BigEndian.AppendUint32(b, dayNumber(m.LastActive))
	b = binary.BigEndian.AppendUint16(b, uint16(len(m.SenderKey)))
	return append(b, m.SenderKey...), nil
}

// decodeMailbox parses a mailbox record. It returns an error, never
// panics, on any input.
func decodeMailbox(b []byte) (store.Mailbox, error) {
	var m store.Mailbox
	if len(b) < mailboxFixed || b[0] != mailboxV1 {
		return m, errCorrupt
	}
	p := b[1:]
	copy(m.RecipientID[:], p)
	p = p[store.IDSize:]
	copy(m.SenderID[:], p)
	p = p[store.IDSize:]
	copy(m.RecipientKey[:], p)
	p = p[32:]
	m.Created = dayTime(binary.BigEndian.Uint32(p))
	m.LastActive = dayTime(binary.BigEndian.Uint32(p[4:]))
	n := int(binary.BigEndian.Uint16(p[8:]))
	p = p[10:]
	if len(p) != n {
		return store.Mailbox{}, errCorrupt
	}
	if n > 0 {
		m.SenderKey = append([]byte(nil), p...)
	}
	return m, nil
}

func encodeLog(l store.Log) []byte {
	b := make([]byte, 0, logLen)
	b = append(b, logV1)
	b = append(b, l.ID[:]...)
	b = append(b, l.WriteCap[:]...)
	b = append(b, l.ReadCap[:]...)
	b = binary.BigEndian.AppendUint64(b, uint64(l.TTL))
	return binary.BigEndian.AppendUint32(b, dayNumber(l.Created))
}

// decodeLog parses a log record. It returns an error, never panics, on
// any input.
func decodeLog(b []byte) (store.Log, error) {
	var l store.Log
	if len(b) != logLen || b[0] != logV1 {
		return l, errCorrupt
	}
	p := b[1:]
	copy(l.ID[:], p)
	p = p[store.IDSize:]
	copy(l.WriteCap[:], p)
	p = p[32:]
	copy(l.ReadCap[:], p)
	p = p[32:]
	ttl := binary.BigEndian.Uint64(p)
	if ttl > math.MaxInt64 || ttl == 0 {
		return store.Log{}, errCorrupt
	}
	l.TTL = time.Duration(ttl)
	l.Created = dayTime(binary.BigEndian.Uint32(p[8:]))
	return l, nil
}

// expiresAt returns Badger's expiry for t: Unix seconds, rounded up so a
// record never disappears before its time.
func expiresAt(t time.Time) uint64 {
	s := t.Unix()
	if t.Nanosecond() > 0 {
		s++
	}
	if s < 1 {
		return 1 // zero would mean "never expires"
	}
	return uint64(s)
}

// expired reports whether a record with Badger expiry e is gone at now.
func expired(e uint64, now time.Time) bool {
	return e != 0 && e <= uint64(max(now.Unix(), 0))
}
