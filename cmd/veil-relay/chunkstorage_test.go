package main

import "testing"

// TestChunkStorage: the chunk quota handed to the JetStream store is the
// one the relay uses: --chunk-storage, else half of --max-storage, never
// above --max-storage.
func TestChunkStorage(t *testing.T) {
	for _, c := range []struct{ max, chunks, want int64 }{
		{1000, 0, 500},
		{1000, 300, 300},
		{1000, 5000, 1000},
		{0, 300, 0},
	} {
		o := options{MaxStorage: c.max, ChunkStore: c.chunks}
		if got := o.chunkStorage(); got != c.want {
			t.Errorf("max %d, chunks %d: %d, want %d", c.max, c.chunks, got, c.want)
		}
	}
}
