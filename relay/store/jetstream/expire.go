package jetstream

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	js "github.com/nats-io/nats.go/jetstream"

	"veil/relay/store"
	"veil/relay/store/record"
)

// scanned is one stored message seen by a scan.
type scanned struct {
	seq     uint64
	subject string
	header  nats.Header
	data    []byte // nil in header-only scans
}

// scan calls fn for every message of st that existed when it started, in
// stream order, through an ordered consumer (headers only when asked).
// fn's errors stop the scan.
func scan(ctx context.Context, st js.Stream, headersOnly bool, fn func(scanned) error) error {
	var info *js.StreamInfo
	err := retry(ctx, func(ctx context.Context) error {
		var err error
		info, err = st.Info(ctx)
		return err
	})
	if err != nil {
		return err
	}
	if info.State.Msgs == 0 {
		return nil
	}
	end := info.State.LastSeq
	filter := ">"
	if len(info.Config.Subjects) == 1 {
		filter = info.Config.Subjects[0]
	}
	seen := info.State.FirstSeq - 1
	empty := 0
	var cons js.Consumer
	err = retry(ctx, func(ctx context.Context) error {
		var err error
		cons, err = st.OrderedConsumer(ctx, js.OrderedConsumerConfig{
			DeliverPolicy:     js.DeliverAllPolicy,
			HeadersOnly:       headersOnly,
			InactiveThreshold: time.Minute,
			// A stream deleted under the scan ends it with an error
			// instead of an endless recreation of its consumer.
			MaxResetAttempts: 3,
		})
		return err
	})
	if err != nil {
		return err
	}
	for {
		// Fetch does not take ctx: bound each wait by ctx's deadline.
		wait := 2 * time.Second
		if d, ok := ctx.Deadline(); ok {
			wait = min(wait, time.Until(d))
		}
		if wait <= 0 {
			return ctx.Err()
		}
		batch, err := cons.Fetch(scanBatch, js.FetchMaxWait(wait))
		if transient(err) && ctx.Err() == nil {
			if empty++; empty > 5 {
				return err
			}
			continue // the ordered consumer recreates itself
		}
		if err != nil {
			return err
		}
		got := 0
		for msg := range batch.Messages() {
			got++
			md, err := msg.Metadata()
			if err != nil {
				return err
			}
			seen = md.Sequence.Stream
			r := scanned{seq: seen, subject: msg.Subject(), header: msg.Headers()}
			if !headersOnly {
				r.data = msg.Data()
			}
			if err := fn(r); err != nil {
				return err
			}
			if md.Sequence.Stream >= end || md.NumPending == 0 {
				return batch.Error()
			}
		}
		if err := batch.Error(); err != nil && !(transient(err) && got == 0) {
			return err
		}
		if got == 0 {
			// Either the rest was deleted since the scan began, or the
			// consumer is slow to start: look before concluding.
			rest, err := next(ctx, st, seen+1, filter)
			if err != nil {
				return err
			}
			if rest == nil || rest.Sequence > end {
				return nil
			}
			if empty++; empty > 5 {
				return errors.New("jetstream: scan made no progress")
			}
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
}

// Expire implements store.Store (spec §8). The server's per-message TTL
// removes messages, entries, blobs and chunks on time by the real clock; Expire
// removes what has expired by the caller's clock, idle mailboxes, and
// records that a crash part-way through a multi-step change left behind.
// It reads every stream once, so its cost grows with what the store holds.
func (s *Store) Expire(ctx context.Context, now, idleBefore time.Time) error {
	ctx, cancel, err := s.begin(ctx)
	if err != nil {
		return err
	}
	defer cancel()
	if s.lease > 0 {
		// One node per lease period (spec §8): the lease is a key created
		// only if absent, which the server removes after the period.
		_, err := s.publish(ctx, pub{subject: s.names.leaseSubject(), data: []byte{recordV1}, ttl: s.lease, expect: &zero})
		if errors.Is(err, errConflict) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("jetstream: expire lease: %w", err)
		}
	}
	var errs []error
	errs = append(errs, s.expireMessages(ctx, now))
	errs = append(errs, s.expireEntries(ctx, now))
	errs = append(errs, s.expireBlobs(ctx, now))
	errs = append(errs, s.expireChunks(ctx, now))
	errs = append(errs, s.expireMailboxes(ctx, idleBefore))
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("jetstream: expire: %w", err)
	}
	return nil
}

// expired reports whether a record's Veil-Exp is at or before now; records
// without a valid one are left to the server's TTL.
func expired(r scanned, now time.Time) bool {
	exp, err := parseMillis(r.header.Get(hdrExpires))
	return err == nil && !exp.After(now)
}

func (s *Store) expireMessages(ctx context.Context, now time.Time) error {
	for _, st := range s.msgs {
		err := scan(ctx, st, true, func(r scanned) error {
			if !expired(r, now) {
				return nil
			}
			if err := remove(ctx, st, r.seq); err != nil && !errors.Is(err, errGone) {
				return err
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}

func (s *Store) expireBlobs(ctx context.Context, now time.Time) error {
	return scan(ctx, s.blob, true, func(r scanned) error {
		if !expired(r, now) {
			return nil
		}
		if err := remove(ctx, s.blob, r.seq); err != nil && !errors.Is(err, errGone) {
			return err
		}
		return nil
	})
}

// expireEntries removes expired log entries. Before removing a log's
// entries it raises the log's floor to the highest number among them, so
// numbering continues after the subject empties (spec §5.2).
func (s *Store) expireEntries(ctx context.Context, now time.Time) error {
	type doomed struct {
		seqs []uint64
		top  uint64
	}
	byLog := map[store.ID]*doomed{}
	err := scan(ctx, s.logs, true, func(r scanned) error {
		if !expired(r, now) {
			return nil
		}
		id, ok := lastToken(r.subject)
		n, err := parseUint(r.header.Get(hdrSeq))
		if !ok || err != nil {
			return nil // not ours; the server's TTL removes it
		}
		d := byLog[id]
		if d == nil {
			d = &doomed{}
			byLog[id] = d
		}
		d.seqs = append(d.seqs, r.seq)
		d.top = max(d.top, n)
		return nil
	})
	if err != nil {
		return err
	}
	for id, d := range byLog {
		if err := s.raiseFloor(ctx, id, d.top); err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
		for _, seq := range d.seqs {
			if err := remove(ctx, s.logs, seq); err != nil && !errors.Is(err, errGone) {
				return err
			}
		}
	}
	return nil
}

// raiseFloor sets a log's floor to at least n by compare-and-set.
func (s *Store) raiseFloor(ctx context.Context, id store.ID, n uint64) error {
	for range maxCAS {
		l, rev, err := s.logRec(ctx, id)
		if err != nil {
			return err
		}
		if l.Floor >= n {
			return nil
		}
		l.Floor = n
		_, err = s.publish(ctx, pub{subject: kvSubject(s.names.logBucket, id), data: record.EncodeLog(l), expect: &rev})
		if !errors.Is(err, errConflict) {
			return err
		}
	}
	return errors.New("jetstream: too many concurrent log updates")
}

// expireMailboxes removes mailboxes idle since before idleBefore, and
// sender index entries whose mailbox is gone (a crash during Create or
// Delete).
func (s *Store) expireMailboxes(ctx context.Context, idleBefore time.Time) error {
	live := map[store.ID]bool{}
	var idle []store.Mailbox
	err := scan(ctx, s.boxes, false, func(r scanned) error {
		m, err := decodeMailbox(r.data)
		if err != nil {
			s.log.Warn("jetstream: malformed mailbox record skipped", "seq", r.seq)
			return nil
		}
		if m.LastActive.Before(idleBefore) {
			if err := remove(ctx, s.boxes, r.seq); err != nil {
				if errors.Is(err, errGone) { // updated meanwhile: active
					return nil
				}
				return err
			}
			idle = append(idle, m)
			return nil
		}
		live[m.RecipientID] = true
		return nil
	})
	if err != nil {
		return err
	}
	for _, m := range idle {
		if err := s.dropMailbox(ctx, m); err != nil {
			return err
		}
	}
	type index struct {
		seq      uint64
		sid, rid store.ID
	}
	var orphans []index
	err = scan(ctx, s.senders, false, func(r scanned) error {
		sid, ok1 := lastToken(r.subject)
		rid, err := decodeSender(r.data)
		if ok1 && err == nil && !live[rid] {
			orphans = append(orphans, index{r.seq, sid, rid})
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, o := range orphans {
		// The scan of the records may have missed one written after it
		// started: look again before removing.
		m, _, err := s.box(ctx, o.rid)
		if err == nil && m.SenderID == o.sid {
			continue
		}
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
		if err := remove(ctx, s.senders, o.seq); err != nil && !errors.Is(err, errGone) {
			return err
		}
	}
	return nil
}
