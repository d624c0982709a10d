package jetstream

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"

	"veil/relay/store"
)

// Send implements store.Store (spec §3.2). The quota check and the
// publish form one optimistic transaction: the publish expects the
// subject's last sequence read before counting, so a concurrent Send
// makes it fail and both re-count, and no mailbox ever holds more than
// maxPending. The body is acknowledged only once the stream's replicas
// hold it; then the recipient's node is notified (§3.4).
func (s *Store) Send(ctx context.Context, sid store.ID, body []byte, ttl time.Duration, maxPending int) (uint64, error) {
	ctx, cancel, err := s.begin(ctx)
	if err != nil {
		return 0, err
	}
	defer cancel()
	if len(body) > MaxBody {
		return 0, fmt.Errorf("jetstream: body of %d bytes over the %d limit", len(body), MaxBody)
	}
	m, rev, err := s.boxBySender(ctx, sid)
	if err != nil {
		return 0, err
	}
	if s.full(len(body)) {
		return 0, store.ErrDiskQuota
	}
	subject := s.names.msgSubject(m.RecipientID)
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
		s.sent(ctx, m, rev)
		return seq, nil
	}
	unlock, err := s.writers.lock(ctx, 'm', m.RecipientID)
	if err != nil {
		return 0, fmt.Errorf("jetstream: send: %w", err)
	}
	defer unlock()
	for range maxCAS {
		prev, err := last(ctx, s.msgs, subject)
		if err != nil {
			return 0, fmt.Errorf("jetstream: send: %w", err)
		}
		var lastSeq uint64
		if prev != nil {
			lastSeq = prev.Sequence
			n, err := count(ctx, s.msgs, subject)
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
		s.sent(ctx, m, rev)
		return seq, nil
	}
	return 0, errors.New("jetstream: send: too many concurrent sends to one mailbox")
}

// sent marks the mailbox active and notifies its subscriber's node: core
// NATS, at most once; a lost notification only delays delivery until the
// subscriber's next wake-up (§3.4).
func (s *Store) sent(ctx context.Context, m store.Mailbox, rev uint64) {
	s.touch(ctx, m, rev)
	_ = s.nc.Publish(s.names.notifySubject(m.RecipientID), nil)
}

// Pending implements store.Store: it walks the mailbox's subject from
// after+1 with next-by-subject gets on the stream leader (§3.3).
func (s *Store) Pending(ctx context.Context, rid store.ID, after uint64, limit int) ([]store.Message, error) {
	ctx, cancel, err := s.begin(ctx)
	if err != nil {
		return nil, err
	}
	defer cancel()
	m, rev, err := s.box(ctx, rid)
	if err != nil {
		return nil, err
	}
	s.touch(ctx, m, rev)
	subject := s.names.msgSubject(rid)
	now := s.now()
	var out []store.Message
	for seq := after + 1; len(out) < limit; {
		msg, err := next(ctx, s.msgs, seq, subject)
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
	}
	return out, nil
}

// Ack implements store.Store: deletion by stream sequence, after checking
// that the sequence belongs to this mailbox (§3.3).
func (s *Store) Ack(ctx context.Context, rid store.ID, seq uint64) error {
	ctx, cancel, err := s.begin(ctx)
	if err != nil {
		return err
	}
	defer cancel()
	if seq == 0 {
		return store.ErrNotFound
	}
	msg, err := bySeq(ctx, s.msgs, seq)
	if err != nil {
		return fmt.Errorf("jetstream: ack: %w", err)
	}
	if msg == nil || msg.Subject != s.names.msgSubject(rid) {
		return store.ErrNotFound
	}
	err = removeOnce(ctx, s.msgs, seq)
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
