package badger

import (
	"bufio"
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"veil/relay/store"
)

// The message journal holds every mailbox message; Badger holds the rest
// (mailboxes, sequence reservations, logs, blobs). A message is short-lived
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
//	type    uint8   recSend, recAck or recDrop
//	payload         SEND: rid, seq, expiry (Unix s), body
//	                ACK:  rid, seq
//	                DROP: rid (every earlier message of the mailbox)
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
const (
	journalDir = "journal"
	segSuffix  = ".seg"
	segMagic   = "veil-jr1"
	segHeader  = len(segMagic) + 8
	recHeader  = 4 + 4 + 1
	recSend    = 1
	recAck     = 2
	recDrop    = 3
	sendFixed  = store.IDSize + 8 + 8
	ackLen     = store.IDSize + 8
	dropLen    = store.IDSize
	maxRecord  = 1 + sendFixed + MaxBody
	// moveBytes bounds the bytes of live messages one group copies
	// forward from the oldest segment.
	moveBytes = 256 << 10
)

// Segments are created full of zeroes. The first a store creates is
// minSegment bytes, and each new one twice the last, up to segmentSize: a
// store that sees little traffic (tests, the relay veil embeds) keeps
// small files, a busy one reaches the full size within seconds. A segment
// is full once its records pass its size. Variables so that tests can
// make them small.
var (
	minSegment  int64 = 1 << 20
	segmentSize int64 = 64 << 20
)

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
}

// relocation is a message copied forward in the group in the making.
type relocation struct {
	rid      store.ID
	seq      uint64
	from, to uint32
	off      int64 // new body offset
}

type journal struct {
	dir string

	// mu guards boxes (and every jbox in it) and segs. The writer changes
	// them under mu; readers hold it shared.
	mu    sync.RWMutex
	boxes map[store.ID]*jbox
	segs  []*segment // oldest first; the last is the head, written to

	// The fields below belong to the writer goroutine.
	buf     []byte        // records of the group in the making
	records int           // the records in buf
	moved   []relocation  // copies in buf, applied to the index once durable
	cleanAt int64         // how far the oldest segment has been scanned for moves
	sealed  int64         // bytes of the sealed segments
	live    int64         // live bytes of the sealed segments
	torn    int           // segments whose replay stopped at a bad record
	next    chan prepared // the next segment, being created; nil if none
	nextNum uint32
	spares  []*segment    // dead segments kept for reuse, under their old names
	want    int64         // size of the last new segment
	maxSeg  int64         // size of a full-grown one
	quit    chan struct{} // closed by closeFiles: stops a segment being created
}

// openJournal opens the journal in dir, replays it (skipping messages
// expired at now) and starts a new head segment. New segments grow up to
// maxSeg bytes.
func openJournal(dir string, maxSeg int64, now time.Time) (*journal, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("badger: journal: %w", err)
	}
	if err := syncDir(filepath.Dir(dir)); err != nil { // the journal's own name
		return nil, fmt.Errorf("badger: journal: %w", err)
	}
	names, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("badger: journal: %w", err)
	}
	j := &journal{dir: dir, maxSeg: maxSeg, boxes: map[store.ID]*jbox{}, quit: make(chan struct{})}
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
			j.closeFiles()
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
func (j *journal) replay(n uint32, newest bool, now time.Time) error {
	path := filepath.Join(j.dir, segName(n))
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return fmt.Errorf("badger: journal: %w", err)
	}
	var hdr [segHeader]byte
	_, err = io.ReadFull(f, hdr[:])
	short := err != nil
	num := binary.BigEndian.Uint64(hdr[len(segMagic):])
	if short && newest || !short && string(hdr[:len(segMagic)]) == segMagic && num == 0 {
		f.Close()
		if err := os.Remove(path); err != nil {
			return fmt.Errorf("badger: journal: %w", err)
		}
		return nil
	}
	if short || string(hdr[:len(segMagic)]) != segMagic || num != uint64(n) {
		f.Close()
		return fmt.Errorf("badger: journal segment %s has a bad header", segName(n))
	}
	info, err := f.Stat()
	if err != nil {
		f.Close()
		return fmt.Errorf("badger: journal: %w", err)
	}
	seg := &segment{num: n, f: f, cap: info.Size()}
	j.segs = append(j.segs, seg)
	end, torn, err := readRecords(bufio.NewReaderSize(f, 1<<20), n, int64(segHeader), func(r record) {
		j.replayRecord(seg, r, now)
	})
	if err != nil {
		return fmt.Errorf("badger: journal segment %s: %w", segName(n), err)
	}
	if torn {
		j.torn++
	}
	seg.size = end
	return nil
}

func (j *journal) replayRecord(seg *segment, r record, now time.Time) {
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
	}
}

// box returns the index of mailbox rid, creating it.
func (j *journal) box(rid store.ID) *jbox {
	b := j.boxes[rid]
	if b == nil {
		b = &jbox{}
		j.boxes[rid] = b
	}
	return b
}

func (j *journal) segByNum(n uint32) *segment {
	i, ok := slices.BinarySearchFunc(j.segs, n, func(s *segment, n uint32) int { return cmp.Compare(s.num, n) })
	if !ok {
		return nil
	}
	return j.segs[i]
}

// unlink removes b.msgs[i], of mailbox rid, from the index, and the
// mailbox's index once empty. The caller holds mu (or is replaying).
func (j *journal) unlink(rid store.ID, b *jbox, i int) {
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
func (j *journal) dropBox(rid store.ID) bool {
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

func (j *journal) head() *segment {
	if len(j.segs) == 0 {
		return nil
	}
	return j.segs[len(j.segs)-1]
}

// newHead seals the head (if any) and starts segment n, the one prepared
// in the background when it is ready.
func (j *journal) newHead(n uint32) error {
	var p prepared
	if j.next != nil && j.nextNum == n {
		p = <-j.next
		j.next = nil
	} else {
		p.f, p.err = createSegment(j.dir, n, j.grow(), 0, nil)
		p.cap = j.want
	}
	if p.err != nil {
		return p.err
	}
	f := p.f
	j.mu.Lock()
	if h := j.head(); h != nil {
		j.sealed += h.size
		j.live += h.live
	}
	j.segs = append(j.segs, &segment{num: n, f: f, cap: p.cap, size: int64(segHeader)})
	j.mu.Unlock()
	j.prepare(n + 1)
	return nil
}

// prepared is a segment created in the background.
type prepared struct {
	f   *os.File
	cap int64
	err error
}

// grow returns the size of the next new segment.
func (j *journal) grow() int64 {
	j.want = min(j.maxSeg, max(minSegment, 2*j.want))
	return j.want
}

// prepare starts making segment n in the background: a recycled spare
// when there is one, otherwise a new file.
func (j *journal) prepare(n uint32) {
	ch := make(chan prepared, 1)
	j.next, j.nextNum = ch, n
	for len(j.spares) > 0 {
		sp := j.spares[len(j.spares)-1]
		j.spares = j.spares[:len(j.spares)-1]
		if sp.cap < j.want {
			retire(j.dir, sp) // from before the segments grew
			continue
		}
		go func() {
			f, err := recycleSegment(j.dir, sp, n)
			ch <- prepared{f, sp.cap, err}
		}()
		return
	}
	size, quit := j.grow(), j.quit
	go func() {
		f, err := createSegment(j.dir, n, size, zeroPace, quit)
		ch <- prepared{f, size, err}
	}()
}

// retire closes and deletes a segment that is no longer needed.
func retire(dir string, s *segment) error {
	s.f.Close()
	return os.Remove(filepath.Join(dir, segName(s.num)))
}

// zeroPace is the pause after each MiB of zeroes a new segment gets in
// the background, so that the writer's syncs do not queue behind them.
const zeroPace = 10 * time.Millisecond

// maxSpares bounds the dead segments kept for reuse.
const maxSpares = 2

// recycleSegment makes the dead segment sp (header number 0: markDead)
// segment n: renamed first, then given its header, so that a crash in
// between leaves a dead segment, which replay removes. Its old records
// stay after the header; their checksums hold the old number, so replay
// ends where the new records do.
func recycleSegment(dir string, sp *segment, n uint32) (*os.File, error) {
	from, to := filepath.Join(dir, segName(sp.num)), filepath.Join(dir, segName(n))
	err := os.Rename(from, to)
	if err == nil {
		err = syncDir(dir)
	}
	if err == nil {
		err = writeHeader(sp.f, n)
	}
	if err != nil {
		sp.f.Close()
		os.Remove(from)
		os.Remove(to)
		return nil, fmt.Errorf("badger: journal: %w", err)
	}
	return sp.f, nil
}

// writeHeader writes and syncs segment n's header to f; n = 0 marks a
// retired segment.
func writeHeader(f *os.File, n uint32) error {
	hdr := make([]byte, 0, segHeader)
	hdr = append(hdr, segMagic...)
	hdr = binary.BigEndian.AppendUint64(hdr, uint64(n))
	if _, err := f.WriteAt(hdr, 0); err != nil {
		return err
	}
	return datasync(f)
}

// discardNext waits for the segment being prepared and removes it.
func (j *journal) discardNext() {
	if j.next == nil {
		return
	}
	p := <-j.next
	j.next = nil
	if p.err == nil {
		p.f.Close()
		os.Remove(filepath.Join(j.dir, segName(j.nextNum)))
	}
}

// createSegment creates segment n: its header, then zeroes up to size
// (pausing pace after each MiB, synced, and giving up when quit is
// closed), all synced with the directory entry. Appending to written
// blocks lets each group's fdatasync flush data only; appending to a
// growing file would also commit the filesystem's metadata every time
// (measured: twice the median sync time and a long tail). Replay reads
// zeroes as the end of the records.
func createSegment(dir string, n uint32, size int64, pace time.Duration, quit <-chan struct{}) (*os.File, error) {
	path := filepath.Join(dir, segName(n))
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, fmt.Errorf("badger: journal: %w", err)
	}
	buf := make([]byte, 1<<20)
	copy(buf, segMagic)
	binary.BigEndian.PutUint64(buf[len(segMagic):], uint64(n))
	for off := int64(0); off < size && err == nil; off += int64(len(buf)) {
		_, err = f.WriteAt(buf[:min(int64(len(buf)), size-off)], off)
		clear(buf[:segHeader])
		if pace > 0 && err == nil {
			err = datasync(f)
			select {
			case <-quit:
				err = store.ErrClosed
			case <-time.After(pace):
			}
		}
	}
	if err == nil {
		err = f.Sync()
	}
	if err == nil {
		err = syncDir(dir) // the new name survives a power loss
	}
	if err != nil {
		f.Close()
		os.Remove(path)
		return nil, fmt.Errorf("badger: journal: %w", err)
	}
	return f, nil
}

// recount sets the sealed and live totals after replay and the orphan
// check.
func (j *journal) recount() {
	j.sealed, j.live = 0, 0
	for _, s := range j.segs[:len(j.segs)-1] {
		j.sealed += s.size
		j.live += s.live
	}
}

// closeFiles closes every segment and removes the spares and the one
// prepared but unused.
func (j *journal) closeFiles() {
	close(j.quit)
	j.discardNext()
	for _, s := range j.spares {
		retire(j.dir, s)
	}
	j.spares = nil
	for _, s := range j.segs {
		s.f.Close()
	}
}

// The writer's side. appendSend, appendAck and appendDrop add a record to
// the group in the making and change the index at once (under mu); a new
// message stays invisible to readers until publish.

// addSend adds a SEND record to the group in the making and returns the
// index entry of its message, in the head.
func (j *journal) addSend(rid store.ID, seq, exp uint64, body []byte) jmsg {
	h := j.head()
	m := jmsg{seq: seq, exp: exp, off: h.size + int64(len(j.buf)) + recHeader + sendFixed, seg: h.num, n: uint32(len(body))}
	j.add(recSend, rid, seq, exp, body)
	return m
}

func (j *journal) appendSend(rid store.ID, seq, exp uint64, body []byte) {
	m := j.addSend(rid, seq, exp, body)
	j.head().live += m.recordLen()
	j.mu.Lock()
	b := j.box(rid)
	// seq is above every message of the mailbox: SENDs come in order.
	b.msgs = append(b.msgs, m)
	j.mu.Unlock()
}

// appendMigrated adds a message moved from Badger (Store.migrate), in any
// seq order, visible at once: it is published when its chunk is synced,
// before the store serves anyone.
func (j *journal) appendMigrated(rid store.ID, seq, exp uint64, body []byte) {
	m := j.addSend(rid, seq, exp, body)
	j.head().live += m.recordLen()
	b := j.box(rid)
	i, _ := b.find(seq)
	b.msgs = slices.Insert(b.msgs, i, m)
	b.visible = max(b.visible, seq)
}

func (j *journal) appendAck(rid store.ID, b *jbox, i int) {
	j.add(recAck, rid, b.msgs[i].seq, 0, nil)
	j.mu.Lock()
	j.unlink(rid, b, i)
	j.mu.Unlock()
}

func (j *journal) appendDrop(rid store.ID) {
	j.mu.Lock()
	had := j.dropBox(rid)
	j.mu.Unlock()
	if had {
		j.add(recDrop, rid, 0, 0, nil)
	}
}

// dropExpired removes b's messages expired at now from the index. An
// expired message needs no record: replay skips it by its expiry.
func (j *journal) dropExpired(rid store.ID, b *jbox, now time.Time) {
	j.mu.Lock()
	defer j.mu.Unlock()
	for i := 0; i < len(b.msgs); {
		if expired(b.msgs[i].exp, now) {
			j.unlink(rid, b, i)
		} else {
			i++
		}
	}
}

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

// add appends a record to the group in the making.
func (j *journal) add(typ byte, rid store.ID, seq, exp uint64, body []byte) {
	j.buf = appendRecord(j.buf, j.head().num, typ, rid, seq, exp, body)
	j.records++
}

// commit writes the group's records to the head and syncs them.
func (j *journal) commit() error {
	if len(j.buf) == 0 {
		return nil
	}
	h := j.head()
	if _, err := h.f.WriteAt(j.buf, h.size); err != nil {
		return fmt.Errorf("badger: journal: %w", err)
	}
	if err := datasync(h.f); err != nil {
		return fmt.Errorf("badger: journal: %w", err)
	}
	h.size += int64(len(j.buf))
	j.buf, j.records = j.buf[:0], 0
	return nil
}

// publish makes the group's messages visible (those of the mailboxes in
// rids: every message in the index is durable now) and points the copies
// moved forward at their new place. It runs once the group is durable.
func (j *journal) publish(rids []store.ID) {
	j.mu.Lock()
	defer j.mu.Unlock()
	for _, rid := range rids {
		if b := j.boxes[rid]; b != nil && len(b.msgs) > 0 {
			b.visible = max(b.visible, b.msgs[len(b.msgs)-1].seq)
		}
	}
	for _, r := range j.moved {
		b := j.boxes[r.rid]
		if b == nil {
			continue
		}
		i, ok := b.find(r.seq)
		if !ok || b.msgs[i].seg != r.from {
			continue
		}
		n := b.msgs[i].recordLen()
		j.segByNum(r.from).live -= n
		j.live -= n
		j.segByNum(r.to).live += n
		b.msgs[i].seg, b.msgs[i].off = r.to, r.off
	}
	j.moved = j.moved[:0]
}

// reclaim retires the oldest segments once nothing in them is live:
// first marked dead on disk (markDead), so that no later crash replays
// them after the segments holding the ACKs that cancel their messages
// are gone, then kept as spares for reuse (overwriting files costs the
// disk less than deleting and creating them) or deleted. A segment that
// cannot be marked stays until the next call.
func (j *journal) reclaim() {
	for len(j.segs) > 1 && j.segs[0].live == 0 {
		s := j.segs[0]
		if writeHeader(s.f, 0) != nil {
			return
		}
		j.mu.Lock()
		j.segs = j.segs[1:]
		j.mu.Unlock()
		j.sealed -= s.size
		j.cleanAt = 0
		if len(j.spares) < maxSpares {
			j.spares = append(j.spares, s)
			continue
		}
		retire(j.dir, s) // dead already: a file left behind is removed by the next open
	}
}

// rotate starts a new head once the head is full. If that fails (the
// disk is full, say), the head grows past its size and the next group
// tries again: nothing is lost either way.
func (j *journal) rotate() {
	if h := j.head(); h.size >= h.cap {
		_ = j.newHead(h.num + 1)
	}
}

// needMoves reports whether the oldest segment's live messages should be
// copied forward: more than half of the sealed bytes are dead, and there
// are at least two sealed segments.
func (j *journal) needMoves() bool {
	return len(j.segs) > 2 && j.sealed-j.live > j.sealed/2
}

// moveForward copies live messages of the oldest segment, up to moveBytes
// of them, into the group in the making.
func (j *journal) moveForward() error {
	old := j.segs[0]
	if j.cleanAt < int64(segHeader) {
		j.cleanAt = int64(segHeader)
	}
	if j.cleanAt >= old.size {
		return nil // scanned: the copies wait for their groups to publish
	}
	r := io.NewSectionReader(old.f, j.cleanAt, old.size-j.cleanAt)
	copied := 0
	end, _, err := readRecords(bufio.NewReaderSize(r, 64<<10), old.num, j.cleanAt, func(rec record) {
		if copied >= moveBytes || rec.typ != recSend {
			return
		}
		b := j.boxes[rec.rid]
		if b == nil {
			return
		}
		i, ok := b.find(rec.seq)
		if !ok || b.msgs[i].seg != old.num || b.msgs[i].off != rec.bodyOff {
			return // acknowledged, expired, dropped, or moved already
		}
		m := j.addSend(rec.rid, rec.seq, rec.exp, rec.body)
		j.moved = append(j.moved, relocation{rid: rec.rid, seq: rec.seq, from: old.num, to: m.seg, off: m.off})
		copied += int(b.msgs[i].recordLen())
	}, func(next int64) bool { return copied < moveBytes })
	if err != nil {
		return fmt.Errorf("badger: journal segment %s: %w", segName(old.num), err)
	}
	j.cleanAt = end
	return nil
}

// pending returns up to limit visible, unexpired messages of rid with a
// seq above after. It reads the bodies without holding mu, so that a slow
// disk does not hold up the writer, and then checks that each message is
// still where it was read from: one moved forward meanwhile is read
// again from its new place, one acknowledged or expired meanwhile is
// left out. A segment number is never used twice, so an unchanged place
// means the bytes read are the message's.
func (j *journal) pending(rid store.ID, after uint64, limit int, now time.Time) ([]store.Message, error) {
	type ref struct {
		m jmsg
		f *os.File
	}
	for range 8 {
		var refs []ref
		j.mu.RLock()
		if b := j.boxes[rid]; b != nil {
			i := sort.Search(len(b.msgs), func(i int) bool { return b.msgs[i].seq > after })
			for ; i < len(b.msgs) && len(refs) < limit; i++ {
				m := b.msgs[i]
				if m.seq > b.visible {
					break
				}
				if expired(m.exp, now) {
					continue
				}
				s := j.segByNum(m.seg)
				if s == nil {
					j.mu.RUnlock()
					return nil, errors.New("badger: journal: message in a missing segment")
				}
				refs = append(refs, ref{m, s.f})
			}
		}
		j.mu.RUnlock()
		out := make([]store.Message, 0, len(refs))
		errs := make([]error, len(refs))
		for i, r := range refs {
			body := make([]byte, r.m.n)
			_, errs[i] = r.f.ReadAt(body, r.m.off)
			out = append(out, store.Message{Seq: r.m.seq, Body: body, Expires: time.Unix(int64(r.m.exp), 0)})
		}
		moved := false
		kept := out[:0]
		j.mu.RLock()
		b := j.boxes[rid]
		for i, r := range refs {
			var now jmsg
			found := false
			if b != nil {
				var k int
				if k, found = b.find(r.m.seq); found {
					now = b.msgs[k]
				}
			}
			switch {
			case !found:
				// Gone meanwhile: left out.
			case now.seg != r.m.seg || now.off != r.m.off:
				moved = true
			case errs[i] != nil:
				j.mu.RUnlock()
				return nil, fmt.Errorf("badger: journal: reading: %w", errs[i])
			default:
				kept = append(kept, out[i])
			}
		}
		j.mu.RUnlock()
		if !moved {
			return kept, nil
		}
	}
	return nil, errors.New("badger: journal: messages kept moving while being read")
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
	case recDrop:
		if len(p) != dropLen {
			return r, false
		}
	default:
		return r, false
	}
	return r, true
}
