package jetstream

import (
	"encoding/binary"
	"errors"
	"math"
	"strconv"
	"time"

	"veil/relay/store"
)

// Record formats (spec/relay-jetstream.md §4). Every record starts with a
// version byte so a later format can be told apart; decoders refuse
// anything they do not know exactly.
const (
	recordV1 = 1

	// mailboxFixed is the size of a mailbox record without the sender key:
	// version, recipient ID, sender ID, recipient key, created, last
	// active, sender key length.
	mailboxFixed = 1 + store.IDSize + store.IDSize + 32 + 8 + 8 + 2
	// maxSenderKey bounds the sender credential a record can hold.
	maxSenderKey = 1024
	// logFixed: version, ID, write cap, read cap, TTL, created, floor.
	logFixed = 1 + store.IDSize + 32 + 32 + 8 + 8 + 8
	// blobFixed: version, deadline.
	blobFixed = 1 + 8
)

var errRecord = errors.New("jetstream: malformed record")

// encodeMailbox returns the KV value of a mailbox (§4.1). Times are kept
// as Unix seconds of the UTC day.
func encodeMailbox(m store.Mailbox) []byte {
	b := make([]byte, 0, mailboxFixed+len(m.SenderKey))
	b = append(b, recordV1)
	b = append(b, m.RecipientID[:]...)
	b = append(b, m.SenderID[:]...)
	b = append(b, m.RecipientKey[:]...)
	b = binary.BigEndian.AppendUint64(b, uint64(m.Created.Unix()))
	b = binary.BigEndian.AppendUint64(b, uint64(m.LastActive.Unix()))
	b = binary.BigEndian.AppendUint16(b, uint16(len(m.SenderKey)))
	return append(b, m.SenderKey...)
}

// decodeMailbox parses a mailbox record; the result owns no part of b.
func decodeMailbox(b []byte) (store.Mailbox, error) {
	var m store.Mailbox
	if len(b) < mailboxFixed || b[0] != recordV1 {
		return m, errRecord
	}
	p := b[1:]
	copy(m.RecipientID[:], p)
	p = p[store.IDSize:]
	copy(m.SenderID[:], p)
	p = p[store.IDSize:]
	copy(m.RecipientKey[:], p)
	p = p[32:]
	created, ok1 := unixDay(binary.BigEndian.Uint64(p))
	last, ok2 := unixDay(binary.BigEndian.Uint64(p[8:]))
	n := int(binary.BigEndian.Uint16(p[16:]))
	p = p[18:]
	if !ok1 || !ok2 || n > maxSenderKey || len(p) != n {
		return store.Mailbox{}, errRecord
	}
	m.Created, m.LastActive = created, last
	if n > 0 {
		m.SenderKey = append([]byte(nil), p...)
	}
	return m, nil
}

// unixDay converts stored seconds back to a UTC time; it refuses values
// that are not whole days, so a record round-trips exactly.
func unixDay(v uint64) (time.Time, bool) {
	s := int64(v)
	if s%int64(day/time.Second) != 0 || s < -maxUnix || s > maxUnix {
		return time.Time{}, false
	}
	return time.Unix(s, 0).UTC(), true
}

// maxUnix bounds stored times to ±10,000 years around 1970, far outside
// anything a relay writes, so arithmetic on them cannot overflow.
const maxUnix = 10000 * 365 * 24 * 3600

// logRecord is a log's metadata plus its floor: the highest entry number
// ever removed from the log's subject, so numbering continues after every
// entry has expired (§5.2).
type logRecord struct {
	store.Log
	Floor uint64
}

func encodeLog(l logRecord) []byte {
	b := make([]byte, 0, logFixed)
	b = append(b, recordV1)
	b = append(b, l.ID[:]...)
	b = append(b, l.WriteCap[:]...)
	b = append(b, l.ReadCap[:]...)
	b = binary.BigEndian.AppendUint64(b, uint64(l.TTL))
	b = binary.BigEndian.AppendUint64(b, uint64(l.Created.Unix()))
	return binary.BigEndian.AppendUint64(b, l.Floor)
}

func decodeLog(b []byte) (logRecord, error) {
	var l logRecord
	if len(b) != logFixed || b[0] != recordV1 {
		return l, errRecord
	}
	p := b[1:]
	copy(l.ID[:], p)
	p = p[store.IDSize:]
	copy(l.WriteCap[:], p)
	p = p[32:]
	copy(l.ReadCap[:], p)
	p = p[32:]
	ttl := int64(binary.BigEndian.Uint64(p))
	created, ok := unixDay(binary.BigEndian.Uint64(p[8:]))
	if ttl <= 0 || !ok {
		return logRecord{}, errRecord
	}
	l.TTL, l.Created = time.Duration(ttl), created
	l.Floor = binary.BigEndian.Uint64(p[16:])
	return l, nil
}

// encodeBlob returns a blob's KV value: its deadline, then the body.
func encodeBlob(body []byte, deadline time.Time) []byte {
	b := make([]byte, 0, blobFixed+len(body))
	b = append(b, recordV1)
	b = binary.BigEndian.AppendUint64(b, uint64(deadline.UnixMilli()))
	return append(b, body...)
}

// decodeBlob parses a blob value; body aliases b.
func decodeBlob(b []byte) (body []byte, deadline time.Time, err error) {
	if len(b) < blobFixed || b[0] != recordV1 {
		return nil, time.Time{}, errRecord
	}
	ms := int64(binary.BigEndian.Uint64(b[1:]))
	if ms < -maxUnix*1000 || ms > maxUnix*1000 {
		return nil, time.Time{}, errRecord
	}
	return b[blobFixed:], time.UnixMilli(ms), nil
}

// Header values carried by stored messages and log entries (§3.2).
const (
	hdrExpires = "Veil-Exp" // Unix milliseconds, decimal
	hdrSeq     = "Veil-Seq" // log entry number, decimal
)

func formatUint(v uint64) string { return strconv.FormatUint(v, 10) }

// parseUint accepts only the canonical decimal form formatUint writes.
func parseUint(s string) (uint64, error) {
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil || formatUint(v) != s {
		return 0, errRecord
	}
	return v, nil
}

func formatMillis(t time.Time) string { return formatUint(uint64(max(t.UnixMilli(), 0))) }

func parseMillis(s string) (time.Time, error) {
	v, err := parseUint(s)
	if err != nil || v > math.MaxInt64/2 {
		return time.Time{}, errRecord
	}
	return time.UnixMilli(int64(v)), nil
}
