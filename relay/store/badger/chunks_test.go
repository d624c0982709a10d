package badger

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"testing"
	"time"

	"veil/relay/store"
)

func testChunk(t *testing.T, b byte, life time.Duration) (store.ID, store.Chunk) {
	t.Helper()
	var id store.ID
	var c store.Chunk
	rand.Read(id[:])
	rand.Read(c.ReadCap[:])
	rand.Read(c.DelCap[:])
	c.Body = bytes.Repeat([]byte{b}, 16000)
	c.Expires = time.Now().Add(life)
	return id, c
}

func wantChunk(t *testing.T, s *Store, id store.ID, want store.Chunk) {
	t.Helper()
	got, err := s.GetChunk(context.Background(), id)
	if err != nil {
		t.Fatalf("GetChunk: %v", err)
	}
	if got.ReadCap != want.ReadCap || got.DelCap != want.DelCap || !bytes.Equal(got.Body, want.Body) {
		t.Fatal("GetChunk: the chunk differs from the one stored")
	}
	if got.Expires.Unix() != want.Expires.Unix() && got.Expires.Unix() != want.Expires.Unix()+1 {
		t.Fatalf("GetChunk: expires %v, want %v", got.Expires, want.Expires)
	}
}

// TestChunksRestart: chunks live in the journal; a restart replays them,
// deleted and expired ones stay gone, and a copy of the disk taken as a
// crash would leave it holds every chunk whose PutChunk returned.
func TestChunksRestart(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s := openDir(t, dir)
	defer func() { s.Close() }()
	kid, kc := testChunk(t, 1, time.Hour)
	did, dc := testChunk(t, 2, time.Hour)
	eid, ec := testChunk(t, 3, 3*time.Second)
	for _, p := range []struct {
		id store.ID
		c  store.Chunk
	}{{kid, kc}, {did, dc}, {eid, ec}} {
		if err := s.PutChunk(ctx, p.id, p.c, 0); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.DeleteChunk(ctx, did); err != nil {
		t.Fatal(err)
	}
	crashed := crashCopy(t, dir)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{dir, crashed} {
		s = openDir(t, d)
		wantChunk(t, s, kid, kc)
		if _, err := s.GetChunk(ctx, did); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("deleted chunk after reopen: %v", err)
		}
		if err := s.PutChunk(ctx, kid, kc, 0); !errors.Is(err, store.ErrExists) {
			t.Fatalf("PutChunk of a replayed chunk: %v", err)
		}
		if n := s.ChunkBytes(); n != 2*16000 && !(n == 16000 && time.Now().After(ec.Expires)) {
			t.Fatalf("ChunkBytes after reopen = %d", n)
		}
		s.Close()
	}
	time.Sleep(time.Until(ec.Expires.Truncate(time.Second).Add(2 * time.Second))) // the store keeps whole seconds, rounded up
	s = openDir(t, dir)
	if _, err := s.GetChunk(ctx, eid); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("expired chunk after reopen: %v", err)
	}
	if n := s.ChunkBytes(); n != 16000 {
		t.Fatalf("ChunkBytes after an expiry and a reopen = %d", n)
	}
	wantChunk(t, s, kid, kc)
}

// TestChunksReclaim: with chunks put and deleted in bulk, long-lived ones
// are copied forward so the old segments go, and survive a reopen.
func TestChunksReclaim(t *testing.T) {
	if testing.Short() {
		t.Skip("writes about 40 MB")
	}
	smallSegments(t, 64<<10, 256<<10)
	ctx := context.Background()
	dir := t.TempDir()
	s := openDir(t, dir)
	defer func() { s.Close() }()
	type kept struct {
		id store.ID
		c  store.Chunk
	}
	var keep []kept
	for i := range 4 {
		id, c := testChunk(t, byte(i), time.Hour)
		if err := s.PutChunk(ctx, id, c, 0); err != nil {
			t.Fatal(err)
		}
		keep = append(keep, kept{id, c})
	}
	maxFiles := 0
	for i := range 2500 {
		id, c := testChunk(t, byte(i), time.Hour)
		if err := s.PutChunk(ctx, id, c, 0); err != nil {
			t.Fatal(err)
		}
		if err := s.DeleteChunk(ctx, id); err != nil {
			t.Fatal(err)
		}
		if i%100 == 0 {
			maxFiles = max(maxFiles, len(segFiles(t, dir)))
		}
	}
	if maxFiles > 8 {
		t.Errorf("the journal grew to %d segment files", maxFiles)
	}
	if first := segNum(t, segFiles(t, dir)[0]); first < 10 {
		t.Errorf("oldest segment is number %d: the first ones were never retired", first)
	}
	for _, k := range keep {
		wantChunk(t, s, k.id, k.c)
	}
	s.Close()
	s = openDir(t, dir)
	for _, k := range keep {
		wantChunk(t, s, k.id, k.c)
	}
	if n := s.ChunkBytes(); n != int64(len(keep))*16000 {
		t.Fatalf("ChunkBytes after reopen = %d", n)
	}
}
