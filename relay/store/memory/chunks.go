package memory

import (
	"context"
	"slices"

	"veil/relay/store"
)

// PutChunk implements store.ChunkStore.
func (s *Store) PutChunk(ctx context.Context, id store.ID, c store.Chunk, maxBytes int64) error {
	if err := s.lock(); err != nil {
		return err
	}
	defer s.mu.Unlock()
	if old, ok := s.chunks[id]; ok {
		if old.Expires.After(s.now()) {
			return store.ErrExists
		}
		s.dropChunkLocked(id, old)
	}
	n := len(c.Body)
	if s.fullLocked(n) || (maxBytes > 0 && s.chunkLen+int64(n) > maxBytes) {
		return store.ErrDiskQuota
	}
	c.Body = slices.Clone(c.Body)
	s.chunks[id] = c
	s.size += int64(n)
	s.chunkLen += int64(n)
	return nil
}

// GetChunk implements store.ChunkStore.
func (s *Store) GetChunk(ctx context.Context, id store.ID) (store.Chunk, error) {
	if err := s.lock(); err != nil {
		return store.Chunk{}, err
	}
	defer s.mu.Unlock()
	c, ok := s.chunks[id]
	if !ok || !c.Expires.After(s.now()) {
		return store.Chunk{}, store.ErrNotFound
	}
	c.Body = slices.Clone(c.Body)
	return c, nil
}

// DeleteChunk implements store.ChunkStore.
func (s *Store) DeleteChunk(ctx context.Context, id store.ID) error {
	if err := s.lock(); err != nil {
		return err
	}
	defer s.mu.Unlock()
	c, ok := s.chunks[id]
	if !ok || !c.Expires.After(s.now()) {
		return store.ErrNotFound
	}
	s.dropChunkLocked(id, c)
	return nil
}

// ChunkBytes implements store.ChunkStore.
func (s *Store) ChunkBytes() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.chunkLen
}

func (s *Store) dropChunkLocked(id store.ID, c store.Chunk) {
	s.size -= int64(len(c.Body))
	s.chunkLen -= int64(len(c.Body))
	delete(s.chunks, id)
}
