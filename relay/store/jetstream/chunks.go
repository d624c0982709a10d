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

// File chunks (spec/relay-jetstream.md §6.3): one KV-style bucket, a key
// per chunk ID, the value the chunk's record, removed by the server's
// per-message TTL at its deadline even if Expire never runs.

var _ store.ChunkStore = (*Store)(nil)

// PutChunk implements store.ChunkStore. The chunk is created only if its
// key is free or holds a chunk past its deadline, by compare-and-set. The
// chunk quota is checked against the bucket's count of chunks, all of
// ChunkBody bytes, counted at most once a second (and kept up to date
// with this node's puts and deletes): concurrent puts on several nodes
// may pass it together, but with Config.ChunkStorage the stream itself
// refuses a chunk past it (store.ErrDiskQuota).
func (s *Store) PutChunk(ctx context.Context, id store.ID, c store.Chunk, maxBytes int64) error {
	ctx, cancel, err := s.begin(ctx)
	if err != nil {
		return err
	}
	defer cancel()
	if len(c.Body) != ChunkBody {
		return fmt.Errorf("jetstream: chunk of %d bytes, not %d", len(c.Body), ChunkBody)
	}
	now := s.now()
	if !c.Expires.After(now) {
		return errors.New("jetstream: chunk deadline has passed")
	}
	if s.full(len(c.Body)) {
		return store.ErrDiskQuota
	}
	if maxBytes > 0 {
		n, err := s.chunkCount(ctx)
		if err != nil {
			return fmt.Errorf("jetstream: put chunk: %w", err)
		}
		if int64(n+1)*ChunkBody > maxBytes {
			return store.ErrDiskQuota
		}
	}
	subject := kvSubject(s.names.chunkBucket, id)
	header := nats.Header{hdrExpires: []string{formatMillis(c.Expires)}}
	ttl := c.Expires.Sub(now).Truncate(time.Second) + time.Second // never before the deadline
	for range maxCAS {
		prev, err := last(ctx, s.chunk, subject)
		if err != nil {
			return fmt.Errorf("jetstream: put chunk: %w", err)
		}
		var expect uint64
		if prev != nil {
			if old, err := decodeChunk(prev.Data); err != nil || old.Expires.After(now) {
				return store.ErrExists
			}
			expect = prev.Sequence
		}
		_, err = s.publish(ctx, pub{subject: subject, data: encodeChunk(&c), header: header, ttl: ttl, expect: &expect})
		if errors.Is(err, errConflict) {
			continue
		}
		if errors.Is(err, store.ErrDiskQuota) {
			return store.ErrDiskQuota // the stream's MaxMsgs
		}
		if err != nil {
			return fmt.Errorf("jetstream: put chunk: %w", err)
		}
		if prev == nil {
			s.countedChunks(1)
		}
		return nil
	}
	return errors.New("jetstream: put chunk: too many concurrent updates")
}

// getChunk returns the stored message of chunk id, nil if there is none
// live at now.
func (s *Store) getChunk(ctx context.Context, id store.ID) (*js.RawStreamMsg, store.Chunk, error) {
	m, err := last(ctx, s.chunk, kvSubject(s.names.chunkBucket, id))
	if err != nil {
		return nil, store.Chunk{}, fmt.Errorf("jetstream: get chunk: %w", err)
	}
	if m == nil {
		return nil, store.Chunk{}, store.ErrNotFound
	}
	c, err := decodeChunk(m.Data)
	if err != nil {
		return nil, store.Chunk{}, fmt.Errorf("jetstream: get chunk: %w", err)
	}
	if !c.Expires.After(s.now()) {
		return nil, store.Chunk{}, store.ErrNotFound
	}
	return m, c, nil
}

// GetChunk implements store.ChunkStore.
func (s *Store) GetChunk(ctx context.Context, id store.ID) (store.Chunk, error) {
	ctx, cancel, err := s.begin(ctx)
	if err != nil {
		return store.Chunk{}, err
	}
	defer cancel()
	_, c, err := s.getChunk(ctx, id)
	c.Body = append([]byte(nil), c.Body...)
	return c, err
}

// DeleteChunk implements store.ChunkStore: the chunk's message is deleted
// by its sequence. A delete whose outcome a cluster fault hid is taken as
// done: the chunk is gone either way.
func (s *Store) DeleteChunk(ctx context.Context, id store.ID) error {
	ctx, cancel, err := s.begin(ctx)
	if err != nil {
		return err
	}
	defer cancel()
	m, _, err := s.getChunk(ctx, id)
	if err != nil {
		return err
	}
	switch err := removeOnce(ctx, s.chunk, m.Sequence); {
	case errors.Is(err, errGone):
		return store.ErrNotFound
	case err != nil && !errors.Is(err, errAmbiguous):
		return fmt.Errorf("jetstream: delete chunk: %w", err)
	}
	s.countedChunks(-1)
	return nil
}

// ChunkBytes implements store.ChunkStore: the chunks in the bucket, as
// the cluster reports them, times ChunkBody; 0 if the cluster cannot be
// asked.
func (s *Store) ChunkBytes() int64 {
	ctx, cancel := context.WithTimeout(context.Background(), attemptTimeout)
	defer cancel()
	n, err := s.chunkCount(ctx)
	if err != nil {
		return 0
	}
	return int64(n) * ChunkBody
}

// chunkCount returns the chunks in the bucket: the stream's count, asked
// at most once every sizeEvery, as Size does.
func (s *Store) chunkCount(ctx context.Context) (uint64, error) {
	s.mu.Lock()
	if !s.chunksAt.IsZero() && time.Since(s.chunksAt) < sizeEvery {
		n := s.chunks
		s.mu.Unlock()
		return n, nil
	}
	s.mu.Unlock()
	var n uint64
	err := retry(ctx, func(ctx context.Context) error {
		info, err := s.chunk.Info(ctx)
		if err != nil {
			return err
		}
		n = info.State.Msgs
		return nil
	})
	if err == nil {
		s.mu.Lock()
		s.chunks, s.chunksAt = n, time.Now()
		s.mu.Unlock()
	}
	return n, err
}

// countedChunks adds d to the cached chunk count after this node's put
// or delete, so that the node's own changes show at once.
func (s *Store) countedChunks(d int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case d < 0 && s.chunks > 0:
		s.chunks--
	case d > 0:
		s.chunks++
	}
}

func (s *Store) expireChunks(ctx context.Context, now time.Time) error {
	return scan(ctx, s.chunk, true, func(r scanned) error {
		if !expired(r, now) {
			return nil
		}
		if err := remove(ctx, s.chunk, r.seq); err != nil && !errors.Is(err, errGone) {
			return err
		}
		return nil
	})
}
