package badger

import (
	"context"
	"errors"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"veil/relay/store"
)

// TestChunkDeadSpaceBounded: a client that stores two chunks and
// deletes one of them, over and over, leaves half of every journal
// segment dead. Dead chunk bodies count against ChunkStorage until their
// segment goes, and a segment a quarter dead chunks is copied forward, so
// the chunks never take much more disk than ChunkStorage and messages
// keep their share (spec/relay.md §11).
func TestChunkDeadSpaceBounded(t *testing.T) {
	smallSegments(t, 1<<20, 2<<20)
	dir := t.TempDir()
	s := openDir(t, dir)
	defer s.Close()
	ctx := context.Background()
	const quota = 16 << 20 // ChunkStorage
	var wg sync.WaitGroup
	var mu sync.Mutex
	full := false
	for w := 0; w < 32; w++ {
		wg.Go(func() {
			for {
				mu.Lock()
				stop := full
				mu.Unlock()
				if stop {
					return
				}
				kid, kc := testChunk(t, 1, time.Hour)
				did, dc := testChunk(t, 2, time.Hour)
				err := s.PutChunk(ctx, kid, kc, quota)
				if err == nil {
					err = s.PutChunk(ctx, did, dc, quota)
				}
				if errors.Is(err, store.ErrDiskQuota) {
					mu.Lock()
					full = true
					mu.Unlock()
					return
				}
				if err != nil {
					t.Error(err)
					return
				}
				if err := s.DeleteChunk(ctx, did); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	used, err := dirUsage(filepath.Join(dir, journalDir))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("live chunk bytes %d MiB (quota %d MiB); journal on disk %d MiB", s.ChunkBytes()>>20, quota>>20, used>>20)
	if used > 3*quota/2 {
		t.Errorf("chunks within a %d MiB ChunkStorage take %d MiB of disk", quota>>20, used>>20)
	}
}
