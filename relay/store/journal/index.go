package journal

import (
	"time"

	"veil/relay/store"
)

// expired reports whether a message with expiry e (Unix seconds, 0 for
// never) is gone at now.
func expired(e uint64, now time.Time) bool {
	return e != 0 && e <= uint64(max(now.Unix(), 0))
}

// Mailboxes returns the mailboxes that have messages in the index. Only
// the writer calls it.
func (j *Journal) Mailboxes() []store.ID {
	j.mu.RLock()
	defer j.mu.RUnlock()
	out := make([]store.ID, 0, len(j.boxes))
	for rid := range j.boxes {
		out = append(out, rid)
	}
	return out
}

// Has reports whether message seq of rid is in the index.
func (j *Journal) Has(rid store.ID, seq uint64) bool {
	j.mu.RLock()
	defer j.mu.RUnlock()
	if b := j.boxes[rid]; b != nil {
		_, ok := b.find(seq)
		return ok
	}
	return false
}

// Len returns the number of messages of rid in the index, expired ones
// included until DropExpired or replay removes them.
func (j *Journal) Len(rid store.ID) int {
	j.mu.RLock()
	defer j.mu.RUnlock()
	if b := j.boxes[rid]; b != nil {
		return len(b.msgs)
	}
	return 0
}

// LastSeq returns the highest seq of rid in the index, 0 if none.
func (j *Journal) LastSeq(rid store.ID) uint64 {
	j.mu.RLock()
	defer j.mu.RUnlock()
	if b := j.boxes[rid]; b != nil && len(b.msgs) > 0 {
		return b.msgs[len(b.msgs)-1].seq
	}
	return 0
}

// Expiring returns the mailboxes with a message expired at now.
func (j *Journal) Expiring(now time.Time) []store.ID {
	j.mu.RLock()
	defer j.mu.RUnlock()
	var rids []store.ID
	for rid, b := range j.boxes {
		for _, m := range b.msgs {
			if expired(m.exp, now) {
				rids = append(rids, rid)
				break
			}
		}
	}
	return rids
}

// Torn returns the number of segments whose replay stopped at a record
// cut off by a crash.
func (j *Journal) Torn() int { return j.torn }

// Buffered returns the records and bytes of the group in the making.
func (j *Journal) Buffered() (records, bytes int) { return j.records, len(j.buf) }

// AppendAck adds an ACK of message seq of rid to the group in the making
// and removes the message from the index. It reports false, and adds
// nothing, when the message is not in the index or has expired at now.
func (j *Journal) AppendAck(rid store.ID, seq uint64, now time.Time) bool {
	b := j.boxes[rid]
	if b == nil {
		return false
	}
	i, ok := b.find(seq)
	if !ok || expired(b.msgs[i].exp, now) {
		return false
	}
	j.appendAck(rid, b, i)
	return true
}

// DropExpired removes the messages of rid expired at now from the index.
// An expired message needs no record: replay skips it by its expiry.
func (j *Journal) DropExpired(rid store.ID, now time.Time) {
	if b := j.boxes[rid]; b != nil {
		j.dropExpired(rid, b, now)
	}
}

// MoveForward copies live messages of the oldest segment into the group
// in the making when more than half of the sealed bytes are dead.
func (j *Journal) MoveForward() error {
	if !j.needMoves() {
		return nil
	}
	return j.moveForward()
}
