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

// TestChunkDeadSpaceBehindLiveSegment: the oldest segment holds only
// live, long-lived chunks, and every later one is left half dead. Dead
// chunk bodies spread thin behind a live oldest segment are cleared all
// the same, so live chunks can still fill most of ChunkStorage before the
// relay answers STORAGE_FULL.
func TestChunkDeadSpaceBehindLiveSegment(t *testing.T) {
	smallSegments(t, 1<<20, 2<<20)
	dir := t.TempDir()
	s := openDir(t, dir)
	defer s.Close()
	ctx := context.Background()
	const quota = 16 << 20 // ChunkStorage
	for range (3 << 20) / 16000 {
		id, c := testChunk(t, 1, 7*24*time.Hour)
		if err := s.PutChunk(ctx, id, c, quota); err != nil {
			t.Fatal(err)
		}
	}
	for range 10 * quota / 16000 {
		kid, kc := testChunk(t, 1, time.Hour)
		did, dc := testChunk(t, 2, time.Hour)
		err := s.PutChunk(ctx, kid, kc, quota)
		if err == nil {
			err = s.PutChunk(ctx, did, dc, quota)
		}
		if errors.Is(err, store.ErrDiskQuota) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if err := s.DeleteChunk(ctx, did); err != nil {
			t.Fatal(err)
		}
	}
	live := s.ChunkBytes()
	t.Logf("live chunk bytes at STORAGE_FULL: %d MiB of a %d MiB ChunkStorage", live>>20, quota>>20)
	if live < quota*5/8 {
		t.Errorf("STORAGE_FULL with only %d MiB of chunks live in a %d MiB ChunkStorage", live>>20, quota>>20)
	}
}
