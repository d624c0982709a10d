package jetstream

import (
	"context"
	"sync"
	"time"

	"veil/relay/store"
)

// Tuning constants of the node's caches (spec/relay-jetstream.md §3.2, §3.3).
const (
	// boxFresh is how long a mailbox record read from the cluster stands
	// in for another read by Send and Pending on this node.
	boxFresh = time.Second
	// cacheMax bounds each cache; a cache that reaches it is emptied, so
	// the cost of a miss is one more read, never unbounded memory.
	cacheMax = 1 << 15
)

// boxCache holds what this node recently learnt from the cluster, to save
// round trips per message:
//
//   - the sender index (sender ID → recipient ID), which never changes
//     while the mailbox exists; a hit is still checked against the
//     mailbox record, whose sender ID must match;
//   - mailbox records read less than boxFresh ago;
//   - the stream sequences this node stored or read for a mailbox, so an
//     ACK of one needs no read to prove the message is the mailbox's
//     (stream sequences are never reused, §3.1).
type boxCache struct {
	mu      sync.Mutex // guards the maps and gen
	senders map[store.ID]store.ID
	boxes   map[store.ID]cachedBox
	seqs    map[seqKey]struct{}
	// gen counts drops: a record read or written before a drop is not
	// put back after it (put), so that a read still in flight when this
	// node deletes a mailbox cannot bring the mailbox back to its cache.
	gen uint64
}

type cachedBox struct {
	m    store.Mailbox // SenderKey is shared: callers must not modify it
	rev  uint64
	read time.Time // by the real clock, monotonic
}

type seqKey struct {
	rid store.ID
	seq uint64
}

// recipient returns the cached recipient ID of a sender.
func (c *boxCache) recipient(sid store.ID) (store.ID, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	rid, ok := c.senders[sid]
	return rid, ok
}

// box returns rid's record if it was read less than boxFresh ago.
func (c *boxCache) box(rid store.ID) (store.Mailbox, uint64, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	b, ok := c.boxes[rid]
	if !ok || time.Since(b.read) >= boxFresh {
		return store.Mailbox{}, 0, false
	}
	return b.m, b.rev, true
}

// generation is what put needs to know whether a drop came since.
func (c *boxCache) generation() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.gen
}

// put records a mailbox record read (or written) at revision rev, unless
// a drop came after generation gen was taken, before the read.
func (c *boxCache) put(m store.Mailbox, rev uint64, read time.Time, gen uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if gen != c.gen {
		return
	}
	if c.senders == nil || len(c.senders) >= cacheMax {
		c.senders = map[store.ID]store.ID{}
	}
	if c.boxes == nil || len(c.boxes) >= cacheMax {
		c.boxes = map[store.ID]cachedBox{}
	}
	c.senders[m.SenderID] = m.RecipientID
	c.boxes[m.RecipientID] = cachedBox{m: m, rev: rev, read: read}
}

// drop forgets a mailbox: it changed or is gone.
func (c *boxCache) drop(rid, sid store.ID) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.boxes, rid)
	delete(c.senders, sid)
	c.gen++
}

// dropBox forgets a mailbox record but not its sender index.
func (c *boxCache) dropBox(rid store.ID) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.boxes, rid)
	c.gen++
}

// sawSeq records that stream sequence seq is a message of rid.
func (c *boxCache) sawSeq(rid store.ID, seq uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.seqs == nil || len(c.seqs) >= cacheMax {
		c.seqs = map[seqKey]struct{}{}
	}
	c.seqs[seqKey{rid, seq}] = struct{}{}
}

// takeSeq reports whether seq was recorded as rid's, and forgets it.
func (c *boxCache) takeSeq(rid store.ID, seq uint64) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	k := seqKey{rid, seq}
	_, ok := c.seqs[k]
	delete(c.seqs, k)
	return ok
}

// lookups lets concurrent cache misses for one mailbox share one read:
// when a node's cached record expires under load, every SEND that
// arrives before the first read returns would otherwise read it again.
// A caller that joins a read uses its result only if it is a secured
// record read less than boxFresh ago (what the cache would hold, §3.2);
// otherwise it reads for itself, so an unsecured record, an error or an
// absence is never taken from a read that started before the caller.
type lookups struct {
	mu      sync.Mutex // guards reading
	reading map[lookupKey]*lookup
}

type lookupKey struct {
	bySender bool // the ID is a sender ID; otherwise a recipient ID
	id       store.ID
}

type lookup struct {
	done chan struct{} // closed when the fields below are set
	m    store.Mailbox
	rev  uint64
	read time.Time
	err  error
}

// do returns load's result, sharing a read of the same key in progress.
func (l *lookups) do(ctx context.Context, key lookupKey, load func() (store.Mailbox, uint64, time.Time, error)) (store.Mailbox, uint64, error) {
	l.mu.Lock()
	if r := l.reading[key]; r != nil {
		l.mu.Unlock()
		select {
		case <-r.done:
		case <-ctx.Done():
			return store.Mailbox{}, 0, ctx.Err()
		}
		if r.err == nil && len(r.m.SenderKey) != 0 && time.Since(r.read) < boxFresh {
			return r.m, r.rev, nil
		}
		m, rev, _, err := load()
		return m, rev, err
	}
	if l.reading == nil {
		l.reading = map[lookupKey]*lookup{}
	}
	r := &lookup{done: make(chan struct{})}
	l.reading[key] = r
	l.mu.Unlock()
	r.m, r.rev, r.read, r.err = load()
	l.mu.Lock()
	delete(l.reading, key)
	l.mu.Unlock()
	close(r.done)
	return r.m, r.rev, r.err
}
