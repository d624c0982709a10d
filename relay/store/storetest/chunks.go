package storetest

import (
	"bytes"
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"veil/relay/store"
)

// chunkSize is the size of every chunk the relay stores (spec/relay.md §7.7).
const chunkSize = 16000

// chunkTests are the conformance tests of store.ChunkStore.
var chunkTests = []struct {
	name string
	fn   func(*testing.T, store.Store, store.ChunkStore)
}{
	{"ChunkPutGet", testChunkPutGet},
	{"ChunkDelete", testChunkDelete},
	{"ChunkExpire", testChunkExpire},
	{"ChunkQuota", testChunkQuota},
	{"ChunkConcurrent", testChunkConcurrent},
	{"ChunkClosed", testChunkClosed},
}

func newChunk(t *testing.T, b byte, expires time.Time) store.Chunk {
	t.Helper()
	var c store.Chunk
	r, d := newID(t), newID(t)
	copy(c.ReadCap[:], r[:])
	copy(c.DelCap[:], d[:])
	c.Body = bytes.Repeat([]byte{b}, chunkSize)
	c.Expires = expires
	return c
}

func sameChunk(t *testing.T, what string, got, want store.Chunk) {
	t.Helper()
	if got.ReadCap != want.ReadCap || got.DelCap != want.DelCap || !bytes.Equal(got.Body, want.Body) {
		t.Fatalf("%s: the chunk read back differs from the one stored", what)
	}
	if d := got.Expires.Sub(want.Expires); d < -time.Second || d > time.Second {
		t.Fatalf("%s: expires %v, want %v", what, got.Expires, want.Expires)
	}
}

func testChunkPutGet(t *testing.T, s store.Store, cs store.ChunkStore) {
	ctx := context.Background()
	id := newID(t)
	c := newChunk(t, 1, time.Now().Add(time.Hour))
	want := c
	want.Body = bytes.Clone(c.Body)
	noErr(t, "PutChunk", cs.PutChunk(ctx, id, c, 0))
	c.Body[0] ^= 0xff // the store keeps its own copy
	got, err := cs.GetChunk(ctx, id)
	noErr(t, "GetChunk", err)
	sameChunk(t, "GetChunk", got, want)
	got.Body[1] ^= 0xff // and hands out copies
	again, err := cs.GetChunk(ctx, id)
	noErr(t, "GetChunk again", err)
	sameChunk(t, "GetChunk again", again, want)
	wantErr(t, "PutChunk of a taken ID", cs.PutChunk(ctx, id, newChunk(t, 2, time.Now().Add(time.Hour)), 0), store.ErrExists)
	if n := cs.ChunkBytes(); n != chunkSize {
		t.Fatalf("ChunkBytes = %d, want %d", n, chunkSize)
	}
	_, err = cs.GetChunk(ctx, newID(t))
	wantErr(t, "GetChunk of an unknown ID", err, store.ErrNotFound)
}

func testChunkDelete(t *testing.T, s store.Store, cs store.ChunkStore) {
	ctx := context.Background()
	id, other := newID(t), newID(t)
	noErr(t, "PutChunk", cs.PutChunk(ctx, id, newChunk(t, 1, time.Now().Add(time.Hour)), 0))
	oc := newChunk(t, 2, time.Now().Add(time.Hour))
	noErr(t, "PutChunk", cs.PutChunk(ctx, other, oc, 0))
	noErr(t, "DeleteChunk", cs.DeleteChunk(ctx, id))
	_, err := cs.GetChunk(ctx, id)
	wantErr(t, "GetChunk after DeleteChunk", err, store.ErrNotFound)
	wantErr(t, "DeleteChunk again", cs.DeleteChunk(ctx, id), store.ErrNotFound)
	wantErr(t, "DeleteChunk of an unknown ID", cs.DeleteChunk(ctx, newID(t)), store.ErrNotFound)
	if n := cs.ChunkBytes(); n != chunkSize {
		t.Fatalf("ChunkBytes = %d after a delete, want %d", n, chunkSize)
	}
	got, err := cs.GetChunk(ctx, other)
	noErr(t, "GetChunk of the other chunk", err)
	sameChunk(t, "the other chunk", got, oc)
	// A deleted ID may be stored again.
	noErr(t, "PutChunk after DeleteChunk", cs.PutChunk(ctx, id, newChunk(t, 3, time.Now().Add(time.Hour)), 0))
}

func testChunkExpire(t *testing.T, s store.Store, cs store.ChunkStore) {
	ctx := context.Background()
	now := time.Now()
	past := newID(t)
	// A chunk past its deadline is gone, whether or not it was stored.
	if err := cs.PutChunk(ctx, past, newChunk(t, 9, now.Add(-time.Minute)), 0); err == nil {
		_, err := cs.GetChunk(ctx, past)
		wantErr(t, "GetChunk past deadline", err, store.ErrNotFound)
		wantErr(t, "DeleteChunk past deadline", cs.DeleteChunk(ctx, past), store.ErrNotFound)
		noErr(t, "PutChunk over an expired chunk", cs.PutChunk(ctx, past, newChunk(t, 8, now.Add(time.Hour)), 0))
		noErr(t, "DeleteChunk", cs.DeleteChunk(ctx, past))
	}
	soon, later := newID(t), newID(t)
	noErr(t, "PutChunk", cs.PutChunk(ctx, soon, newChunk(t, 1, now.Add(time.Hour)), 0))
	lc := newChunk(t, 2, now.Add(3*time.Hour))
	noErr(t, "PutChunk", cs.PutChunk(ctx, later, lc, 0))
	noErr(t, "Expire", s.Expire(ctx, now.Add(2*time.Hour), now.Add(-30*day)))
	_, err := cs.GetChunk(ctx, soon)
	wantErr(t, "GetChunk after Expire", err, store.ErrNotFound)
	got, err := cs.GetChunk(ctx, later)
	noErr(t, "GetChunk of an unexpired chunk", err)
	sameChunk(t, "unexpired chunk", got, lc)
	if n := cs.ChunkBytes(); n != chunkSize {
		t.Fatalf("ChunkBytes = %d after Expire, want %d", n, chunkSize)
	}
	noErr(t, "PutChunk of an expired ID", cs.PutChunk(ctx, soon, newChunk(t, 3, now.Add(time.Hour)), 0))
}

func testChunkQuota(t *testing.T, s store.Store, cs store.ChunkStore) {
	ctx := context.Background()
	const max = 2 * chunkSize
	exp := time.Now().Add(time.Hour)
	a, b, c := newID(t), newID(t), newID(t)
	noErr(t, "PutChunk", cs.PutChunk(ctx, a, newChunk(t, 1, exp), max))
	noErr(t, "PutChunk", cs.PutChunk(ctx, b, newChunk(t, 2, exp), max))
	wantErr(t, "PutChunk over the chunk quota", cs.PutChunk(ctx, c, newChunk(t, 3, exp), max), store.ErrDiskQuota)
	_, err := cs.GetChunk(ctx, c)
	wantErr(t, "GetChunk of the refused chunk", err, store.ErrNotFound)
	noErr(t, "DeleteChunk", cs.DeleteChunk(ctx, a))
	noErr(t, "PutChunk after a delete", cs.PutChunk(ctx, c, newChunk(t, 3, exp), max))
}

func testChunkConcurrent(t *testing.T, s store.Store, cs store.ChunkStore) {
	ctx := context.Background()
	exp := time.Now().Add(time.Hour)
	const n = 16
	ids := make([]store.ID, n)
	cs0 := make([]store.Chunk, n)
	for i := range ids {
		ids[i], cs0[i] = newID(t), newChunk(t, byte(i), exp)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 4*n)
	for i := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := cs.PutChunk(ctx, ids[i], cs0[i], 0); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	for i := range ids {
		for range 3 { // several readers of one chunk, as a group's members
			wg.Add(1)
			go func() {
				defer wg.Done()
				c, err := cs.GetChunk(ctx, ids[i])
				if err == nil && !bytes.Equal(c.Body, cs0[i].Body) {
					err = errors.New("a concurrent GetChunk read another body")
				}
				if err != nil {
					errs <- err
				}
			}()
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if got := cs.ChunkBytes(); got != n*chunkSize {
		t.Fatalf("ChunkBytes = %d, want %d", got, n*chunkSize)
	}
}

func testChunkClosed(t *testing.T, s store.Store, cs store.ChunkStore) {
	ctx := context.Background()
	id := newID(t)
	noErr(t, "PutChunk", cs.PutChunk(ctx, id, newChunk(t, 1, time.Now().Add(time.Hour)), 0))
	noErr(t, "Close", s.Close())
	_, err := cs.GetChunk(ctx, id)
	checks := map[string]error{
		"PutChunk":    cs.PutChunk(ctx, newID(t), newChunk(t, 2, time.Now().Add(time.Hour)), 0),
		"GetChunk":    err,
		"DeleteChunk": cs.DeleteChunk(ctx, id),
	}
	for name, err := range checks {
		if !errors.Is(err, store.ErrClosed) {
			t.Errorf("%s after Close: %v, want ErrClosed", name, err)
		}
	}
}
