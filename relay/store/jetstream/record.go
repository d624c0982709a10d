package jetstream

import (
	"encoding/binary"
	"errors"
	"math"
	"strconv"
	"time"

	"veil/relay/store"
	"veil/relay/store/record"
)

// Record formats (spec/relay-jetstream.md §4). Every record starts with a
// version byte so a later format can be told apart; decoders refuse
// anything they do not know exactly. Mailbox and log records are the
// stores' common format (package record); the others are this store's.
const (
	recordV1 = 1
	// recordTaken starts the value that replaces a taken blob: the
	// reservation of its ID until its deadline (spec §6.2).
	recordTaken = 2
	// blobFixed: version, deadline.
	blobFixed = 1 + 8
	// maxUnix bounds stored times to ±10,000 years around 1970 in
	// seconds, far outside anything a relay writes, so arithmetic on them
	// cannot overflow.
	maxUnix = 10000 * 365 * 24 * 3600
)

var errRecord = errors.New("jetstream: malformed record")

// encodeMailbox returns the KV value of a mailbox (§4.1). The caller has
// checked the sender credential against record.MaxSenderKey.
func encodeMailbox(m store.Mailbox) []byte {
	b, err := record.EncodeMailbox(m)
	if err != nil {
		panic(err) // a programmer error: see above
	}
	return b
}

// decodeMailbox parses a mailbox record, version 2 or this store's
// version 1; the result owns no part of b.
func decodeMailbox(b []byte) (store.Mailbox, error) {
	m, err := record.DecodeMailbox(b, record.JetStreamV1)
	if err != nil {
		return m, errRecord
	}
	return m, nil
}

// decodeLog parses a log record (§5.1), version 2 or this store's
// version 1.
func decodeLog(b []byte) (record.Log, error) {
	l, err := record.DecodeLog(b, record.JetStreamV1)
	if err != nil {
		return l, errRecord
	}
	return l, nil
}

// chunkFixed: version, read hash, delete hash, deadline.
const chunkFixed = 1 + 32 + 32 + 8

// encodeChunk returns a chunk's KV value (§6.3): the hashes of its
// capabilities, its deadline (Unix ms), then the body.
func encodeChunk(c *store.Chunk) []byte {
	b := make([]byte, 0, chunkFixed+len(c.Body))
	b = append(b, recordV1)
	b = append(b, c.ReadCap[:]...)
	b = append(b, c.DelCap[:]...)
	b = binary.BigEndian.AppendUint64(b, uint64(c.Expires.UnixMilli()))
	return append(b, c.Body...)
}

// decodeChunk parses a chunk's KV value; the body aliases b.
func decodeChunk(b []byte) (store.Chunk, error) {
	if len(b) < chunkFixed || b[0] != recordV1 {
		return store.Chunk{}, errRecord
	}
	ms := int64(binary.BigEndian.Uint64(b[65:]))
	if ms < -maxUnix*1000 || ms > maxUnix*1000 {
		return store.Chunk{}, errRecord
	}
	var c store.Chunk
	copy(c.ReadCap[:], b[1:])
	copy(c.DelCap[:], b[33:])
	c.Expires = time.UnixMilli(ms)
	c.Body = b[chunkFixed:]
	return c, nil
}

// encodeBlob returns a blob's KV value: its deadline, then the body.
func encodeBlob(body []byte, deadline time.Time) []byte {
	b := make([]byte, 0, blobFixed+len(body))
	b = append(b, recordV1)
	b = binary.BigEndian.AppendUint64(b, uint64(deadline.UnixMilli()))
	return append(b, body...)
}

// encodeTaken returns the value that replaces a taken blob: its deadline
// and no body.
func encodeTaken(deadline time.Time) []byte {
	b := make([]byte, 0, blobFixed)
	b = append(b, recordTaken)
	return binary.BigEndian.AppendUint64(b, uint64(deadline.UnixMilli()))
}

// decodeBlob parses a blob value or a taken blob's reservation (taken
// set, no body); body aliases b.
func decodeBlob(b []byte) (body []byte, deadline time.Time, taken bool, err error) {
	if len(b) < blobFixed || (b[0] != recordV1 && b[0] != recordTaken) {
		return nil, time.Time{}, false, errRecord
	}
	taken = b[0] == recordTaken
	if taken && len(b) != blobFixed {
		return nil, time.Time{}, false, errRecord
	}
	ms := int64(binary.BigEndian.Uint64(b[1:]))
	if ms < -maxUnix*1000 || ms > maxUnix*1000 {
		return nil, time.Time{}, false, errRecord
	}
	return b[blobFixed:], time.UnixMilli(ms), taken, nil
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
