package badger

import (
	"context"
	"errors"
	"fmt"
	"time"

	bdg "github.com/dgraph-io/badger/v4"

	"veil/relay/store"
	"veil/relay/store/journal"
	"veil/relay/store/record"
)

// An op is one write. apply runs in the writer goroutine against the
// group's transaction; it must make every check before its first write,
// so an op that fails leaves the transaction as it found it. Results go
// into the op's own fields, which the caller reads after submit returns.
type op interface {
	apply(b *batch) error
}

type request struct {
	op   op
	done chan error // buffered: the writer never blocks answering
	// cb, when set, is called by the writer instead of sending on done
	// (submitAsync).
	cb func(error)
}

// submit hands o to the writer and waits until the group holding it is
// durable. ctx is honoured until the writer has the op; after that the
// call waits for the commit (at most one group's fsync), because an op
// that may have been applied must not be reported as failed.
func (s *Store) submit(ctx context.Context, o op) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	r := &request{op: o, done: make(chan error, 1)}
	s.closeMu.RLock()
	if s.closed {
		s.closeMu.RUnlock()
		return store.ErrClosed
	}
	select {
	case s.reqs <- r:
	case <-ctx.Done():
		s.closeMu.RUnlock()
		return ctx.Err()
	}
	s.closeMu.RUnlock()
	return <-r.done
}

// submitAsync hands o to the writer and returns; cb gets what submit
// would have returned, on the writer goroutine once the group holding o
// is durable, or at once on this goroutine when the store is closed.
// When the writer's queue is full, a goroutine of its own waits to hand
// it over, so that the caller (a connection's reader) is not held up
// behind every other connection's writes.
func (s *Store) submitAsync(o op, cb func(error)) {
	r := &request{op: o, cb: cb}
	s.closeMu.RLock()
	if s.closed {
		s.closeMu.RUnlock()
		cb(store.ErrClosed)
		return
	}
	select {
	case s.reqs <- r:
		s.closeMu.RUnlock()
		return
	default:
	}
	s.closeMu.RUnlock()
	go func() { // ends once the writer has the request, or at Close
		s.closeMu.RLock()
		defer s.closeMu.RUnlock()
		if s.closed {
			cb(store.ErrClosed)
			return
		}
		s.reqs <- r
	}()
}

// writer owns every write to the database and the journal, and the caches
// below, which mirror what is on disk (including the current group's
// uncommitted writes). Only the writer goroutine touches it.
type writer struct {
	s       *Store
	j       *journal.Journal
	boxes   map[store.ID]*boxState // by recipient ID
	senders map[store.ID]store.ID  // sender ID → recipient ID
	logs    map[store.ID]*logState
	// broken is set when a commit failed: what is on disk is unknown
	// from then on, so every later write fails with it until the store
	// is opened again (which replays what is there).
	broken error
}

type boxState struct {
	meta     store.Mailbox
	lastSeq  uint64 // the last sequence number handed out
	reserved uint64 // the sequence record on disk: no seq above it was handed out
}

type logState struct {
	ttl     time.Duration
	lastSeq uint64
}

func newWriter(s *Store) *writer {
	w := &writer{s: s, j: s.j}
	w.reset()
	return w
}

// reset drops the caches; they are rebuilt from disk on demand.
func (w *writer) reset() {
	w.boxes = map[store.ID]*boxState{}
	w.senders = map[store.ID]store.ID{}
	w.logs = map[store.ID]*logState{}
}

// batch is one group commit in the making.
type batch struct {
	w      *writer
	txn    *bdg.Txn
	now    time.Time
	writes int
	bytes  int
	failed error // a transaction error: the whole group fails
	notify []store.ID
	forget [][2]store.ID // mailboxes deleted: dropped from the read cache after commit
}

// run is the writer goroutine: it gathers the requests waiting in s.reqs
// into one group, commits its Badger transaction and then its journal
// records, answers them all, and repeats until s.reqs is closed and
// drained.
func (w *writer) run() {
	defer close(w.s.writerDone)
	for {
		first, ok := <-w.s.reqs
		if !ok {
			return
		}
		if w.broken == nil {
			w.j.Rotate()
		}
		b := &batch{w: w, txn: w.s.db.NewTransaction(true), now: w.s.now()}
		group := []*request{first}
		errs := []error{b.apply(first.op)}
	gather:
		for w.fits(b) {
			select {
			case r, ok := <-w.s.reqs:
				if !ok {
					break gather // closed: the next receive ends the loop
				}
				group = append(group, r)
				errs = append(errs, b.apply(r.op))
			default:
				break gather
			}
		}
		err := w.commit(b)
		if err != nil {
			// Nothing of this group is known to be on disk, and the
			// index and caches may hold its effects.
			if w.broken == nil {
				w.broken = fmt.Errorf("badger: committing: %w", err)
			}
			for i := range errs {
				errs[i] = w.broken
			}
		} else {
			w.j.Publish(b.notify)
			w.s.notify(b.notify)
		}
		for _, ids := range b.forget {
			w.s.cache.forget(ids[0], ids[1])
		}
		for i, r := range group {
			if r.cb != nil {
				r.cb(errs[i])
			} else {
				r.done <- errs[i]
			}
		}
		if err == nil {
			w.j.Reclaim()
		}
		if len(w.boxes) > maxCached || len(w.logs) > maxCached {
			w.reset()
		}
	}
}

// fits reports whether group b may take another request: its Badger
// writes and journal records, and their bytes, stay under the bounds.
func (w *writer) fits(b *batch) bool {
	records, bytes := w.j.Buffered()
	return b.writes+records < maxBatchOps && b.bytes+bytes < w.s.batchBytes
}

// commit makes group b durable: first its Badger transaction (which holds
// the sequence reservations its SENDs need), then its journal records,
// with copies of the oldest segment's live messages when it is time.
func (w *writer) commit(b *batch) error {
	defer b.txn.Discard()
	if w.broken != nil {
		return w.broken
	}
	if b.failed != nil {
		return b.failed
	}
	if err := b.txn.Commit(); err != nil {
		return err
	}
	if err := w.j.MoveForward(); err != nil {
		return err
	}
	return w.j.Commit()
}

// apply runs one op unless the group has already failed.
func (b *batch) apply(o op) error {
	if b.w.broken != nil {
		return b.w.broken
	}
	if b.failed != nil {
		return b.failed
	}
	err := o.apply(b)
	if b.failed != nil {
		return b.failed
	}
	return err
}

// set, setExpiring and del write to the group's transaction. A failure
// there fails the whole group.
func (b *batch) set(key, val []byte) { b.setExpiring(key, val, 0) }

func (b *batch) setExpiring(key, val []byte, exp uint64) {
	if b.failed != nil {
		return
	}
	e := bdg.NewEntry(key, val)
	e.ExpiresAt = exp
	if err := b.txn.SetEntry(e); err != nil {
		b.failed = fmt.Errorf("badger: writing: %w", err)
		return
	}
	b.writes++
	b.bytes += len(key) + len(val)
}

func (b *batch) del(key []byte) {
	if b.failed != nil {
		return
	}
	if err := b.txn.Delete(key); err != nil {
		b.failed = fmt.Errorf("badger: writing: %w", err)
		return
	}
	b.writes++
	b.bytes += len(key)
}

// get reads key in the group's transaction (seeing its earlier writes);
// store.ErrNotFound if missing or expired.
func (b *batch) get(key []byte) ([]byte, uint64, error) {
	return getValue(b.txn, key, b.now)
}

// box returns the state of mailbox rid, loading it if needed.
func (b *batch) box(rid store.ID) (*boxState, error) {
	if st := b.w.boxes[rid]; st != nil {
		return st, nil
	}
	m, err := getMailbox(b.txn, rid)
	if err != nil {
		return nil, err
	}
	st := &boxState{meta: m}
	v, _, err := b.get(idKey(prefixBoxSeq, rid))
	switch {
	case err == nil:
		if st.lastSeq, err = decodeUint64(v); err != nil {
			return nil, err
		}
		// What is on disk is a reservation (sendOp): continue after it.
		st.reserved = st.lastSeq
	case !errors.Is(err, store.ErrNotFound):
		return nil, err
	}
	// A journal seq above the reservation cannot happen (reservations
	// commit before the journal), but a seq must never be handed out twice.
	st.lastSeq = max(st.lastSeq, b.w.j.LastSeq(rid))
	b.w.boxes[rid] = st
	b.w.senders[m.SenderID] = rid
	return st, nil
}

// boxBySender returns the state of the mailbox with sender ID sid.
func (b *batch) boxBySender(sid store.ID) (*boxState, error) {
	if rid, ok := b.w.senders[sid]; ok {
		if st := b.w.boxes[rid]; st != nil {
			return st, nil
		}
	}
	rid, err := getRecipient(b.txn, sid)
	if err != nil {
		return nil, err
	}
	st, err := b.box(rid)
	if err != nil {
		return nil, err
	}
	if st.meta.SenderID != sid {
		return nil, errCorrupt
	}
	return st, nil
}

// forget drops mailbox rid from the caches.
func (w *writer) forget(st *boxState) {
	delete(w.boxes, st.meta.RecipientID)
	delete(w.senders, st.meta.SenderID)
}

// keysMore calls fn for the records under prefix|id, at most limit of
// them (no limit when negative), and reports whether more remain.
func (b *batch) keysMore(prefix byte, id store.ID, limit int, fn func(*bdg.Item)) (more bool, err error) {
	pre := idKey(prefix, id)
	it := b.txn.NewIterator(bdg.IteratorOptions{Prefix: pre, PrefetchValues: false})
	defer it.Close()
	n := 0
	for it.Seek(pre); it.ValidForPrefix(pre); it.Next() {
		if limit >= 0 && n == limit {
			return true, nil
		}
		fn(it.Item())
		n++
	}
	return false, nil
}

// purge deletes up to deleteChunk records under prefix|id and reports
// whether more remain.
func (b *batch) purge(prefix byte, id store.ID) (bool, error) {
	var keys [][]byte
	more, err := b.keysMore(prefix, id, deleteChunk, func(item *bdg.Item) {
		keys = append(keys, item.KeyCopy(nil))
	})
	if err != nil {
		return false, err
	}
	for _, k := range keys {
		b.del(k)
	}
	return more, nil
}

// touch marks the mailbox active today, writing its record at most once a
// day.
func (b *batch) touch(st *boxState) {
	if record.DayNumber(b.now) <= record.DayNumber(st.meta.LastActive) {
		return
	}
	b.saveMailbox(st, st.meta)
}

// saveMailbox writes m as st's record, marked active today, and moves its
// idle-index key. m must have been encoded before (it fits).
func (b *batch) saveMailbox(st *boxState, m store.Mailbox) {
	old := record.DayNumber(st.meta.LastActive)
	if today := record.DayNumber(b.now); today > record.DayNumber(m.LastActive) {
		m.LastActive = record.DayTime(today)
	}
	v, err := record.EncodeMailbox(m)
	if err != nil {
		return // cannot happen: Secure checked the key, the rest is fixed-size
	}
	b.set(idKey(prefixMailbox, m.RecipientID), v)
	if d := record.DayNumber(m.LastActive); d != old {
		b.del(activeKey(old, m.RecipientID))
		b.set(activeKey(d, m.RecipientID), nil)
	}
	st.meta = m
}

// log returns the state of log id, loading it if needed.
func (b *batch) log(id store.ID) (*logState, error) {
	if ls := b.w.logs[id]; ls != nil {
		return ls, nil
	}
	l, err := getLog(b.txn, id)
	if err != nil {
		return nil, err
	}
	ls := &logState{ttl: l.TTL}
	v, _, err := b.get(idKey(prefixLogSeq, id))
	switch {
	case err == nil:
		if ls.lastSeq, err = decodeUint64(v); err != nil {
			return nil, err
		}
	case !errors.Is(err, store.ErrNotFound):
		return nil, err
	}
	b.w.logs[id] = ls
	return ls, nil
}
