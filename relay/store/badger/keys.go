package badger

import (
	"encoding/binary"
	"errors"
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
	prefixTaken   = 't' // t | bid            → empty: a taken blob's ID, reserved until its deadline (expires natively)
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

var errCorrupt = errors.New("badger: corrupt record")

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
