package jetstream

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"

	"veil/relay/store"
)

// PutBlob implements store.Store (spec §6): the blob is created only if
// its key is free or holds a blob or a taken blob's reservation past its
// deadline, which it replaces by compare-and-set. The server's per-message TTL removes it at the
// deadline even if Expire never runs.
func (s *Store) PutBlob(ctx context.Context, id store.ID, body []byte, deadline time.Time) error {
	ctx, cancel, err := s.begin(ctx)
	if err != nil {
		return err
	}
	defer cancel()
	if len(body) > MaxBody {
		return fmt.Errorf("jetstream: blob of %d bytes over the %d limit", len(body), MaxBody)
	}
	now := s.now()
	if !deadline.After(now) {
		return errors.New("jetstream: blob deadline has passed")
	}
	if s.full(len(body)) {
		return store.ErrDiskQuota
	}
	subject := kvSubject(s.names.blobBucket, id)
	header := nats.Header{hdrExpires: []string{formatMillis(deadline)}}
	// Round the server's TTL up, so the server never removes a blob
	// before its deadline.
	ttl := deadline.Sub(now).Truncate(time.Second) + time.Second
	for range maxCAS {
		prev, err := last(ctx, s.blob, subject)
		if err != nil {
			return fmt.Errorf("jetstream: put blob: %w", err)
		}
		var expect uint64
		if prev != nil {
			if _, d, _, err := decodeBlob(prev.Data); err != nil || d.After(now) {
				return store.ErrExists
			}
			expect = prev.Sequence
		}
		_, err = s.publish(ctx, pub{subject: subject, data: encodeBlob(body, deadline), header: header, ttl: ttl, expect: &expect})
		if errors.Is(err, errConflict) {
			continue
		}
		if err != nil {
			return fmt.Errorf("jetstream: put blob: %w", err)
		}
		return nil
	}
	return errors.New("jetstream: put blob: too many concurrent updates")
}

// TakeBlob implements store.Store (spec §6.2): read the blob, then
// replace it, by compare-and-set on its revision, with the reservation of
// its ID until its deadline (the bucket keeps one value per key, so the
// body goes). The cluster accepts one write expecting a given revision,
// so of any number of concurrent takers on any nodes exactly one gets the
// body. A retried write carries the same message ID, so a write whose
// acknowledgement was lost is answered as a duplicate, not a conflict;
// should a conflict come back anyway, the taker answers not found, and the
// blob is lost for everyone rather than given to two.
func (s *Store) TakeBlob(ctx context.Context, id store.ID) ([]byte, error) {
	ctx, cancel, err := s.begin(ctx)
	if err != nil {
		return nil, err
	}
	defer cancel()
	subject := kvSubject(s.names.blobBucket, id)
	for range maxCAS {
		prev, err := last(ctx, s.blob, subject)
		if err != nil {
			return nil, fmt.Errorf("jetstream: take blob: %w", err)
		}
		if prev == nil {
			return nil, store.ErrNotFound
		}
		body, deadline, taken, err := decodeBlob(prev.Data)
		if err != nil {
			return nil, fmt.Errorf("jetstream: take blob: %w", err)
		}
		now := s.now()
		if taken || !deadline.After(now) {
			return nil, store.ErrNotFound
		}
		header := nats.Header{hdrExpires: []string{formatMillis(deadline)}}
		ttl := deadline.Sub(now).Truncate(time.Second) + time.Second
		expect := prev.Sequence
		_, err = s.publish(ctx, pub{subject: subject, data: encodeTaken(deadline), header: header, ttl: ttl, expect: &expect})
		switch {
		case errors.Is(err, errConflict):
			continue // taken (or replaced) meanwhile: look again
		case err != nil:
			return nil, fmt.Errorf("jetstream: take blob: %w", err)
		}
		return body, nil
	}
	return nil, errors.New("jetstream: take blob: too many concurrent updates")
}
