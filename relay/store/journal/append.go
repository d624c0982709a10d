package journal

import (
	"bufio"
	"fmt"
	"io"
	"slices"
	"time"

	"veil/relay/store"
)

// The writer's side. AppendSend, AppendAck and AppendDrop add a record to
// the group in the making and change the index at once (under mu); a new
// message stays invisible to readers until Publish.

// addSend adds a SEND record to the group in the making and returns the
// index entry of its message, in the head.
func (j *Journal) addSend(rid store.ID, seq, exp uint64, body []byte) jmsg {
	h := j.head()
	m := jmsg{seq: seq, exp: exp, off: h.size + int64(len(j.buf)) + recHeader + sendFixed, seg: h.num, n: uint32(len(body))}
	j.add(recSend, rid, seq, exp, body)
	return m
}

// AppendSend adds a SEND record; seq must be above every message of rid
// in the index.
func (j *Journal) AppendSend(rid store.ID, seq, exp uint64, body []byte) {
	m := j.addSend(rid, seq, exp, body)
	j.head().live += m.recordLen()
	j.mu.Lock()
	b := j.box(rid)
	// seq is above every message of the mailbox: SENDs come in order.
	b.msgs = append(b.msgs, m)
	j.mu.Unlock()
}

// AppendMigrated adds a message moved from elsewhere (the badger store's
// migration), in any seq order, visible at once: it is published when its
// chunk is synced, before the store serves anyone.
func (j *Journal) AppendMigrated(rid store.ID, seq, exp uint64, body []byte) {
	m := j.addSend(rid, seq, exp, body)
	j.head().live += m.recordLen()
	b := j.box(rid)
	i, _ := b.find(seq)
	b.msgs = slices.Insert(b.msgs, i, m)
	b.visible = max(b.visible, seq)
}

func (j *Journal) appendAck(rid store.ID, b *jbox, i int) {
	j.add(recAck, rid, b.msgs[i].seq, 0, nil)
	j.mu.Lock()
	j.unlink(rid, b, i)
	j.mu.Unlock()
}

// AppendDrop removes every message of rid from the index and adds a
// DROP record if there were any.
func (j *Journal) AppendDrop(rid store.ID) {
	j.mu.Lock()
	had := j.dropBox(rid)
	j.mu.Unlock()
	if had {
		j.add(recDrop, rid, 0, 0, nil)
	}
}

// dropExpired removes b's messages expired at now from the index. An
// expired message needs no record: replay skips it by its expiry.
func (j *Journal) dropExpired(rid store.ID, b *jbox, now time.Time) {
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

// add appends a record to the group in the making.
func (j *Journal) add(typ byte, rid store.ID, seq, exp uint64, body []byte) {
	j.buf = appendRecord(j.buf, j.head().num, typ, rid, seq, exp, body)
	j.records++
}

// Commit writes the group's records to the head and syncs them.
func (j *Journal) Commit() error {
	if len(j.buf) == 0 {
		return nil
	}
	h := j.head()
	if _, err := h.f.WriteAt(j.buf, h.size); err != nil {
		return fmt.Errorf("journal: %w", err)
	}
	if err := datasync(h.f); err != nil {
		return fmt.Errorf("journal: %w", err)
	}
	h.size += int64(len(j.buf))
	j.buf, j.records = j.buf[:0], 0
	return nil
}

// Publish makes the group's messages visible (those of the mailboxes in
// rids: every message in the index is durable now) and points the copies
// moved forward at their new place. It runs once the group is durable.
func (j *Journal) Publish(rids []store.ID) {
	j.mu.Lock()
	defer j.mu.Unlock()
	for _, rid := range rids {
		if b := j.boxes[rid]; b != nil && len(b.msgs) > 0 {
			b.visible = max(b.visible, b.msgs[len(b.msgs)-1].seq)
		}
	}
	j.publishChunks()
	for _, r := range j.moved {
		if r.chunk {
			j.publishChunkMove(r)
			continue
		}
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

// Reclaim retires the oldest segments once nothing in them is live:
// first marked dead on disk (markDead), so that no later crash replays
// them after the segments holding the ACKs that cancel their messages
// are gone, then kept as spares for reuse (overwriting files costs the
// disk less than deleting and creating them) or deleted. A segment that
// cannot be marked stays until the next call.
func (j *Journal) Reclaim() {
	for len(j.segs) > 1 && j.segs[0].live == 0 {
		s := j.segs[0]
		if writeHeader(s.f, 0) != nil {
			return
		}
		j.mu.Lock()
		j.segs = j.segs[1:]
		j.chunkDead -= s.deadChunks
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

// Rotate starts a new head once the head is full. If that fails (the
// disk is full, say), the head grows past its size and the next group
// tries again: nothing is lost either way. When the next segment is
// still being made, the head grows past its size too rather than wait
// for it, and the segment is made without its pauses from then on.
func (j *Journal) Rotate() {
	h := j.head()
	if h.size < h.cap {
		return
	}
	if j.next != nil && j.nextNum == h.num+1 && len(j.next) == 0 {
		if j.hurry != nil {
			close(j.hurry)
			j.hurry = nil
		}
		return
	}
	_ = j.newHead(h.num + 1)
}

// needMoves reports whether the oldest segment's live messages should be
// copied forward: there are at least two sealed segments, and more than
// half of the sealed bytes are dead or more than a quarter of the oldest
// segment is dead chunks (which count against the chunk quota while they
// stay, ChunkBytesOnDisk).
func (j *Journal) needMoves() bool {
	if len(j.segs) <= 2 {
		return false
	}
	old := j.segs[0]
	j.mu.RLock()
	deadChunks, chunkDead, chunkLive := old.deadChunks, j.chunkDead, j.chunkBytes
	j.mu.RUnlock()
	// Dead chunk bodies count against the chunk quota until their segment
	// goes, so they are also cleared when spread thin over many segments
	// behind a live oldest one: once they pass an eighth of the live chunk
	// bytes (and a full segment), the oldest segments move forward in turn.
	return j.sealed-j.live > j.sealed/2 || deadChunks > old.size/4 ||
		chunkDead > max(chunkLive/8, j.maxSeg)
}

// moveForward copies live messages of the oldest segment, up to moveBytes
// of them, into the group in the making.
func (j *Journal) moveForward() error {
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
		if copied >= moveBytes {
			return
		}
		if rec.typ == recChunk {
			copied += j.moveChunk(old, rec)
			return
		}
		if rec.typ != recSend {
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
		return fmt.Errorf("journal: segment %s: %w", segName(old.num), err)
	}
	j.cleanAt = end
	return nil
}
