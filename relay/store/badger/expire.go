package badger

import (
	"context"
	"errors"
	"time"

	bdg "github.com/dgraph-io/badger/v4"

	"veil/relay/store"
	"veil/relay/store/record"
)

// sweepEvery is how often Expire walks every message, entry and blob
// when its time is the present: readers and the quota already pass over
// expired messages, and Badger's native expiry hides and drops expired
// entries and blobs, so the walk only frees the journal's index and
// segments and finds orphans, which only a crash in the middle of a
// delete leaves.
const sweepEvery = time.Hour

// expireChunk bounds the keys one scan collects before handing them to the
// writer, so Expire holds neither a long transaction nor much memory.
const expireChunk = deleteChunk

// Expire implements store.Store. It removes mailboxes idle since before
// idleBefore (with their messages), found through an index by day. Then,
// at most once per sweepEvery while now is the present, it drops the
// messages and file chunks expired at now from the journal's index
// (readers and the quota already pass over them; dropped, they no longer
// keep their segments), and removes entries, blobs and reservations of taken blob
// IDs expired at now, and entries whose log no longer exists (left by a
// crash in the middle of a delete). Entries, blobs and reservations also
// carry Badger's native expiry, which removes them on the real clock even
// without Expire.
func (s *Store) Expire(ctx context.Context, now, idleBefore time.Time) error {
	if err := s.expireMailboxes(ctx, idleBefore); err != nil {
		return err
	}
	real := time.Now()
	last := time.Unix(0, s.lastSweep.Load())
	if !now.After(real.Add(time.Second)) && real.Sub(last) < sweepEvery && real.After(last) {
		return nil
	}
	s.lastSweep.Store(real.UnixNano())
	if err := s.expireMessages(ctx, now); err != nil {
		return err
	}
	if err := s.expireChunks(ctx, now); err != nil {
		return err
	}
	for _, p := range []byte{prefixEntry, prefixBlob, prefixTaken} {
		if err := s.expireRecords(ctx, p, now); err != nil {
			return err
		}
	}
	return nil
}

// expireMailboxes deletes the mailboxes idle since before idleBefore. The
// idle index (prefixActive, sorted by day) makes this a scan of the idle
// ones only.
func (s *Store) expireMailboxes(ctx context.Context, idleBefore time.Time) error {
	start := []byte{prefixActive}
	for start != nil {
		var idle []store.ID
		var err error
		rest := false // reached mailboxes that are still active
		start, err = s.scan(prefixActive, start, func(item *bdg.Item) (bool, error) {
			d, rid, ok := parseActiveKey(item.Key())
			if !ok {
				return true, nil
			}
			if !record.DayTime(d).Before(idleBefore) {
				rest = true
				return false, nil
			}
			idle = append(idle, rid)
			return len(idle) < expireChunk, nil
		})
		if err != nil {
			return err
		}
		for _, rid := range idle {
			o := &deleteMailboxOp{rid: rid, idleBefore: idleBefore}
			if err := s.submit(ctx, o); err != nil {
				if errors.Is(err, store.ErrNotFound) {
					continue // deleted meanwhile
				}
				return err
			}
		}
		if rest {
			return nil
		}
	}
	return nil
}

// parentPrefix is the record that must exist for a record under p.
func parentPrefix(p byte) byte {
	switch p {
	case prefixEntry:
		return prefixLog
	}
	return 0
}

func (s *Store) expireRecords(ctx context.Context, p byte, now time.Time) error {
	start := []byte{p}
	for start != nil {
		var keys [][]byte
		var err error
		var lastParent store.ID
		var lastParentOK, haveParent bool
		start, err = s.scanTxn(p, start, func(txn *bdg.Txn, item *bdg.Item) (bool, error) {
			orphan := false
			if pp := parentPrefix(p); pp != 0 {
				id, _, ok := parseSeqKey(item.Key())
				if !ok {
					return true, nil
				}
				if !haveParent || id != lastParent {
					_, err := txn.Get(idKey(pp, id))
					if err != nil && !errors.Is(err, bdg.ErrKeyNotFound) {
						return false, err
					}
					lastParent, lastParentOK, haveParent = id, err == nil, true
				}
				orphan = !lastParentOK
			}
			if orphan || expired(item.ExpiresAt(), now) {
				keys = append(keys, item.KeyCopy(nil))
			}
			return len(keys) < expireChunk, nil
		})
		if err != nil {
			return err
		}
		if len(keys) > 0 {
			if err := s.submit(ctx, &expireKeysOp{prefix: p, keys: keys, now: now}); err != nil {
				return err
			}
		}
	}
	return nil
}

// scan iterates over the records under prefix p from key start, calling fn
// until it returns false; it returns the key to continue from, or nil at
// the end.
func (s *Store) scan(p byte, start []byte, fn func(*bdg.Item) (bool, error)) ([]byte, error) {
	return s.scanTxn(p, start, func(_ *bdg.Txn, item *bdg.Item) (bool, error) { return fn(item) })
}

func (s *Store) scanTxn(p byte, start []byte, fn func(*bdg.Txn, *bdg.Item) (bool, error)) ([]byte, error) {
	var next []byte
	err := s.view(func(txn *bdg.Txn) error {
		opts := bdg.IteratorOptions{Prefix: []byte{p}, PrefetchValues: false}
		it := txn.NewIterator(opts)
		defer it.Close()
		for it.Seek(start); it.ValidForPrefix(opts.Prefix); it.Next() {
			more, err := fn(txn, it.Item())
			if err != nil {
				return err
			}
			if !more {
				// Continue just after this key.
				next = append(it.Item().KeyCopy(nil), 0)
				return nil
			}
		}
		return nil
	})
	return next, err
}

// expireKeysOp deletes keys found expired or orphaned by a scan, checking
// each again: a blob ID may have been reused meanwhile.
type expireKeysOp struct {
	prefix byte
	keys   [][]byte
	now    time.Time
}

func (o *expireKeysOp) apply(b *batch) error {
	parent := parentPrefix(o.prefix)
	for _, k := range o.keys {
		item, err := b.txn.Get(k)
		if errors.Is(err, bdg.ErrKeyNotFound) {
			continue
		}
		if err != nil {
			return err
		}
		gone := expired(item.ExpiresAt(), o.now)
		var id store.ID
		if parent != 0 {
			var ok bool
			if id, _, ok = parseSeqKey(k); !ok {
				continue
			}
			if !gone {
				_, err := b.txn.Get(idKey(parent, id))
				gone = errors.Is(err, bdg.ErrKeyNotFound)
			}
		}
		if !gone {
			continue
		}
		b.del(k)
	}
	return nil
}

// expireMessages drops the messages expired at now from the journal's
// index, expireChunk mailboxes per group, so their segments can go.
func (s *Store) expireMessages(ctx context.Context, now time.Time) error {
	rids := s.j.Expiring(now)
	for len(rids) > 0 {
		n := min(len(rids), expireChunk)
		if err := s.submit(ctx, &expireMessagesOp{rids: rids[:n], now: now}); err != nil {
			return err
		}
		rids = rids[n:]
	}
	return nil
}

type expireMessagesOp struct {
	rids []store.ID
	now  time.Time
}

func (o *expireMessagesOp) apply(b *batch) error {
	for _, rid := range o.rids {
		b.w.j.DropExpired(rid, o.now)
	}
	return nil
}
