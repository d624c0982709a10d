package relaytest

import (
	"context"
	"slices"
	"sync"
	"time"

	"veil/relay"
	"veil/relay/store"
)

// ChunkPut is one chunk a ChunkSpy saw stored: what a relay learns from a
// CPUT (spec/relay.md §7.7, §9).
type ChunkPut struct {
	ID                store.ID
	ReadHash, DelHash [32]byte
	Expires           time.Time
}

// ChunkSpy wraps a relay's store and records every chunk stored, read and
// deleted, for tests of what a relay learns from file transfers. Tamper,
// when set before the relay serves, may change a chunk as GetChunk returns
// it (a relay that corrupts what it stores). It hides the optional
// interfaces of a shared store (store.Claimer, store.LogNotifier): use it
// over a single-node store such as the memory one.
type ChunkSpy struct {
	store.Store
	Tamper func(id store.ID, c *store.Chunk)

	mu   sync.Mutex
	puts []ChunkPut
	gets []store.ID
	dels []store.ID
}

// WithChunkSpy puts spy between the relay and its store.
func WithChunkSpy(spy *ChunkSpy) func(*relay.Config) {
	return func(c *relay.Config) {
		spy.Store = c.Store
		c.Store = spy
	}
}

// PutChunk records the chunk and stores it.
func (s *ChunkSpy) PutChunk(ctx context.Context, id store.ID, c store.Chunk, maxBytes int64) error {
	err := s.Store.PutChunk(ctx, id, c, maxBytes)
	if err == nil {
		s.mu.Lock()
		s.puts = append(s.puts, ChunkPut{ID: id, ReadHash: c.ReadCap, DelHash: c.DelCap, Expires: c.Expires})
		s.mu.Unlock()
	}
	return err
}

// GetChunk records the read and returns the chunk, through Tamper.
func (s *ChunkSpy) GetChunk(ctx context.Context, id store.ID) (store.Chunk, error) {
	s.mu.Lock()
	s.gets = append(s.gets, id)
	s.mu.Unlock()
	c, err := s.Store.GetChunk(ctx, id)
	if err == nil && s.Tamper != nil {
		s.Tamper(id, &c)
	}
	return c, err
}

// DeleteChunk records the delete and deletes.
func (s *ChunkSpy) DeleteChunk(ctx context.Context, id store.ID) error {
	s.mu.Lock()
	s.dels = append(s.dels, id)
	s.mu.Unlock()
	return s.Store.DeleteChunk(ctx, id)
}

// Puts returns the chunks stored so far, in order.
func (s *ChunkSpy) Puts() []ChunkPut {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.puts)
}

// Gets returns the chunk IDs read so far (CGET and CDEL both read), in
// order.
func (s *ChunkSpy) Gets() []store.ID {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.gets)
}

// Deletes returns the chunk IDs deleted so far, in order.
func (s *ChunkSpy) Deletes() []store.ID {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.dels)
}
