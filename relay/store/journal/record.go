package journal

import (
	"encoding/binary"
	"errors"
	"hash/crc32"
	"io"

	"veil/relay/store"
)

// recordCRC is the checksum of a record of segment seg: CRC-32C of the
// segment number and the record's type and payload. A recycled segment
// still holds records of its former life after the new ones; with its
// old number in their checksums, replay stops where the new ones end.
func recordCRC(seg uint32, p []byte) uint32 {
	var n [4]byte
	binary.BigEndian.PutUint32(n[:], seg)
	return crc32.Update(crc32.Checksum(n[:], crcTable), crcTable, p)
}

// appendRecord appends a record of segment seg to buf.
func appendRecord(buf []byte, seg uint32, typ byte, rid store.ID, seq, exp uint64, body []byte) []byte {
	start := len(buf)
	buf = append(buf, 0, 0, 0, 0, 0, 0, 0, 0, typ)
	buf = append(buf, rid[:]...)
	switch typ {
	case recSend:
		buf = binary.BigEndian.AppendUint64(buf, seq)
		buf = binary.BigEndian.AppendUint64(buf, exp)
		buf = append(buf, body...)
	case recAck:
		buf = binary.BigEndian.AppendUint64(buf, seq)
	}
	rec := buf[start+8:]
	binary.BigEndian.PutUint32(buf[start:], uint32(len(rec)))
	binary.BigEndian.PutUint32(buf[start+4:], recordCRC(seg, rec))
	return buf
}

// record is one decoded journal record; body aliases the reader's buffer
// during the callback only.
type record struct {
	typ     byte
	rid     store.ID
	seq     uint64
	exp     uint64
	body    []byte
	bodyOff int64
	// readHash and delHash are a CHUNK record's.
	readHash, delHash [32]byte
}

// readRecords decodes the records of r, which starts at offset off of
// segment seg, calling fn for each, until the input ends, a record is torn
// (short, zero or oversized length, bad checksum, bad type or length for
// its type), or more (when given) returns false before a record. It
// returns the offset after the last good record and whether it stopped at
// a torn one. Only a read error is an error: torn input is not.
func readRecords(r io.Reader, seg uint32, off int64, fn func(record), more ...func(int64) bool) (int64, bool, error) {
	var hdr [recHeader - 1]byte
	var payload []byte
	for {
		if len(more) > 0 && !more[0](off) {
			return off, false, nil
		}
		if _, err := io.ReadFull(r, hdr[:]); err != nil {
			if errors.Is(err, io.EOF) {
				return off, false, nil
			}
			if errors.Is(err, io.ErrUnexpectedEOF) {
				return off, true, nil
			}
			return off, false, err
		}
		n := binary.BigEndian.Uint32(hdr[:4])
		if n == 0 && binary.BigEndian.Uint32(hdr[4:]) == 0 {
			return off, false, nil // zeroes: the end
		}
		if n < 1 || n > maxRecord {
			return off, true, nil
		}
		if cap(payload) < int(n) {
			payload = make([]byte, n)
		}
		payload = payload[:n]
		if _, err := io.ReadFull(r, payload); err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
				return off, true, nil
			}
			return off, false, err
		}
		if recordCRC(seg, payload) != binary.BigEndian.Uint32(hdr[4:]) {
			return off, true, nil
		}
		rec, ok := decodeRecord(payload, off)
		if !ok {
			return off, true, nil
		}
		fn(rec)
		off += int64(len(hdr)) + int64(n)
	}
}

// decodeRecord parses the type and payload of a record that starts at
// offset off of its segment. It never panics.
func decodeRecord(p []byte, off int64) (record, bool) {
	var r record
	if len(p) < 1+store.IDSize {
		return r, false
	}
	r.typ = p[0]
	p = p[1:]
	copy(r.rid[:], p)
	switch r.typ {
	case recSend:
		if len(p) < sendFixed {
			return r, false
		}
		r.seq = binary.BigEndian.Uint64(p[store.IDSize:])
		r.exp = binary.BigEndian.Uint64(p[store.IDSize+8:])
		r.body = p[sendFixed:]
		r.bodyOff = off + recHeader + sendFixed
	case recAck:
		if len(p) != ackLen {
			return r, false
		}
		r.seq = binary.BigEndian.Uint64(p[store.IDSize:])
	case recDrop, recChunkDrop:
		if len(p) != dropLen {
			return r, false
		}
	case recChunk:
		if len(p) < chunkFixed {
			return r, false
		}
		copy(r.readHash[:], p[store.IDSize:])
		copy(r.delHash[:], p[store.IDSize+32:])
		r.exp = binary.BigEndian.Uint64(p[store.IDSize+64:])
		r.body = p[chunkFixed:]
		r.bodyOff = off + recHeader + chunkFixed
	default:
		return r, false
	}
	return r, true
}
