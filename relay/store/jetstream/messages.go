package jetstream

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	js "github.com/nats-io/nats.go/jetstream"

	"veil/relay/store"
)

// Send implements store.Store (spec §3.2). The quota check and the
// publish form one optimistic transaction: the publish expects the
// subject's last sequence read before counting, so a concurrent Send
// makes it fail and both re-count, and no mailbox ever holds more than
// maxPending. The body is acknowledged only once the stream's replicas
// hold it; then the recipient's node is notified (§3.4). The mailbox is
// found through the node's cache (§3.2), so a SEND to a mailbox written to
// or read within the last second is one publish.
func (s *Store) Send(ctx context.Context, sid store.ID, body []byte, ttl time.Duration, maxPending int) (uint64, error) {
	ctx, err := s.beginHot(ctx)
	if err != nil {
		return 0, err
	}
	if len(body) > MaxBody {
		return 0, fmt.Errorf("jetstream: body of %d bytes over the %d limit", len(body), MaxBody)
	}
	m, rev, err := s.sendTarget(ctx, sid)
	if err != nil {
		return 0, err
	}
	if s.full(len(body)) {
		return 0, store.ErrDiskQuota
	}
	st, subject := s.shard(m.RecipientID)
	header := nats.Header{hdrExpires: []string{formatMillis(s.now().Add(ttl))}}
	if s.maxPend > 0 && maxPending == s.maxPend {
		// The stream's per-subject limit is the quota: one publish.
		seq, err := s.publish(ctx, pub{subject: subject, data: body, header: header, ttl: ttl})
		if err != nil {
			if errors.Is(err, store.ErrQuota) {
				return 0, err
			}
			return 0, fmt.Errorf("jetstream: send: %w", err)
		}
		s.sent(ctx, m, rev, seq)
		return seq, nil
	}
	unlock, err := s.writers.lock(ctx, 'm', m.RecipientID)
	if err != nil {
		return 0, fmt.Errorf("jetstream: send: %w", err)
	}
	defer unlock()
	for range maxCAS {
		prev, err := last(ctx, st, subject)
		if err != nil {
			return 0, fmt.Errorf("jetstream: send: %w", err)
		}
		var lastSeq uint64
		if prev != nil {
			lastSeq = prev.Sequence
			n, err := count(ctx, st, subject)
			if err != nil {
				return 0, fmt.Errorf("jetstream: send: %w", err)
			}
			if n >= uint64(max(maxPending, 0)) {
				return 0, store.ErrQuota
			}
		} else if maxPending <= 0 {
			return 0, store.ErrQuota
		}
		seq, err := s.publish(ctx, pub{subject: subject, data: body, header: header, ttl: ttl, expect: &lastSeq})
		if errors.Is(err, errConflict) {
			continue
		}
		if errors.Is(err, store.ErrQuota) { // the stream's own limit
			return 0, err
		}
		if err != nil {
			return 0, fmt.Errorf("jetstream: send: %w", err)
		}
		s.sent(ctx, m, rev, seq)
		return seq, nil
	}
	return 0, errors.New("jetstream: send: too many concurrent sends to one mailbox")
}

// sent marks the mailbox active and notifies its subscriber's node: core
// NATS, at most once; a lost notification only delays delivery until the
// subscriber's next wake-up (§3.4). The node remembers that seq is the
// mailbox's, for the ACK.
func (s *Store) sent(ctx context.Context, m store.Mailbox, rev, seq uint64) {
	s.cache.sawSeq(m.RecipientID, seq)
	s.touch(ctx, m, rev)
	_ = s.nc.Publish(s.names.notifySubject(m.RecipientID), nil)
}

// Pending implements store.Store: it walks the mailbox's subject from
// after+1 with next-by-subject gets on its shard's leader (§3.3). The
// mailbox record comes through the node's cache (§3.2).
func (s *Store) Pending(ctx context.Context, rid store.ID, after uint64, limit int) ([]store.Message, error) {
	ctx, err := s.beginHot(ctx)
	if err != nil {
		return nil, err
	}
	m, rev, err := s.cachedBox(ctx, rid)
	if err != nil {
		return nil, err
	}
	s.touch(ctx, m, rev)
	st, subject := s.shard(rid)
	if st.CachedInfo().Config.AllowDirect {
		return s.pendingBatch(ctx, rid, st, subject, after, limit)
	}
	now := s.now()
	var out []store.Message
	for seq := after + 1; len(out) < limit; {
		msg, err := next(ctx, st, seq, subject)
		if err != nil {
			return nil, fmt.Errorf("jetstream: pending: %w", err)
		}
		if msg == nil || msg.Subject != subject {
			break
		}
		seq = msg.Sequence + 1
		exp, err := expiresAt(msg)
		if err != nil {
			// Not written by this store: skip it rather than fail the box.
			s.log.Warn("jetstream: message without a valid expiry skipped")
			continue
		}
		if !exp.After(now) {
			continue
		}
		out = append(out, store.Message{Seq: msg.Sequence, Body: msg.Data, Expires: exp})
		s.cache.sawSeq(rid, msg.Sequence)
	}
	return out, nil
}

// pendingBatch is Pending on a shard with direct get (one replica,
// §1.3): batch direct gets of up to limit messages, each ending with the
// number still pending after it, so a delivery of what is there is one
// request and needs no second read to find the mailbox's end (§3.3).
func (s *Store) pendingBatch(ctx context.Context, rid store.ID, st js.Stream, subject string, after uint64, limit int) ([]store.Message, error) {
	now := s.now()
	var out []store.Message
	for seq := after + 1; len(out) < limit; {
		msgs, more, err := s.batchNext(ctx, st, subject, seq, min(limit-len(out), maxBatch))
		if err != nil {
			return nil, fmt.Errorf("jetstream: pending: %w", err)
		}
		for _, msg := range msgs {
			mseq, msubject, err := batchHeaders(msg)
			if err != nil {
				return nil, fmt.Errorf("jetstream: pending: %w", err)
			}
			if msubject != subject || mseq < seq {
				return nil, fmt.Errorf("jetstream: pending: %w: message %d on another subject", errBatchGet, mseq)
			}
			seq = mseq + 1
			exp, err := parseMillis(msg.Header.Get(hdrExpires))
			if err != nil {
				s.log.Warn("jetstream: message without a valid expiry skipped")
				continue
			}
			if !exp.After(now) {
				continue
			}
			out = append(out, store.Message{Seq: mseq, Body: msg.Data, Expires: exp})
			s.cache.sawSeq(rid, mseq)
		}
		if !more || len(msgs) == 0 {
			break
		}
	}
	return out, nil
}

// Ack implements store.Store: deletion by stream sequence, after checking
// that the sequence belongs to this mailbox (§3.3); a sequence this node
// stored or read for the mailbox is known to be its own without a read.
func (s *Store) Ack(ctx context.Context, rid store.ID, seq uint64) error {
	ctx, err := s.beginHot(ctx)
	if err != nil {
		return err
	}
	if seq == 0 {
		return store.ErrNotFound
	}
	st, subject := s.shard(rid)
	if !s.cache.takeSeq(rid, seq) {
		msg, err := bySeq(ctx, st, seq)
		if err != nil {
			return fmt.Errorf("jetstream: ack: %w", err)
		}
		if msg == nil || msg.Subject != subject {
			return store.ErrNotFound
		}
	}
	err = removeOnceConn(ctx, s.nc, st, seq)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, errGone), errors.Is(err, errAmbiguous):
		// errAmbiguous: gone either way; a second ACK of the same
		// sequence may also report success here, which is harmless.
		if errors.Is(err, errAmbiguous) {
			return nil
		}
		return store.ErrNotFound
	}
	return fmt.Errorf("jetstream: ack: %w", err)
}
