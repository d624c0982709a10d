package badger

import (
	"context"
	"errors"
	"fmt"
	"time"

	"veil/relay/store"
	"veil/relay/store/record"
)

var (
	errBodyTooLarge = fmt.Errorf("badger: body larger than %d bytes", MaxBody)
	errBadTTL       = errors.New("badger: ttl must be positive")
)

// CreateMailbox implements store.Store.
func (s *Store) CreateMailbox(ctx context.Context, m store.Mailbox) error {
	return s.submit(ctx, &createMailboxOp{m: m})
}

type createMailboxOp struct{ m store.Mailbox }

func (o *createMailboxOp) apply(b *batch) error {
	m := o.m
	for _, k := range [][]byte{idKey(prefixMailbox, m.RecipientID), idKey(prefixSender, m.SenderID)} {
		_, _, err := b.get(k)
		if err == nil {
			return store.ErrExists
		}
		if !errors.Is(err, store.ErrNotFound) {
			return err
		}
	}
	if m.Created.IsZero() {
		m.Created = b.now
	}
	if m.LastActive.IsZero() {
		m.LastActive = b.now
	}
	v, err := record.EncodeMailbox(m)
	if err != nil {
		return err
	}
	b.set(idKey(prefixMailbox, m.RecipientID), v)
	b.set(idKey(prefixSender, m.SenderID), m.RecipientID[:])
	b.set(activeKey(record.DayNumber(m.LastActive), m.RecipientID), nil)
	return nil
}

// Secure implements store.Store.
func (s *Store) Secure(ctx context.Context, sid store.ID, senderKey []byte) error {
	if len(senderKey) == 0 || len(senderKey) > record.MaxSenderKey {
		return fmt.Errorf("badger: sender key of %d bytes", len(senderKey))
	}
	return s.submit(ctx, &secureOp{sid: sid, key: senderKey})
}

type secureOp struct {
	sid store.ID
	key []byte
}

func (o *secureOp) apply(b *batch) error {
	st, err := b.boxBySender(o.sid)
	if err != nil {
		return err
	}
	if len(st.meta.SenderKey) != 0 {
		return store.ErrAlreadySecured
	}
	m := st.meta
	m.SenderKey = append([]byte(nil), o.key...)
	b.saveMailbox(st, m)
	return nil
}

// DeleteMailbox implements store.Store. One journal record drops all of
// the mailbox's messages.
func (s *Store) DeleteMailbox(ctx context.Context, rid store.ID) error {
	return s.submit(ctx, &deleteMailboxOp{rid: rid})
}

// purgeAll deletes the remaining records under prefix|id in bounded
// groups. What a crash leaves behind, Expire removes as orphans.
func (s *Store) purgeAll(ctx context.Context, prefix byte, id store.ID, more bool) error {
	for more {
		o := &purgeOp{prefix: prefix, id: id}
		if err := s.submit(ctx, o); err != nil {
			return err
		}
		more = o.more
	}
	return nil
}

type deleteMailboxOp struct {
	rid        store.ID
	idleBefore time.Time // when set, delete only if idle since before it
	skipped    bool
}

func (o *deleteMailboxOp) apply(b *batch) error {
	st, err := b.box(o.rid)
	if err != nil {
		return err
	}
	if !o.idleBefore.IsZero() && !st.meta.LastActive.Before(o.idleBefore) {
		o.skipped = true
		return nil
	}
	b.w.j.AppendDrop(o.rid)
	b.del(idKey(prefixMailbox, o.rid))
	b.del(idKey(prefixSender, st.meta.SenderID))
	b.del(idKey(prefixBoxSeq, o.rid))
	b.del(activeKey(record.DayNumber(st.meta.LastActive), o.rid))
	b.w.forget(st)
	// Dropped now and again after the commit, so a reader that loaded the
	// record meanwhile does not keep it.
	b.w.s.cache.forget(o.rid, st.meta.SenderID)
	b.forget = append(b.forget, [2]store.ID{o.rid, st.meta.SenderID})
	return nil
}

type purgeOp struct {
	prefix byte
	id     store.ID
	more   bool
}

func (o *purgeOp) apply(b *batch) (err error) {
	o.more, err = b.purge(o.prefix, o.id)
	return err
}

// Send implements store.Store.
func (s *Store) Send(ctx context.Context, sid store.ID, body []byte, ttl time.Duration, maxPending int) (uint64, error) {
	switch {
	case len(body) > MaxBody:
		return 0, errBodyTooLarge
	case ttl <= 0:
		return 0, errBadTTL
	case s.overQuota():
		return 0, store.ErrDiskQuota
	}
	o := &sendOp{sid: sid, body: body, ttl: ttl, max: maxPending}
	err := s.submit(ctx, o)
	return o.seq, err
}

// SendAsync implements store.AsyncWriter.
func (s *Store) SendAsync(sid store.ID, body []byte, ttl time.Duration, maxPending int, done func(uint64, error)) {
	switch {
	case len(body) > MaxBody:
		done(0, errBodyTooLarge)
		return
	case ttl <= 0:
		done(0, errBadTTL)
		return
	case s.overQuota():
		done(0, store.ErrDiskQuota)
		return
	}
	o := &sendOp{sid: sid, body: body, ttl: ttl, max: maxPending}
	s.submitAsync(o, func(err error) { done(o.seq, err) })
}

// seqReserve is how many mailbox sequence numbers one write of the
// sequence record reserves. A restart skips what was left of the last
// reservation; the record also shows only a rounded count of messages.
const seqReserve = 1024

type sendOp struct {
	sid  store.ID
	body []byte
	ttl  time.Duration
	max  int
	seq  uint64
}

func (o *sendOp) apply(b *batch) error {
	st, err := b.boxBySender(o.sid)
	if err != nil {
		return err
	}
	rid := st.meta.RecipientID
	j := b.w.j
	if j.Len(rid) >= o.max {
		// The index may hold messages that have expired since.
		j.DropExpired(rid, b.now)
		if j.Len(rid) >= o.max {
			return store.ErrQuota
		}
	}
	seq := st.lastSeq + 1
	if seq > st.reserved {
		// The sequence record reserves seqReserve numbers at a time, in
		// the same group as the first SEND past the last reservation
		// (committed before the group's journal records): one write per
		// seqReserve SENDs instead of one per SEND, and numbers stay
		// strictly increasing across a restart, which continues after
		// the reservation (store.Message.Seq).
		b.set(idKey(prefixBoxSeq, rid), encodeUint64(seq+seqReserve-1))
		if b.failed != nil {
			return b.failed
		}
		st.reserved = seq + seqReserve - 1
	}
	j.AppendSend(rid, seq, expiresAt(b.now.Add(o.ttl)), o.body)
	st.lastSeq = seq
	b.touch(st)
	b.notify = append(b.notify, rid)
	o.seq = seq
	return nil
}

// Ack implements store.Store.
func (s *Store) Ack(ctx context.Context, rid store.ID, seq uint64) error {
	return s.submit(ctx, &ackOp{rid: rid, seq: seq})
}

// AckAsync implements store.AsyncWriter.
func (s *Store) AckAsync(rid store.ID, seq uint64, done func(error)) {
	s.submitAsync(&ackOp{rid: rid, seq: seq}, done)
}

type ackOp struct {
	rid store.ID
	seq uint64
}

func (o *ackOp) apply(b *batch) error {
	st, err := b.box(o.rid)
	if err != nil {
		return err
	}
	if !b.w.j.AppendAck(o.rid, o.seq, b.now) {
		return store.ErrNotFound
	}
	b.touch(st)
	return nil
}

type touchOp struct{ rid store.ID }

func (o *touchOp) apply(b *batch) error {
	st, err := b.box(o.rid)
	if err != nil {
		return err
	}
	b.touch(st)
	return nil
}

// PutBlob implements store.Store. The deadline is kept to the second,
// rounded up.
func (s *Store) PutBlob(ctx context.Context, id store.ID, body []byte, deadline time.Time) error {
	switch {
	case len(body) > MaxBody:
		return errBodyTooLarge
	case s.overQuota():
		return store.ErrDiskQuota
	}
	return s.submit(ctx, &putBlobOp{id: id, body: body, deadline: deadline})
}

type putBlobOp struct {
	id       store.ID
	body     []byte
	deadline time.Time
}

func (o *putBlobOp) apply(b *batch) error {
	key := idKey(prefixBlob, o.id)
	// A live blob or the reservation a take left (spec/relay.md §7.2).
	for _, k := range [][]byte{key, idKey(prefixTaken, o.id)} {
		_, _, err := b.get(k)
		if err == nil {
			return store.ErrExists
		}
		if !errors.Is(err, store.ErrNotFound) {
			return err
		}
	}
	exp := expiresAt(o.deadline)
	if expired(exp, b.now) {
		return nil // dead on arrival: nobody can take it
	}
	b.setExpiring(key, o.body, exp)
	return nil
}

// TakeBlob implements store.Store. The writer applies takes one at a time,
// so of any number of concurrent takers exactly one finds the blob. The
// take replaces the blob by a reservation of its ID that expires at the
// blob's deadline, in the same commit.
func (s *Store) TakeBlob(ctx context.Context, id store.ID) ([]byte, error) {
	o := &takeBlobOp{id: id}
	err := s.submit(ctx, o)
	return o.body, err
}

type takeBlobOp struct {
	id   store.ID
	body []byte
}

func (o *takeBlobOp) apply(b *batch) error {
	key := idKey(prefixBlob, o.id)
	v, exp, err := b.get(key)
	if err != nil {
		return err
	}
	b.del(key)
	b.setExpiring(idKey(prefixTaken, o.id), nil, exp)
	o.body = v
	return nil
}

// CreateLog implements store.Store.
func (s *Store) CreateLog(ctx context.Context, l store.Log) error {
	s.closeMu.RLock()
	closed := s.closed
	s.closeMu.RUnlock()
	if closed {
		return store.ErrClosed
	}
	if l.TTL <= 0 {
		return errBadTTL
	}
	return s.submit(ctx, &createLogOp{l: l})
}

type createLogOp struct{ l store.Log }

func (o *createLogOp) apply(b *batch) error {
	key := idKey(prefixLog, o.l.ID)
	_, _, err := b.get(key)
	if err == nil {
		return store.ErrExists
	}
	if !errors.Is(err, store.ErrNotFound) {
		return err
	}
	l := o.l
	if l.Created.IsZero() {
		l.Created = b.now
	}
	b.set(key, record.EncodeLog(record.Log{Log: l}))
	return nil
}

// Append implements store.Store.
func (s *Store) Append(ctx context.Context, id store.ID, body []byte) (uint64, error) {
	switch {
	case len(body) > MaxBody:
		return 0, errBodyTooLarge
	case s.overQuota():
		return 0, store.ErrDiskQuota
	}
	o := &appendOp{id: id, body: body}
	err := s.submit(ctx, o)
	return o.seq, err
}

type appendOp struct {
	id   store.ID
	body []byte
	seq  uint64
}

func (o *appendOp) apply(b *batch) error {
	ls, err := b.log(o.id)
	if err != nil {
		return err
	}
	seq := ls.lastSeq + 1
	b.setExpiring(seqKey(prefixEntry, o.id, seq), o.body, expiresAt(b.now.Add(ls.ttl)))
	b.set(idKey(prefixLogSeq, o.id), encodeUint64(seq))
	ls.lastSeq = seq
	o.seq = seq
	return nil
}

// DeleteLog implements store.Store. The log is gone once the first group
// commits; its entries go in further groups of bounded size.
func (s *Store) DeleteLog(ctx context.Context, id store.ID) error {
	o := &deleteLogOp{id: id}
	if err := s.submit(ctx, o); err != nil {
		return err
	}
	return s.purgeAll(ctx, prefixEntry, id, o.more)
}

type deleteLogOp struct {
	id   store.ID
	more bool
}

func (o *deleteLogOp) apply(b *batch) error {
	if _, err := getLog(b.txn, o.id); err != nil {
		return err
	}
	more, err := b.purge(prefixEntry, o.id)
	if err != nil {
		return err
	}
	b.del(idKey(prefixLog, o.id))
	b.del(idKey(prefixLogSeq, o.id))
	delete(b.w.logs, o.id)
	o.more = more
	return nil
}
