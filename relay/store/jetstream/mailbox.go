package jetstream

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	js "github.com/nats-io/nats.go/jetstream"

	"veil/relay/store"
	"veil/relay/store/record"
)

// zero is the expected last subject sequence of a key that must not exist.
var zero uint64

// CreateMailbox implements store.Store: the recipient record first, then
// the sender index, each created only if absent (spec §4.1).
func (s *Store) CreateMailbox(ctx context.Context, m store.Mailbox) error {
	ctx, cancel, err := s.begin(ctx)
	if err != nil {
		return err
	}
	defer cancel()
	if len(m.SenderKey) > record.MaxSenderKey {
		return errors.New("jetstream: sender key too long")
	}
	now := s.now()
	if m.Created.IsZero() {
		m.Created = now
	}
	if m.LastActive.IsZero() {
		m.LastActive = now
	}
	m.Created, m.LastActive = dayOf(m.Created), dayOf(m.LastActive)
	rev, err := s.publish(ctx, pub{subject: kvSubject(s.names.boxBucket, m.RecipientID), data: encodeMailbox(m), expect: &zero})
	if errors.Is(err, errConflict) {
		return store.ErrExists
	}
	if err != nil {
		return fmt.Errorf("jetstream: create mailbox: %w", err)
	}
	_, err = s.publish(ctx, pub{subject: kvSubject(s.names.senderBucket, m.SenderID), data: encodeSender(m.RecipientID), expect: &zero})
	if err == nil {
		return nil
	}
	// Undo the recipient record; if that fails too, Expire removes it
	// once it is idle (nothing can reach it without a sender index).
	if rerr := remove(ctx, s.boxes, rev); rerr != nil && !errors.Is(rerr, errGone) {
		s.log.Warn("jetstream: could not undo a refused mailbox", "err", rerr)
	}
	if errors.Is(err, errConflict) {
		return store.ErrExists
	}
	return fmt.Errorf("jetstream: create mailbox: %w", err)
}

// encodeSender is the sender index value: version, recipient ID.
func encodeSender(rid store.ID) []byte { return append([]byte{recordV1}, rid[:]...) }

func decodeSender(b []byte) (store.ID, error) {
	var rid store.ID
	if len(b) != 1+store.IDSize || b[0] != recordV1 {
		return rid, errRecord
	}
	copy(rid[:], b[1:])
	return rid, nil
}

// box returns the mailbox record of rid and its revision.
func (s *Store) box(ctx context.Context, rid store.ID) (store.Mailbox, uint64, error) {
	msg, err := last(ctx, s.boxes, kvSubject(s.names.boxBucket, rid))
	if err != nil {
		return store.Mailbox{}, 0, fmt.Errorf("jetstream: read mailbox: %w", err)
	}
	if msg == nil {
		return store.Mailbox{}, 0, store.ErrNotFound
	}
	m, err := decodeMailbox(msg.Data)
	if err != nil || m.RecipientID != rid {
		return store.Mailbox{}, 0, fmt.Errorf("jetstream: mailbox record at revision %d: %w", msg.Sequence, errRecord)
	}
	return m, msg.Sequence, nil
}

// boxBySender follows the sender index to the mailbox record.
func (s *Store) boxBySender(ctx context.Context, sid store.ID) (store.Mailbox, uint64, error) {
	msg, err := last(ctx, s.senders, kvSubject(s.names.senderBucket, sid))
	if err != nil {
		return store.Mailbox{}, 0, fmt.Errorf("jetstream: read sender index: %w", err)
	}
	if msg == nil {
		return store.Mailbox{}, 0, store.ErrNotFound
	}
	rid, err := decodeSender(msg.Data)
	if err != nil {
		return store.Mailbox{}, 0, fmt.Errorf("jetstream: sender index at revision %d: %w", msg.Sequence, err)
	}
	m, rev, err := s.box(ctx, rid)
	if err != nil {
		return store.Mailbox{}, 0, err
	}
	if m.SenderID != sid { // an index entry left by a refused create
		return store.Mailbox{}, 0, store.ErrNotFound
	}
	return m, rev, nil
}

// sendTarget is boxBySender through the node's cache (§3.2): the sender
// index entry, and the record when it was read less than boxFresh ago.
// A cached index entry is checked against the record (the sender ID must
// match), so a deleted and re-created mailbox is found anew.
func (s *Store) sendTarget(ctx context.Context, sid store.ID) (store.Mailbox, uint64, error) {
	if rid, ok := s.cache.recipient(sid); ok {
		m, rev, err := s.cachedBox(ctx, rid)
		if err == nil && m.SenderID == sid {
			return m, rev, nil
		}
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return store.Mailbox{}, 0, err
		}
		s.cache.drop(rid, sid)
	}
	return s.readBySender(ctx, sid)
}

// cachedBox is box through the node's cache (§3.2).
func (s *Store) cachedBox(ctx context.Context, rid store.ID) (store.Mailbox, uint64, error) {
	if m, rev, ok := s.cache.box(rid); ok {
		return m, rev, nil
	}
	return s.readBox(ctx, rid)
}

// readBox reads rid's record from the cluster into the cache; concurrent
// calls may share one read of a secured record (lookups).
func (s *Store) readBox(ctx context.Context, rid store.ID) (store.Mailbox, uint64, error) {
	return s.lookups.do(ctx, lookupKey{id: rid}, func() (store.Mailbox, uint64, time.Time, error) {
		gen, read := s.cache.generation(), time.Now()
		m, rev, err := s.box(ctx, rid)
		if err == nil {
			s.cache.put(m, rev, read, gen)
		}
		return m, rev, read, err
	})
}

// readBySender is boxBySender into the cache, as readBox.
func (s *Store) readBySender(ctx context.Context, sid store.ID) (store.Mailbox, uint64, error) {
	return s.lookups.do(ctx, lookupKey{bySender: true, id: sid}, func() (store.Mailbox, uint64, time.Time, error) {
		gen, read := s.cache.generation(), time.Now()
		m, rev, err := s.boxBySender(ctx, sid)
		if err == nil {
			s.cache.put(m, rev, read, gen)
		}
		return m, rev, read, err
	})
}

// Mailbox implements store.Store. A secured mailbox comes through the
// node's cache (§3.2): what the relay checks of it, the recipient key and
// the sender credential, no longer changes once it is secured.
func (s *Store) Mailbox(ctx context.Context, rid store.ID) (store.Mailbox, error) {
	if err := s.usable(); err != nil {
		return store.Mailbox{}, err
	}
	if m, _, ok := s.cache.box(rid); ok && len(m.SenderKey) != 0 {
		return ownCopy(m), nil
	}
	ctx, err := s.beginHot(ctx)
	if err != nil {
		return store.Mailbox{}, err
	}
	m, _, err := s.readBox(ctx, rid)
	if err != nil {
		return store.Mailbox{}, err
	}
	return ownCopy(m), nil
}

// MailboxBySender implements store.Store, through the node's cache for a
// secured mailbox as Mailbox: the relay calls it before every SEND, whose
// Send then finds the same cached record.
func (s *Store) MailboxBySender(ctx context.Context, sid store.ID) (store.Mailbox, error) {
	if err := s.usable(); err != nil {
		return store.Mailbox{}, err
	}
	if rid, ok := s.cache.recipient(sid); ok {
		if m, _, ok := s.cache.box(rid); ok && m.SenderID == sid && len(m.SenderKey) != 0 {
			return ownCopy(m), nil
		}
	}
	ctx, err := s.beginHot(ctx)
	if err != nil {
		return store.Mailbox{}, err
	}
	m, _, err := s.readBySender(ctx, sid)
	if err != nil {
		return store.Mailbox{}, err
	}
	return ownCopy(m), nil
}

// ownCopy gives the caller a record whose sender credential the cache
// does not share.
func ownCopy(m store.Mailbox) store.Mailbox {
	m.SenderKey = slices.Clone(m.SenderKey)
	return m
}

// Secure implements store.Store with compare-and-set on the record's
// revision, so of two concurrent Secure calls exactly one succeeds.
func (s *Store) Secure(ctx context.Context, sid store.ID, senderKey []byte) error {
	ctx, cancel, err := s.begin(ctx)
	if err != nil {
		return err
	}
	defer cancel()
	if len(senderKey) > record.MaxSenderKey {
		return errors.New("jetstream: sender key too long")
	}
	for range maxCAS {
		m, rev, err := s.boxBySender(ctx, sid)
		if err != nil {
			return err
		}
		if len(m.SenderKey) != 0 {
			return store.ErrAlreadySecured
		}
		m.SenderKey = append([]byte(nil), senderKey...)
		if today := dayOf(s.now()); today.After(m.LastActive) {
			m.LastActive = today
		}
		_, err = s.publish(ctx, pub{subject: kvSubject(s.names.boxBucket, m.RecipientID), data: encodeMailbox(m), expect: &rev})
		s.cache.dropBox(m.RecipientID)
		if errors.Is(err, errConflict) {
			continue
		}
		if err != nil {
			return fmt.Errorf("jetstream: secure: %w", err)
		}
		return nil
	}
	return errors.New("jetstream: secure: too many concurrent updates")
}

// touch marks the mailbox active today, at most once a day (store.Mailbox).
// It is best effort: a concurrent update that wins has touched it or will.
func (s *Store) touch(ctx context.Context, m store.Mailbox, rev uint64) {
	today := dayOf(s.now())
	if !today.After(m.LastActive) {
		return
	}
	m.LastActive = today
	gen, read := s.cache.generation(), time.Now()
	rev, err := s.publish(ctx, pub{subject: kvSubject(s.names.boxBucket, m.RecipientID), data: encodeMailbox(m), expect: &rev})
	if err == nil {
		s.cache.put(m, rev, read, gen)
		return
	}
	s.cache.dropBox(m.RecipientID)
	if !errors.Is(err, errConflict) {
		s.log.Warn("jetstream: could not mark a mailbox active", "err", err)
	}
}

// DeleteMailbox implements store.Store: the record, then the sender
// index, then every message (spec §4.1). A crash part-way leaves only
// records that nothing reaches, which Expire and the messages' TTL remove.
func (s *Store) DeleteMailbox(ctx context.Context, rid store.ID) error {
	ctx, cancel, err := s.begin(ctx)
	if err != nil {
		return err
	}
	defer cancel()
	m, rev, err := s.box(ctx, rid)
	if err != nil {
		return err
	}
	if err := remove(ctx, s.boxes, rev); err != nil {
		if errors.Is(err, errGone) {
			return store.ErrNotFound
		}
		return fmt.Errorf("jetstream: delete mailbox: %w", err)
	}
	return s.dropMailbox(ctx, m)
}

// dropMailbox removes what remains of a mailbox whose record is gone.
func (s *Store) dropMailbox(ctx context.Context, m store.Mailbox) error {
	s.cache.drop(m.RecipientID, m.SenderID)
	idx, err := last(ctx, s.senders, kvSubject(s.names.senderBucket, m.SenderID))
	if err != nil {
		return fmt.Errorf("jetstream: delete mailbox: %w", err)
	}
	if idx != nil {
		if rid, err := decodeSender(idx.Data); err == nil && rid == m.RecipientID {
			if err := remove(ctx, s.senders, idx.Sequence); err != nil && !errors.Is(err, errGone) {
				return fmt.Errorf("jetstream: delete mailbox: %w", err)
			}
		}
	}
	st, subject := s.shard(m.RecipientID)
	err = retry(ctx, func(ctx context.Context) error {
		return st.Purge(ctx, js.WithPurgeSubject(subject))
	})
	if err != nil {
		return fmt.Errorf("jetstream: delete mailbox messages: %w", err)
	}
	return nil
}

// expiresAt returns the expiry a message or entry carries.
func expiresAt(msg *js.RawStreamMsg) (time.Time, error) {
	return parseMillis(msg.Header.Get(hdrExpires))
}
