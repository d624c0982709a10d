package badger

import (
	"context"
	"fmt"
	"time"

	"veil/relay/store"
)

// File chunks (spec/relay.md §7.7) go to the journal, not to Badger: see
// package journal. A CPUT is one record in a group commit, as a SEND is.

var _ store.ChunkStore = (*Store)(nil)

// PutChunk implements store.ChunkStore.
func (s *Store) PutChunk(ctx context.Context, id store.ID, c store.Chunk, maxBytes int64) error {
	switch {
	case len(c.Body) > MaxBody:
		return errBodyTooLarge
	case s.overQuota():
		return store.ErrDiskQuota
	}
	return s.submit(ctx, &putChunkOp{id: id, c: c, max: maxBytes})
}

type putChunkOp struct {
	id  store.ID
	c   store.Chunk
	max int64
}

func (o *putChunkOp) apply(b *batch) error {
	j := b.w.j
	if j.HasChunk(o.id, b.now) {
		return store.ErrExists
	}
	if o.max > 0 && j.ChunkBytesOnDisk()+int64(len(o.c.Body)) > o.max {
		return store.ErrDiskQuota
	}
	j.AppendChunk(o.id, &o.c, expiresAt(o.c.Expires))
	return nil
}

// GetChunk implements store.ChunkStore.
func (s *Store) GetChunk(ctx context.Context, id store.ID) (store.Chunk, error) {
	s.closeMu.RLock()
	defer s.closeMu.RUnlock() // the segments stay open
	if s.closed {
		return store.Chunk{}, store.ErrClosed
	}
	c, err := s.j.GetChunk(id, s.now())
	if err != nil && err != store.ErrNotFound {
		return store.Chunk{}, fmt.Errorf("badger: %w", err)
	}
	return c, err
}

// DeleteChunk implements store.ChunkStore.
func (s *Store) DeleteChunk(ctx context.Context, id store.ID) error {
	return s.submit(ctx, &deleteChunkOp{id: id})
}

type deleteChunkOp struct{ id store.ID }

func (o *deleteChunkOp) apply(b *batch) error {
	if !b.w.j.AppendChunkDrop(o.id, b.now) {
		return store.ErrNotFound
	}
	return nil
}

// ChunkBytes implements store.ChunkStore.
func (s *Store) ChunkBytes() int64 { return s.j.ChunkBytes() }

// expireChunks drops the chunks expired at now from the journal's index,
// so their segments can go (an expired chunk needs no record).
func (s *Store) expireChunks(ctx context.Context, now time.Time) error {
	return s.submit(ctx, &expireChunksOp{now: now})
}

type expireChunksOp struct{ now time.Time }

func (o *expireChunksOp) apply(b *batch) error {
	b.w.j.DropExpiredChunks(o.now)
	return nil
}
