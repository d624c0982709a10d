package jetstream

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"veil/relay/store"
	"veil/relay/store/jetstream/jstest"
)

// TestServerChunkQuota: with Config.ChunkStorage the chunk stream holds
// at most ChunkStorage/ChunkBody chunks and refuses more (spec §6.3):
// concurrent puts that all pass the store's own count, which is asked
// at most once a second, still store no more than the quota; the refusal
// is store.ErrDiskQuota.
func TestServerChunkQuota(t *testing.T) {
	c := jstest.Start(t, 1)
	ctx := context.Background()
	const quota = 4
	s, err := Open(ctx, Config{URLs: c.URLs(), Prefix: "chunkquota", Replicas: 1, ChunkStorage: quota * ChunkBody})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.chunkCount(ctx); err != nil { // count now: every put below trusts it
		t.Fatal(err)
	}
	var ok, refused atomic.Int64
	var wg sync.WaitGroup
	for i := range 16 {
		wg.Go(func() {
			var id store.ID
			id[0], id[1] = byte(i), 1
			ch := store.Chunk{ReadCap: [32]byte{1}, DelCap: [32]byte{2}, Body: make([]byte, ChunkBody), Expires: time.Now().Add(time.Hour)}
			switch err := s.PutChunk(ctx, id, ch, 1<<40); {
			case err == nil:
				ok.Add(1)
			case errors.Is(err, store.ErrDiskQuota):
				refused.Add(1)
			default:
				t.Errorf("PutChunk: %v", err)
			}
		})
	}
	wg.Wait()
	if ok.Load() != quota || refused.Load() != 16-quota {
		t.Fatalf("%d chunks stored, %d refused; want %d and %d", ok.Load(), refused.Load(), quota, 16-quota)
	}
}
