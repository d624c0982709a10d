package relay_test

import (
	"bytes"
	"sync"
	"testing"
	"time"

	"veil/crypto"
	"veil/relay"
	"veil/relay/conn"
	"veil/relay/relaytest"
	"veil/relay/store"
	"veil/relay/store/badger"
	"veil/relay/wire"
)

// testChunk is one chunk with its capabilities, as a client derives them.
type testChunk struct {
	id           crypto.ID
	read, del    [32]byte
	rHash, dHash [32]byte
	body         []byte
}

func newChunk(t testing.TB, b byte) testChunk {
	t.Helper()
	var c testChunk
	if err := crypto.RandomBytes(nil, c.id[:]); err != nil {
		t.Fatal(err)
	}
	crypto.RandomBytes(nil, c.read[:])
	crypto.RandomBytes(nil, c.del[:])
	c.rHash, c.dHash = crypto.Hash(c.read[:]), crypto.Hash(c.del[:])
	c.body = body(wire.ChunkSize, b)
	return c
}

func withLimits(f func(*relay.Limits)) relayOpt {
	return func(c *relay.Config) { f(&c.Limits) }
}

// TestChunks: CPUT, CGET, CDEL; an unknown ID, a wrong capability and a
// deleted chunk are all AUTH (spec/relay.md §7.7).
func TestChunks(t *testing.T) {
	tr := startRelay(t)
	ctx := tctx(t)
	c := tr.dial(t)
	k := newChunk(t, 3)
	if err := c.PutChunk(ctx, k.id, k.rHash, k.dHash, time.Hour, k.body); err != nil {
		t.Fatal(err)
	}
	wantCode(t, c.PutChunk(ctx, k.id, k.rHash, k.dHash, time.Hour, body(wire.ChunkSize, 4)), wire.CodeExists)
	for range 2 { // read many times: a group's members each fetch it
		got, err := tr.dial(t).GetChunk(ctx, k.id, k.read)
		if err != nil || !bytes.Equal(got, k.body) {
			t.Fatalf("CGET: %v", err)
		}
	}
	_, err := c.GetChunk(ctx, k.id, k.del)
	wantCode(t, err, wire.CodeAuth)
	_, err = c.GetChunk(ctx, k.id, k.rHash)
	wantCode(t, err, wire.CodeAuth)
	other := newChunk(t, 0)
	_, err = c.GetChunk(ctx, other.id, other.read)
	wantCode(t, err, wire.CodeAuth)
	wantCode(t, c.DeleteChunk(ctx, k.id, k.read), wire.CodeAuth)
	wantCode(t, c.DeleteChunk(ctx, other.id, other.del), wire.CodeAuth)
	if err := c.DeleteChunk(ctx, k.id, k.del); err != nil {
		t.Fatal(err)
	}
	_, err = c.GetChunk(ctx, k.id, k.read)
	wantCode(t, err, wire.CodeAuth)
	wantCode(t, c.DeleteChunk(ctx, k.id, k.del), wire.CodeAuth)
	if n := tr.store.ChunkBytes(); n != 0 {
		t.Fatalf("%d chunk bytes after the delete", n)
	}
	healthy(t, c)
}

func TestChunkExpiry(t *testing.T) {
	tr := startRelay(t)
	ctx := tctx(t)
	c := tr.dial(t)
	k := newChunk(t, 1)
	if err := c.PutChunk(ctx, k.id, k.rHash, k.dHash, time.Hour, k.body); err != nil {
		t.Fatal(err)
	}
	tr.clock.Advance(time.Hour + time.Second)
	_, err := c.GetChunk(ctx, k.id, k.read)
	wantCode(t, err, wire.CodeAuth)
	wantCode(t, c.DeleteChunk(ctx, k.id, k.del), wire.CodeAuth)
	if err := tr.srv.ExpireNow(ctx); err != nil {
		t.Fatal(err)
	}
	if n := tr.store.ChunkBytes(); n != 0 {
		t.Fatalf("%d chunk bytes after expiry", n)
	}
	// The ID is free again: only holders of the file secret know it.
	if err := c.PutChunk(ctx, k.id, k.rHash, k.dHash, time.Hour, k.body); err != nil {
		t.Fatal(err)
	}
}

func TestChunkSizes(t *testing.T) {
	tr := startRelay(t)
	ctx := tctx(t)
	c := tr.dial(t)
	k := newChunk(t, 1)
	for _, b := range [][]byte{k.body[:wire.ChunkSize-1], append(k.body, 0), k.body[:1024]} {
		wantCode(t, c.PutChunk(ctx, k.id, k.rHash, k.dHash, time.Hour, b), wire.CodeBadSize)
	}
	// A lifetime that is not one of the clients' quanta would single
	// out its client: refused like one out of range.
	for _, life := range []time.Duration{0, time.Minute, 90 * time.Minute, 2 * 24 * time.Hour, 7*24*time.Hour + time.Second} {
		wantCode(t, c.PutChunk(ctx, k.id, k.rHash, k.dHash, life, k.body), wire.CodeBadSize)
		wantCode(t, c.ChunkRoom(ctx, 1, life), wire.CodeBadSize)
	}
	wantCode(t, c.ChunkRoom(ctx, 0, time.Hour), wire.CodeBadSize)
	wantCode(t, c.ChunkRoom(ctx, wire.MaxChunks+1, time.Hour), wire.CodeBadSize)
	if err := c.ChunkRoom(ctx, wire.MaxChunks, 7*24*time.Hour); err != nil {
		t.Fatal(err)
	}
	if err := c.PutChunk(ctx, k.id, k.rHash, k.dHash, 7*24*time.Hour, k.body); err != nil {
		t.Fatal(err)
	}
}

// TestChunkQuota: ChunkStorage bounds the chunks; CROOM says so before
// an upload, CPUT when it is reached.
func TestChunkQuota(t *testing.T) {
	tr := startRelay(t, withLimits(func(l *relay.Limits) { l.ChunkStorage = 3 * wire.ChunkSize }))
	ctx := tctx(t)
	c := tr.dial(t)
	if err := c.ChunkRoom(ctx, 3, time.Hour); err != nil {
		t.Fatal(err)
	}
	wantCode(t, c.ChunkRoom(ctx, 4, time.Hour), wire.CodeStorageFull)
	var ks []testChunk
	for i := range 3 {
		k := newChunk(t, byte(i))
		if err := c.PutChunk(ctx, k.id, k.rHash, k.dHash, time.Hour, k.body); err != nil {
			t.Fatal(err)
		}
		ks = append(ks, k)
	}
	wantCode(t, c.ChunkRoom(ctx, 1, time.Hour), wire.CodeStorageFull)
	k := newChunk(t, 9)
	wantCode(t, c.PutChunk(ctx, k.id, k.rHash, k.dHash, time.Hour, k.body), wire.CodeStorageFull)
	if err := c.DeleteChunk(ctx, ks[0].id, ks[0].del); err != nil {
		t.Fatal(err)
	}
	if err := c.PutChunk(ctx, k.id, k.rHash, k.dHash, time.Hour, k.body); err != nil {
		t.Fatal(err)
	}
	// Messages keep their share: a SEND still works.
	m := newMailbox(t, c)
	if err := c.Send(ctx, m.sid, &m.cap, body(1024, 1)); err != nil {
		t.Fatal(err)
	}
}

// TestChunkAsync pipelines CPUTs and CGETs on one connection.
func TestChunkAsync(t *testing.T) {
	tr := startRelay(t)
	c := tr.dial(t)
	const n = 64
	ks := make([]testChunk, n)
	var wg sync.WaitGroup
	errs := make(chan error, 2*n)
	for i := range ks {
		ks[i] = newChunk(t, byte(i))
		wg.Add(1)
		c.PutChunkAsync(ks[i].id, ks[i].rHash, ks[i].dHash, time.Hour, ks[i].body, func(err error) {
			defer wg.Done()
			if err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	got := make([][]byte, n)
	for i := range ks {
		wg.Add(1)
		c.GetChunkAsync(ks[i].id, ks[i].read, func(b []byte, err error) {
			defer wg.Done()
			if err != nil {
				errs <- err
			}
			got[i] = b
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	for i := range ks {
		if !bytes.Equal(got[i], ks[i].body) {
			t.Fatalf("chunk %d differs", i)
		}
	}
}

// TestChunkRate: chunk commands draw from their own bucket, not the
// general one (spec/relay.md §11).
func TestChunkRate(t *testing.T) {
	tr := startRelay(t, withLimits(func(l *relay.Limits) { l.Rate, l.Burst, l.ChunkRate = 0.001, 2, 0.01 }))
	ctx := tctx(t)
	c := tr.dial(t)
	for range 2 {
		if err := c.Ping(ctx); err != nil {
			t.Fatalf("general command within its bucket: %v", err)
		}
	}
	wantCode(t, c.Ping(ctx), wire.CodeRate)
	if err := c.ChunkRoom(ctx, 1, time.Hour); err != nil {
		t.Fatalf("chunk command with the general bucket empty: %v", err)
	}
	wantCode(t, c.ChunkRoom(ctx, 1, time.Hour), wire.CodeRate)
}

// TestForwardChunks: a CPUT of a full chunk and a CGET travel through a
// forwarder; the CHUNK comes back sealed in FRES (§7.6, §7.7).
func TestForwardChunks(t *testing.T) {
	rec := &relaytest.Recorder{}
	d, f := forwardPair(t, rec)
	ctx := tctx(t)
	c := f.dialFrom(t, clientIP)
	route, err := c.FKey(ctx, nil, d.addr)
	if err != nil {
		t.Fatal(err)
	}
	k := newChunk(t, 6)
	put := wire.Frame{Type: wire.TypeCPUT, ID: k.id, ReadCap: k.rHash, DelCap: k.dHash, Seconds: 3600, Body: k.body}
	if r, err := c.ForwardCommand(ctx, route, put, d.clock.Now(), nil); err != nil || r.Type != wire.TypeOK {
		t.Fatalf("forwarded CPUT: %v %v", &r, err)
	}
	get := wire.Frame{Type: wire.TypeCGET, ID: k.id, Cap: k.read}
	r, err := c.ForwardCommand(ctx, route, get, d.clock.Now(), nil)
	if err != nil || r.Type != wire.TypeCHUNK || !bytes.Equal(r.Body, k.body) {
		t.Fatalf("forwarded CGET: %v %v", &r, err)
	}
	room := wire.Frame{Type: wire.TypeCROOM, Count: 10, Seconds: 3600}
	if r, err := c.ForwardCommand(ctx, route, room, d.clock.Now(), nil); err != nil || r.Type != wire.TypeOK {
		t.Fatalf("forwarded CROOM: %v %v", &r, err)
	}
	del := wire.Frame{Type: wire.TypeCDEL, ID: k.id, Cap: k.del}
	if r, err := c.ForwardCommand(ctx, route, del, d.clock.Now(), nil); err != nil || r.Type != wire.TypeOK {
		t.Fatalf("forwarded CDEL: %v %v", &r, err)
	}
	_, err = d.dial(t).GetChunk(ctx, k.id, k.read)
	wantCode(t, err, wire.CodeAuth)
	saw := 0
	for _, it := range rec.Items() {
		if it.Type == wire.TypeCPUT || it.Type == wire.TypeCGET {
			saw++
		}
	}
	if saw != 3 { // the forwarded CPUT and CGET, and the direct CGET
		t.Fatalf("the destination saw %d CPUT/CGET, want 3", saw)
	}
}

// TestChunksOlderRelay: a relay without chunks answers UNKNOWN to every
// chunk command, and the connection goes on.
func TestChunksOlderRelay(t *testing.T) {
	tr := startRelay(t, relaytest.WithoutChunks())
	ctx := tctx(t)
	c := tr.dial(t)
	k := newChunk(t, 1)
	wantCode(t, c.ChunkRoom(ctx, 1, time.Hour), wire.CodeUnknown)
	wantCode(t, c.PutChunk(ctx, k.id, k.rHash, k.dHash, time.Hour, k.body), wire.CodeUnknown)
	_, err := c.GetChunk(ctx, k.id, k.read)
	wantCode(t, err, wire.CodeUnknown)
	wantCode(t, c.DeleteChunk(ctx, k.id, k.del), wire.CodeUnknown)
	healthy(t, c)
}

// TestChunksSurviveRestart: a relay on the embedded store keeps its
// chunks in the journal; a relay process started again on the same data
// directory serves them, and not the deleted one.
func TestChunksSurviveRestart(t *testing.T) {
	dir := t.TempDir()
	id, err := crypto.GenerateSign(nil)
	if err != nil {
		t.Fatal(err)
	}
	start := func() (*relaytest.Relay, *badger.Store) {
		st, err := badger.Open(badger.Config{Dir: dir})
		if err != nil {
			t.Fatal(err)
		}
		return relaytest.Serve(t, relay.Config{Store: st, Identity: id}), st
	}
	ctx := tctx(t)
	r, st := start()
	c, err := conn.DialAddress(ctx, r.Address, nil)
	if err != nil {
		t.Fatal(err)
	}
	keep, gone := newChunk(t, 1), newChunk(t, 2)
	for _, k := range []testChunk{keep, gone} {
		if err := c.PutChunk(ctx, k.id, k.rHash, k.dHash, time.Hour, k.body); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.DeleteChunk(ctx, gone.id, gone.del); err != nil {
		t.Fatal(err)
	}
	c.Close()
	r.Stop()
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	r, _ = start()
	c, err = conn.DialAddress(ctx, r.Address, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	got, err := c.GetChunk(ctx, keep.id, keep.read)
	if err != nil || !bytes.Equal(got, keep.body) {
		t.Fatalf("CGET after a restart: %v", err)
	}
	_, err = c.GetChunk(ctx, gone.id, gone.read)
	wantCode(t, err, wire.CodeAuth)
	wantCode(t, c.PutChunk(ctx, keep.id, keep.rHash, keep.dHash, time.Hour, keep.body), wire.CodeExists)
}

// TestChunkGlobalQuota: chunks count against the relay's storage quota
// too, which messages share; CROOM and CPUT say STORAGE_FULL once it is
// reached, and ChunkStorage never exceeds it.
func TestChunkGlobalQuota(t *testing.T) {
	tr := startRelay(t, withLimits(func(l *relay.Limits) {
		*l = relay.NoAbuseLimits(*l) // the global quota is under test, not a connection's budget
		l.MaxStorage, l.ChunkStorage = 4*wire.ChunkSize, 100*wire.ChunkSize
	}))
	ctx := tctx(t)
	c := tr.dial(t)
	m := newMailbox(t, c)
	for range 3 {
		if err := c.Send(ctx, m.sid, &m.cap, body(wire.ChunkSize, 1)); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.ChunkRoom(ctx, 1, time.Hour); err != nil {
		t.Fatal(err)
	}
	wantCode(t, c.ChunkRoom(ctx, 2, time.Hour), wire.CodeStorageFull)
	for i := range 2 { // the quota is checked before a write: the one that passes it still lands
		k := newChunk(t, byte(i))
		if err := c.PutChunk(ctx, k.id, k.rHash, k.dHash, time.Hour, k.body); err != nil {
			t.Fatalf("chunk %d: %v", i, err)
		}
	}
	k := newChunk(t, 9)
	wantCode(t, c.PutChunk(ctx, k.id, k.rHash, k.dHash, time.Hour, k.body), wire.CodeStorageFull)
	wantCode(t, c.ChunkRoom(ctx, 1, time.Hour), wire.CodeStorageFull)
}

// TestChunkSpy: the spy sees what the relay stores and reads, and its
// Tamper hook changes what CGET returns (the client's AEAD must catch it).
func TestChunkSpy(t *testing.T) {
	spy := &relaytest.ChunkSpy{Tamper: func(_ [24]byte, c *store.Chunk) { c.Body[0] ^= 1 }}
	tr := startRelay(t, relaytest.WithChunkSpy(spy))
	ctx := tctx(t)
	c := tr.dial(t)
	k := newChunk(t, 4)
	if err := c.PutChunk(ctx, k.id, k.rHash, k.dHash, time.Hour, k.body); err != nil {
		t.Fatal(err)
	}
	got, err := c.GetChunk(ctx, k.id, k.read)
	if err != nil || bytes.Equal(got, k.body) || got[0] != k.body[0]^1 {
		t.Fatalf("tampered CGET: %v", err)
	}
	if err := c.DeleteChunk(ctx, k.id, k.del); err != nil {
		t.Fatal(err)
	}
	puts := spy.Puts()
	if len(puts) != 1 || puts[0].ID != k.id || puts[0].ReadHash != k.rHash || puts[0].DelHash != k.dHash {
		t.Fatalf("spy puts: %+v", puts)
	}
	if len(spy.Gets()) != 2 || len(spy.Deletes()) != 1 {
		t.Fatalf("spy saw %d reads and %d deletes", len(spy.Gets()), len(spy.Deletes()))
	}
}

// TestChunkLifeCappedByMaxChunkLife: a relay whose MaxChunkLife is below
// 7 days refuses the longer quanta with BAD_SIZE (spec/files.md §6).
func TestChunkLifeCappedByMaxChunkLife(t *testing.T) {
	tr := startRelay(t, withLimits(func(l *relay.Limits) { l.MaxChunkLife = 2 * 24 * time.Hour }))
	ctx := tctx(t)
	c := tr.dial(t)
	wantCode(t, c.ChunkRoom(ctx, 1, 3*24*time.Hour), wire.CodeBadSize)
	wantCode(t, c.ChunkRoom(ctx, 1, 7*24*time.Hour), wire.CodeBadSize)
	if err := c.ChunkRoom(ctx, 1, 24*time.Hour); err != nil {
		t.Fatal(err)
	}
}

// TestChunkPassword: a relay with a password stores chunks, and says
// whether they fit, only for a client that has it (§7.7): CPUT and CROOM
// without it or with a wrong one are PASSWORD; CGET and CDEL need only
// the chunk's capabilities.
func TestChunkPassword(t *testing.T) {
	tr := startRelay(t, func(c *relay.Config) { c.Password = []byte("group secret") })
	ctx := tctx(t)
	c := tr.dial(t)
	k := newChunk(t, 1)
	wantCode(t, c.ChunkRoom(ctx, 1, time.Hour), wire.CodePassword)
	wantCode(t, c.PutChunk(ctx, k.id, k.rHash, k.dHash, time.Hour, k.body), wire.CodePassword)
	c.SetChunkPassword([]byte("wrong"))
	wantCode(t, c.ChunkRoom(ctx, 1, time.Hour), wire.CodePassword)
	wantCode(t, c.PutChunk(ctx, k.id, k.rHash, k.dHash, time.Hour, k.body), wire.CodePassword)
	c.SetChunkPassword([]byte("group secret"))
	if err := c.ChunkRoom(ctx, 1, time.Hour); err != nil {
		t.Fatal(err)
	}
	if err := c.PutChunk(ctx, k.id, k.rHash, k.dHash, time.Hour, k.body); err != nil {
		t.Fatal(err)
	}
	reader := tr.dial(t) // no password
	if _, err := reader.GetChunk(ctx, k.id, k.read); err != nil {
		t.Fatal(err)
	}
	if err := reader.DeleteChunk(ctx, k.id, k.del); err != nil {
		t.Fatal(err)
	}
}
