package journal

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"time"

	"veil/relay/store"
)

// File chunks (spec/relay.md §7.7) live in the journal beside messages,
// for the reason messages do: a 16,000-byte value written once, read a few
// times and deleted within days costs an LSM tree far more than an append.
// A CHUNK record holds the chunk ID, the two capability hashes, the expiry
// and the body; a CHUNKDROP record (CDEL) the ID. An expired chunk needs
// no record: replay skips it by its expiry.
//
// The index keeps, per live chunk, where its record's hashes start, its
// expiry and its body length (about 50 bytes with the ID); readers take
// the hashes and the body from the segment with one pread.

// jchunk is the index entry of one live chunk.
type jchunk struct {
	exp     uint64 // Unix seconds
	off     int64  // offset of the read hash in its segment
	seg     uint32
	n       uint32 // body length
	visible bool   // durable: readers may see it
}

// recordLen is the length on disk of c's CHUNK record.
func (c jchunk) recordLen() int64 { return int64(recHeader + chunkFixed + int(c.n)) }

// appendChunkRecord appends a CHUNK record of segment seg to buf.
func appendChunkRecord(buf []byte, seg uint32, id store.ID, c *store.Chunk, exp uint64) []byte {
	start := len(buf)
	buf = append(buf, 0, 0, 0, 0, 0, 0, 0, 0, recChunk)
	buf = append(buf, id[:]...)
	buf = append(buf, c.ReadCap[:]...)
	buf = append(buf, c.DelCap[:]...)
	buf = binary.BigEndian.AppendUint64(buf, exp)
	buf = append(buf, c.Body...)
	rec := buf[start+8:]
	binary.BigEndian.PutUint32(buf[start:], uint32(len(rec)))
	binary.BigEndian.PutUint32(buf[start+4:], recordCRC(seg, rec))
	return buf
}

// addChunk adds a CHUNK record to the group in the making and returns
// the index entry of the chunk, in the head, not yet visible.
func (j *Journal) addChunk(id store.ID, c *store.Chunk, exp uint64) jchunk {
	h := j.head()
	e := jchunk{exp: exp, off: h.size + int64(len(j.buf)) + recHeader + store.IDSize, seg: h.num, n: uint32(len(c.Body))}
	j.buf = appendChunkRecord(j.buf, h.num, id, c, exp)
	j.records++
	return e
}

// HasChunk reports whether id holds a chunk not expired at now, durable
// or in the group in the making. Only the writer calls it.
func (j *Journal) HasChunk(id store.ID, now time.Time) bool {
	j.mu.RLock()
	defer j.mu.RUnlock()
	e, ok := j.chunks[id]
	return ok && !expired(e.exp, now)
}

// AppendChunk adds a CHUNK record for c, which expires at exp (Unix
// seconds), replacing an expired chunk of id in the index. The chunk
// becomes visible to readers at Publish. The caller checked HasChunk.
func (j *Journal) AppendChunk(id store.ID, c *store.Chunk, exp uint64) {
	e := j.addChunk(id, c, exp)
	j.head().live += e.recordLen()
	j.mu.Lock()
	if _, ok := j.chunks[id]; ok {
		j.unlinkChunk(id)
	}
	j.chunks[id] = e
	j.chunkBytes += int64(e.n)
	j.mu.Unlock()
	j.newChunks = append(j.newChunks, id)
}

// AppendChunkDrop removes chunk id from the index and adds a CHUNKDROP
// record; false, and nothing added, when id holds no chunk live at now.
func (j *Journal) AppendChunkDrop(id store.ID, now time.Time) bool {
	j.mu.Lock()
	e, ok := j.chunks[id]
	if !ok || expired(e.exp, now) {
		j.mu.Unlock()
		return false
	}
	j.unlinkChunk(id)
	j.mu.Unlock()
	j.add(recChunkDrop, id, 0, 0, nil)
	return true
}

// DropExpiredChunks removes the chunks expired at now from the index, so
// their segments can go. Only the writer calls it.
func (j *Journal) DropExpiredChunks(now time.Time) {
	j.mu.Lock()
	defer j.mu.Unlock()
	for id, e := range j.chunks {
		if expired(e.exp, now) {
			j.unlinkChunk(id)
		}
	}
}

// unlinkChunk removes chunk id from the index. The caller holds mu (or
// is replaying).
func (j *Journal) unlinkChunk(id store.ID) {
	e := j.chunks[id]
	if s := j.segByNum(e.seg); s != nil {
		s.live -= e.recordLen()
		if s != j.head() {
			j.live -= e.recordLen()
		}
		s.deadChunks += int64(e.n)
		if s != j.head() {
			j.chunkDead += int64(e.n)
		}
	}
	j.chunkBytes -= int64(e.n)
	delete(j.chunks, id)
}

// publishChunks makes the group's new chunks visible. The caller holds mu.
func (j *Journal) publishChunks() {
	for _, id := range j.newChunks {
		if e, ok := j.chunks[id]; ok {
			e.visible = true
			j.chunks[id] = e
		}
	}
	j.newChunks = j.newChunks[:0]
}

// ChunkBytes returns the bytes of the chunk bodies in the index.
func (j *Journal) ChunkBytes() int64 {
	j.mu.RLock()
	defer j.mu.RUnlock()
	return j.chunkBytes
}

// ChunkBytesOnDisk returns ChunkBytes and the bytes of the chunk bodies
// deleted, expired or moved forward in the sealed segments not reclaimed
// yet. Chunk quotas count it, so dead chunks take no more disk than the
// quota and the head segment (whose dead chunks a delete does not count,
// so that it frees its room at once).
func (j *Journal) ChunkBytesOnDisk() int64 {
	j.mu.RLock()
	defer j.mu.RUnlock()
	return j.chunkBytes + j.chunkDead
}

// GetChunk returns the visible chunk id unless it expired at now;
// store.ErrNotFound otherwise. Like Pending it reads without holding mu
// and then checks that the chunk is still where it was read from.
func (j *Journal) GetChunk(id store.ID, now time.Time) (store.Chunk, error) {
	for range 8 {
		j.mu.RLock()
		e, ok := j.chunks[id]
		var f *os.File
		if ok && e.visible && !expired(e.exp, now) {
			if s := j.segByNum(e.seg); s != nil {
				f = s.f
			}
		}
		j.mu.RUnlock()
		if f == nil {
			if ok && e.visible && !expired(e.exp, now) {
				return store.Chunk{}, errors.New("journal: chunk in a missing segment")
			}
			return store.Chunk{}, store.ErrNotFound
		}
		buf := make([]byte, chunkFixed-store.IDSize+int(e.n))
		_, err := f.ReadAt(buf, e.off)
		j.mu.RLock()
		again, still := j.chunks[id]
		j.mu.RUnlock()
		switch {
		case !still:
			return store.Chunk{}, store.ErrNotFound
		case again.seg != e.seg || again.off != e.off:
			continue // moved forward meanwhile
		case err != nil:
			return store.Chunk{}, fmt.Errorf("journal: reading: %w", err)
		}
		var c store.Chunk
		copy(c.ReadCap[:], buf)
		copy(c.DelCap[:], buf[32:])
		c.Expires = time.Unix(int64(binary.BigEndian.Uint64(buf[64:])), 0)
		c.Body = buf[72:]
		return c, nil
	}
	return store.Chunk{}, errors.New("journal: chunk kept moving while being read")
}

// replayChunk applies a CHUNK or CHUNKDROP record during replay.
func (j *Journal) replayChunk(seg *segment, r record, now time.Time) {
	if r.typ == recChunkDrop {
		if _, ok := j.chunks[r.rid]; ok {
			j.unlinkChunk(r.rid)
		}
		return
	}
	if expired(r.exp, now) {
		seg.deadChunks += int64(len(r.body)) // Recount adds it up
		return
	}
	if _, ok := j.chunks[r.rid]; ok {
		// A copy moved forward whose original was not deleted yet, or
		// a chunk put again after the first expired.
		j.unlinkChunk(r.rid)
	}
	e := jchunk{exp: r.exp, off: r.bodyOff - (chunkFixed - store.IDSize), seg: seg.num, n: uint32(len(r.body)), visible: true}
	j.chunks[r.rid] = e
	j.chunkBytes += int64(e.n)
	seg.live += e.recordLen()
}

// moveChunk copies a live chunk of the oldest segment, read as rec, into
// the group in the making; it returns the record's length, 0 if the
// chunk is not live there any more.
func (j *Journal) moveChunk(old *segment, rec record) int {
	e, ok := j.chunks[rec.rid]
	if !ok || e.seg != old.num || e.off != rec.bodyOff-(chunkFixed-store.IDSize) {
		return 0 // deleted, expired, put again, or moved already
	}
	c := store.Chunk{ReadCap: rec.readHash, DelCap: rec.delHash, Body: rec.body}
	m := j.addChunk(rec.rid, &c, rec.exp)
	j.moved = append(j.moved, relocation{rid: rec.rid, chunk: true, from: old.num, to: m.seg, off: m.off})
	return int(e.recordLen())
}

// publishChunkMove points chunk r.rid at its copy, if it is still where
// the copy was taken from. The caller holds mu.
func (j *Journal) publishChunkMove(r relocation) {
	e, ok := j.chunks[r.rid]
	if !ok || e.seg != r.from {
		return
	}
	n := e.recordLen()
	from := j.segByNum(r.from)
	from.live -= n
	from.deadChunks += int64(e.n)
	j.chunkDead += int64(e.n)
	j.live -= n
	j.segByNum(r.to).live += n
	e.seg, e.off = r.to, r.off
	j.chunks[r.rid] = e
}
