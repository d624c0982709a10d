// Package journal is the message journal of the badger store: it holds
// every mailbox message and every file chunk (chunks.go), and Badger
// holds the rest (mailboxes, sequence
// reservations, logs, blobs). A message is short-lived
// (sent, delivered, acknowledged within milliseconds when its recipient is
// online), and in an LSM tree each one costs a memtable insert, a
// tombstone and a share of every memtable flush; the flushes stall the
// group commit for tens of milliseconds. In the journal a message costs
// one append on SEND and a small one on ACK, and a whole segment is
// deleted once nothing in it is live.
//
// The journal is a directory of segment files, numbered in the order they
// were written. Each starts with a 16-byte header (segMagic and its
// number) followed by records:
//
//	length  uint32  bytes of type and payload
//	crc     uint32  CRC-32C of type and payload
//	type    uint8   recSend, recAck, recDrop, recChunk or recChunkDrop
//	payload         SEND: rid, seq, expiry (Unix s), body
//	                ACK:  rid, seq
//	                DROP: rid (every earlier message of the mailbox)
//	                CHUNK: chunk ID, read hash, delete hash, expiry, body
//	                CHUNKDROP: chunk ID
//
// The writer appends the records of one group commit with one write and
// one fdatasync, after the group's Badger transaction (which holds any
// sequence reservation a SEND needs) has committed. Replay reads the
// segments in order and stops reading a segment at its first record that
// is short, has a bad length or a bad checksum: that is the tail of a
// group whose write was cut off, which nobody was told had happened.
//
// Segments are deleted oldest first, so an ACK or DROP never outlives a
// record it cancels. When more than half of the sealed segments' bytes are
// dead, the writer copies the live messages of the oldest segment to the
// head (a few hundred KiB per group) until it holds none and can go.
//
// Every live message has an entry in the in-memory index (about 32 bytes),
// rebuilt by replay when the store opens; readers take the bodies from the
// segment files with pread.
//
// A Journal has one writer (the store's writer goroutine), which calls
// the Append methods, Commit, Publish, Reclaim, Rotate and MoveForward in
// turn; Pending, Has, Len, LastSeq and Expiring may be called from any
// goroutine. Expiry times are Unix seconds with 0 meaning never, as the
// badger store keeps them.
package journal

import (
	"bufio"
	"cmp"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"veil/relay/store"
)

const (
	segSuffix = ".seg"
	segMagic  = "veil-jr1"
	segHeader = len(segMagic) + 8
	recHeader = 4 + 4 + 1
	recSend   = 1
	recAck    = 2
	recDrop   = 3
	// recChunk and recChunkDrop hold file chunks (chunks.go).
	recChunk     = 4
	recChunkDrop = 5
	sendFixed    = store.IDSize + 8 + 8
	chunkFixed   = store.IDSize + 32 + 32 + 8
	ackLen       = store.IDSize + 8
	dropLen      = store.IDSize
	maxRecord    = 1 + sendFixed + MaxBody
	// MaxBody is the largest message body a record holds.
	MaxBody = 1 << 20
	// moveBytes bounds the bytes of live messages one group copies
	// forward from the oldest segment.
	moveBytes = 256 << 10
)

// Segments are created full of zeroes. The first a journal creates is
// Options.MinSegment bytes, and each new one twice the last, up to
// Options.MaxSegment: a store that sees little traffic (tests, the relay
// veil embeds) keeps small files, a busy one reaches the full size within
// seconds. A segment is full once its records pass its size.
const (
	MinSegment = 1 << 20  // default Options.MinSegment
	MaxSegment = 64 << 20 // default Options.MaxSegment
)

// Options sizes a journal's segments.
type Options struct {
	// Quota is the store's storage quota in bytes; 0 means none. A busy
	// journal holds about four full segments (the head, the next one and
	// two spares): a sixteenth of the quota each at most, so a small
	// quota is not taken up by segments written in advance.
	Quota int64
	// MinSegment and MaxSegment are the sizes of the first and of a
	// full-grown segment; zero means MinSegment and MaxSegment.
	MinSegment, MaxSegment int64
}

// maxSegment returns the size of a full-grown segment under o.
func (o Options) maxSegment() int64 {
	m := cmp.Or(o.MaxSegment, MaxSegment)
	if o.Quota > 0 {
		m = max(o.minSegment(), min(m, o.Quota/16))
	}
	return m
}

func (o Options) minSegment() int64 { return cmp.Or(o.MinSegment, MinSegment) }

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// jmsg is the index entry of one live message: where its body is.
type jmsg struct {
	seq uint64
	exp uint64 // Unix seconds (expiresAt)
	off int64  // offset of the body in its segment
	seg uint32 // segment number
	n   uint32 // body length
}

// recordLen is the length on disk of m's SEND record.
func (m jmsg) recordLen() int64 { return int64(recHeader + sendFixed + int(m.n)) }

// jbox is the index of one mailbox: its live messages in seq order, of
// which readers see those up to visible (the rest belong to a group not
// yet durable).
type jbox struct {
	msgs    []jmsg
	visible uint64
}

func (b *jbox) find(seq uint64) (int, bool) {
	return slices.BinarySearchFunc(b.msgs, seq, func(m jmsg, seq uint64) int { return cmp.Compare(m.seq, seq) })
}

type segment struct {
	num  uint32
	f    *os.File
	cap  int64 // the file's size when it was created: full past it
	size int64 // bytes written (writer only after open)
	live int64 // bytes of SEND records still indexed (writer only)
	// deadChunks is the bytes of chunk bodies here no longer live
	// (deleted, expired or moved forward); guarded by Journal.mu.
	deadChunks int64
}

// relocation is a message copied forward in the group in the making.
type relocation struct {
	rid      store.ID
	seq      uint64
	from, to uint32
	off      int64 // new body offset (a chunk's: of its read hash)
	chunk    bool  // a chunk (rid is its ID), not a message
}

// Journal is an open message journal.
type Journal struct {
	dir string

	// mu guards boxes (and every jbox in it) and segs. The writer changes
	// them under mu; readers hold it shared.
	mu    sync.RWMutex
	boxes map[store.ID]*jbox
	segs  []*segment // oldest first; the last is the head, written to
	// chunks is the index of live file chunks (chunks.go), chunkBytes
	// the bytes of their bodies, chunkDead the bytes of chunk bodies in
	// the sealed segments that are no longer live but still on disk.
	chunks     map[store.ID]jchunk
	chunkBytes int64
	chunkDead  int64

	// The fields below belong to the writer goroutine.
	buf       []byte        // records of the group in the making
	records   int           // the records in buf
	moved     []relocation  // copies in buf, applied to the index once durable
	newChunks []store.ID    // chunks in buf, made visible once durable
	cleanAt   int64         // how far the oldest segment has been scanned for moves
	sealed    int64         // bytes of the sealed segments
	live      int64         // live bytes of the sealed segments
	torn      int           // segments whose replay stopped at a bad record
	next      chan prepared // the next segment, being created; nil if none
	nextNum   uint32
	hurry     chan struct{} // closed to make the next segment without pauses; nil once closed
	spares    []*segment    // dead segments kept for reuse, under their old names
	want      int64         // size of the last new segment
	maxSeg    int64         // size of a full-grown one
	minSeg    int64         // size of the first
	quit      chan struct{} // closed by Close: stops a segment being created
}

// Open opens the journal in dir, creating it, replays it (skipping
// messages expired at now) and starts a new head segment. The caller
// must Close it.
func Open(dir string, opts Options, now time.Time) (*Journal, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("journal: %w", err)
	}
	if err := syncDir(filepath.Dir(dir)); err != nil { // the journal's own name
		return nil, fmt.Errorf("journal: %w", err)
	}
	names, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("journal: %w", err)
	}
	j := &Journal{dir: dir, maxSeg: opts.maxSegment(), minSeg: opts.minSegment(), boxes: map[store.ID]*jbox{}, chunks: map[store.ID]jchunk{}, quit: make(chan struct{})}
	var nums []uint32
	for _, e := range names {
		n, ok := parseSegName(e.Name())
		if !ok {
			continue
		}
		nums = append(nums, n)
	}
	slices.Sort(nums)
	ok := false
	defer func() {
		if !ok {
			j.Close()
		}
	}()
	for i, n := range nums {
		if err := j.replay(n, i == len(nums)-1, now); err != nil {
			return nil, err
		}
	}
	next := uint32(1)
	if len(j.segs) > 0 {
		next = j.segs[len(j.segs)-1].num + 1
	}
	// Replay may have stopped inside the last segment: nothing is ever
	// appended after a torn record, the head is always new.
	if err := j.newHead(next); err != nil {
		return nil, err
	}
	ok = true
	return j, nil
}

func segName(n uint32) string { return fmt.Sprintf("%08x%s", n, segSuffix) }

func parseSegName(name string) (uint32, bool) {
	hex, ok := strings.CutSuffix(name, segSuffix)
	if !ok || len(hex) != 8 {
		return 0, false
	}
	n, err := strconv.ParseUint(hex, 16, 32)
	return uint32(n), err == nil && n > 0
}

// replay adds segment n's records to the index. A segment whose header
// is cut short (the newest: a crash while it was being created) or
// numbered 0 (retired: markDead) holds nothing and is removed; any other
// header that does not name the file is an error.
func (j *Journal) replay(n uint32, newest bool, now time.Time) error {
	path := filepath.Join(j.dir, segName(n))
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return fmt.Errorf("journal: %w", err)
	}
	var hdr [segHeader]byte
	_, err = io.ReadFull(f, hdr[:])
	short := err != nil
	num := binary.BigEndian.Uint64(hdr[len(segMagic):])
	if short && newest || !short && string(hdr[:len(segMagic)]) == segMagic && num == 0 {
		f.Close()
		if err := os.Remove(path); err != nil {
			return fmt.Errorf("journal: %w", err)
		}
		return nil
	}
	if short || string(hdr[:len(segMagic)]) != segMagic || num != uint64(n) {
		f.Close()
		return fmt.Errorf("journal: segment %s has a bad header", segName(n))
	}
	info, err := f.Stat()
	if err != nil {
		f.Close()
		return fmt.Errorf("journal: %w", err)
	}
	seg := &segment{num: n, f: f, cap: info.Size()}
	j.segs = append(j.segs, seg)
	end, torn, err := readRecords(bufio.NewReaderSize(f, 1<<20), n, int64(segHeader), func(r record) {
		j.replayRecord(seg, r, now)
	})
	if err != nil {
		return fmt.Errorf("journal: segment %s: %w", segName(n), err)
	}
	if torn {
		j.torn++
	}
	seg.size = end
	return nil
}

func (j *Journal) replayRecord(seg *segment, r record, now time.Time) {
	switch r.typ {
	case recSend:
		if expired(r.exp, now) {
			return
		}
		m := jmsg{seq: r.seq, exp: r.exp, off: r.bodyOff, seg: seg.num, n: uint32(len(r.body))}
		b := j.box(r.rid)
		i, found := b.find(r.seq)
		if found {
			// A copy moved forward whose original was not deleted yet.
			j.segByNum(b.msgs[i].seg).live -= b.msgs[i].recordLen()
			b.msgs[i] = m
		} else {
			b.msgs = slices.Insert(b.msgs, i, m)
		}
		seg.live += m.recordLen()
		b.visible = max(b.visible, r.seq)
	case recAck:
		if b := j.boxes[r.rid]; b != nil {
			if i, ok := b.find(r.seq); ok {
				j.unlink(r.rid, b, i)
			}
		}
	case recDrop:
		j.dropBox(r.rid)
	case recChunk, recChunkDrop:
		j.replayChunk(seg, r, now)
	}
}

// box returns the index of mailbox rid, creating it.
func (j *Journal) box(rid store.ID) *jbox {
	b := j.boxes[rid]
	if b == nil {
		b = &jbox{}
		j.boxes[rid] = b
	}
	return b
}

func (j *Journal) segByNum(n uint32) *segment {
	i, ok := slices.BinarySearchFunc(j.segs, n, func(s *segment, n uint32) int { return cmp.Compare(s.num, n) })
	if !ok {
		return nil
	}
	return j.segs[i]
}

// unlink removes b.msgs[i], of mailbox rid, from the index, and the
// mailbox's index once empty. The caller holds mu (or is replaying).
func (j *Journal) unlink(rid store.ID, b *jbox, i int) {
	m := b.msgs[i]
	if s := j.segByNum(m.seg); s != nil {
		s.live -= m.recordLen()
		if s != j.head() {
			j.live -= m.recordLen()
		}
	}
	if i == 0 {
		b.msgs = b.msgs[1:]
	} else {
		b.msgs = slices.Delete(b.msgs, i, i+1)
	}
	if len(b.msgs) == 0 {
		delete(j.boxes, rid) // a later SEND starts a new one, invisible until published
	}
}

// dropBox removes every message of rid from the index; it reports whether
// there were any.
func (j *Journal) dropBox(rid store.ID) bool {
	b := j.boxes[rid]
	if b == nil {
		return false
	}
	for len(b.msgs) > 0 {
		j.unlink(rid, b, len(b.msgs)-1)
	}
	delete(j.boxes, rid)
	return true
}

func (j *Journal) head() *segment {
	if len(j.segs) == 0 {
		return nil
	}
	return j.segs[len(j.segs)-1]
}
