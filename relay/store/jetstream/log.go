package jetstream

import (
	"context"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go"
	js "github.com/nats-io/nats.go/jetstream"

	"veil/relay/store"
	"veil/relay/store/record"
)

// CreateLog implements store.Store (spec §5.1).
func (s *Store) CreateLog(ctx context.Context, l store.Log) error {
	ctx, cancel, err := s.begin(ctx)
	if err != nil {
		return err
	}
	defer cancel()
	if l.TTL <= 0 {
		return errors.New("jetstream: log TTL must be positive")
	}
	if l.Created.IsZero() {
		l.Created = s.now()
	}
	l.Created = dayOf(l.Created)
	_, err = s.publish(ctx, pub{subject: kvSubject(s.names.logBucket, l.ID), data: record.EncodeLog(record.Log{Log: l}), expect: &zero})
	if errors.Is(err, errConflict) {
		return store.ErrExists
	}
	if err != nil {
		return fmt.Errorf("jetstream: create log: %w", err)
	}
	return nil
}

// logRec returns a log's record and revision.
func (s *Store) logRec(ctx context.Context, id store.ID) (record.Log, uint64, error) {
	msg, err := last(ctx, s.logMeta, kvSubject(s.names.logBucket, id))
	if err != nil {
		return record.Log{}, 0, fmt.Errorf("jetstream: read log: %w", err)
	}
	if msg == nil {
		return record.Log{}, 0, store.ErrNotFound
	}
	l, err := decodeLog(msg.Data)
	if err != nil || l.ID != id {
		return record.Log{}, 0, fmt.Errorf("jetstream: log record at revision %d: %w", msg.Sequence, errRecord)
	}
	return l, msg.Sequence, nil
}

// LogInfo implements store.Store.
func (s *Store) LogInfo(ctx context.Context, id store.ID) (store.Log, error) {
	ctx, cancel, err := s.begin(ctx)
	if err != nil {
		return store.Log{}, err
	}
	defer cancel()
	l, _, err := s.logRec(ctx, id)
	return l.Log, err
}

// entryNum returns the entry number a log message carries (spec §5.2).
func entryNum(msg *js.RawStreamMsg) (uint64, error) {
	return parseUint(msg.Header.Get(hdrSeq))
}

// Append implements store.Store (spec §5.2): the entry number is one more
// than the larger of the subject's last entry and the log's floor, and
// the publish expects that last entry, so concurrent appends through any
// nodes are numbered in stream order without gaps.
func (s *Store) Append(ctx context.Context, id store.ID, body []byte) (uint64, error) {
	ctx, cancel, err := s.begin(ctx)
	if err != nil {
		return 0, err
	}
	defer cancel()
	if len(body) > MaxBody {
		return 0, fmt.Errorf("jetstream: entry of %d bytes over the %d limit", len(body), MaxBody)
	}
	unlock, err := s.writers.lock(ctx, 'l', id)
	if err != nil {
		return 0, fmt.Errorf("jetstream: append: %w", err)
	}
	defer unlock()
	subject := s.names.logSubject(id)
	for range maxCAS {
		l, _, err := s.logRec(ctx, id)
		if err != nil {
			return 0, err
		}
		if s.full(len(body)) {
			return 0, store.ErrDiskQuota
		}
		prev, err := last(ctx, s.logs, subject)
		if err != nil {
			return 0, fmt.Errorf("jetstream: append: %w", err)
		}
		n, lastSeq := l.Floor, uint64(0)
		if prev != nil {
			pn, err := entryNum(prev)
			if err != nil {
				return 0, fmt.Errorf("jetstream: append: last entry: %w", err)
			}
			n, lastSeq = max(n, pn), prev.Sequence
		}
		n++
		header := nats.Header{
			hdrSeq:     []string{formatUint(n)},
			hdrExpires: []string{formatMillis(s.now().Add(l.TTL))},
		}
		_, err = s.publish(ctx, pub{subject: subject, data: body, header: header, ttl: l.TTL + logTTLGrace, expect: &lastSeq})
		if errors.Is(err, errConflict) {
			continue
		}
		if err != nil {
			return 0, fmt.Errorf("jetstream: append: %w", err)
		}
		s.appended(id, n)
		return n, nil
	}
	return 0, errors.New("jetstream: append: too many concurrent appends to one log")
}

// ReadLog implements store.Store (spec §5.3): a binary search over stream
// sequences finds the first entry after the cursor, then next-by-subject
// gets walk forward.
func (s *Store) ReadLog(ctx context.Context, id store.ID, after uint64, limit int) ([]store.Entry, error) {
	ctx, cancel, err := s.begin(ctx)
	if err != nil {
		return nil, err
	}
	defer cancel()
	if _, _, err := s.logRec(ctx, id); err != nil {
		return nil, err
	}
	if limit <= 0 {
		return nil, nil
	}
	subject := s.names.logSubject(id)
	start, err := s.firstAfter(ctx, subject, after)
	if err != nil || start == 0 {
		return nil, err
	}
	now := s.now()
	var out []store.Entry
	for seq := start; len(out) < limit; {
		msg, err := next(ctx, s.logs, seq, subject)
		if err != nil {
			return nil, fmt.Errorf("jetstream: read log: %w", err)
		}
		if msg == nil || msg.Subject != subject {
			break
		}
		seq = msg.Sequence + 1
		n, err1 := entryNum(msg)
		exp, err2 := expiresAt(msg)
		if err1 != nil || err2 != nil {
			s.log.Warn("jetstream: log entry without valid headers skipped")
			continue
		}
		if n <= after || !exp.After(now) {
			continue
		}
		out = append(out, store.Entry{Seq: n, Body: msg.Data, Expires: exp})
	}
	return out, nil
}

// firstAfter returns the stream sequence of the first entry on subject
// whose number is above after, or 0 when there is none.
func (s *Store) firstAfter(ctx context.Context, subject string, after uint64) (uint64, error) {
	num := func(msg *js.RawStreamMsg) uint64 {
		n, err := entryNum(msg)
		if err != nil {
			return 0 // treated as already read; ReadLog skips it
		}
		return n
	}
	hi, err := last(ctx, s.logs, subject)
	if err != nil {
		return 0, fmt.Errorf("jetstream: read log: %w", err)
	}
	if hi == nil || num(hi) <= after {
		return 0, nil // the common poll: nothing new
	}
	lo, err := next(ctx, s.logs, 1, subject)
	if err != nil {
		return 0, fmt.Errorf("jetstream: read log: %w", err)
	}
	if lo == nil || num(lo) > after {
		if lo == nil {
			return hi.Sequence, nil
		}
		return lo.Sequence, nil
	}
	// Invariant: the entry at or after loSeq has number <= after; the
	// first entry at or after hiSeq has number > after.
	loSeq, hiSeq := lo.Sequence, hi.Sequence
	for hiSeq-loSeq > 1 {
		mid := loSeq + (hiSeq-loSeq)/2
		m, err := next(ctx, s.logs, mid, subject)
		if err != nil {
			return 0, fmt.Errorf("jetstream: read log: %w", err)
		}
		if m == nil || num(m) > after {
			hiSeq = mid
		} else {
			loSeq = max(m.Sequence, mid)
		}
	}
	return hiSeq, nil
}

// DeleteLog implements store.Store: the record, then every entry.
func (s *Store) DeleteLog(ctx context.Context, id store.ID) error {
	ctx, cancel, err := s.begin(ctx)
	if err != nil {
		return err
	}
	defer cancel()
	_, rev, err := s.logRec(ctx, id)
	if err != nil {
		return err
	}
	if err := remove(ctx, s.logMeta, rev); err != nil {
		if errors.Is(err, errGone) {
			return store.ErrNotFound
		}
		return fmt.Errorf("jetstream: delete log: %w", err)
	}
	subject := s.names.logSubject(id)
	err = retry(ctx, func(ctx context.Context) error {
		return s.logs.Purge(ctx, js.WithPurgeSubject(subject))
	})
	if err != nil {
		return fmt.Errorf("jetstream: delete log entries: %w", err)
	}
	return nil
}
