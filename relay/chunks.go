package relay

import (
	"context"
	"time"

	"veil/crypto"
	"veil/relay/store"
	"veil/relay/wire"
)

// isChunkCommand reports whether t is one of the chunk commands of
// §7.7, which draw from their own rate bucket (§11).
func isChunkCommand(t wire.Type) bool {
	return t == wire.TypeCPUT || t == wire.TypeCGET || t == wire.TypeCDEL || t == wire.TypeCROOM
}

// cmdChunk runs a chunk command (§7.7); with Config.NoChunks it answers
// UNKNOWN, as a relay older than chunks does.
func (c *session) cmdChunk(ctx context.Context, f *wire.Frame) (wire.Frame, wire.Code) {
	cs := c.s.chunks
	if cs == nil {
		return wire.Frame{}, wire.CodeUnknown
	}
	if (f.Type == wire.TypeCPUT || f.Type == wire.TypeCROOM) && !c.chunkPasswordOK(&f.Cap) {
		return wire.Frame{}, wire.CodePassword
	}
	switch f.Type {
	case wire.TypeCPUT:
		return wire.Frame{}, c.cmdChunkPut(ctx, cs, f)
	case wire.TypeCGET:
		return c.cmdChunkGet(ctx, cs, f)
	case wire.TypeCDEL:
		return wire.Frame{}, c.cmdChunkDel(ctx, cs, f)
	default:
		return wire.Frame{}, c.cmdChunkRoom(cs, f)
	}
}

// chunkPasswordOK reports whether pw, a CPUT's or CROOM's chunk password,
// is the relay's, compared in constant time; any is when it has none.
func (c *session) chunkPasswordOK(pw *[wire.CapSize]byte) bool {
	return len(c.s.password) == 0 || crypto.Equal(pw[:], c.s.chunkPW[:])
}

// chunkLife is a CPUT or CROOM lifetime, ok when it is one of the quanta
// clients round lifetimes up to (1 h, 6 h, 1 d, 3 d, 7 d) and at most
// MaxChunkLife (§7.7): any other value would single out its client.
func (c *session) chunkLife(seconds uint32) (time.Duration, bool) {
	life := time.Duration(seconds) * time.Second
	switch life {
	case time.Hour, 6 * time.Hour, 24 * time.Hour, 3 * 24 * time.Hour, 7 * 24 * time.Hour:
		return life, life <= c.s.limits.MaxChunkLife
	}
	return life, false
}

// cmdChunkPut: §7.7 CPUT. OK only once the chunk is durable.
func (c *session) cmdChunkPut(ctx context.Context, cs store.ChunkStore, f *wire.Frame) wire.Code {
	life, ok := c.chunkLife(f.Seconds)
	if !ok || len(f.Body) != wire.ChunkSize {
		return wire.CodeBadSize
	}
	l := c.s.limits
	if c.storageFull() || roundUse(cs.ChunkBytes(), l.ChunkStorage)+wire.ChunkSize > l.ChunkStorage {
		return wire.CodeStorageFull
	}
	ch := store.Chunk{ReadCap: f.ReadCap, DelCap: f.DelCap, Body: f.Body, Expires: c.s.now().Add(life)}
	if code := c.storeCode(cs.PutChunk(ctx, f.ID, ch, l.ChunkStorage), wire.CodeInternal); code != 0 {
		return code
	}
	c.s.metrics.chunkPut.Inc()
	return 0
}

// chunkAuth returns the chunk id when hashOf(capability) is its read
// (or, del set, delete) capability hash, compared in constant time
// (§7.5); AUTH for an unknown, expired or deleted chunk and a wrong
// capability alike.
func (c *session) chunkAuth(ctx context.Context, cs store.ChunkStore, f *wire.Frame, del bool) (store.Chunk, wire.Code) {
	ch, err := cs.GetChunk(ctx, f.ID)
	if code := c.storeCode(err, wire.CodeAuth); code != 0 {
		return store.Chunk{}, code
	}
	want := ch.ReadCap
	if del {
		want = ch.DelCap
	}
	if !crypto.Equal(hashOf(f.Cap[:]), want[:]) {
		return store.Chunk{}, wire.CodeAuth
	}
	return ch, 0
}

// cmdChunkGet: §7.7 CGET.
func (c *session) cmdChunkGet(ctx context.Context, cs store.ChunkStore, f *wire.Frame) (wire.Frame, wire.Code) {
	ch, code := c.chunkAuth(ctx, cs, f, false)
	if code != 0 {
		return wire.Frame{}, code
	}
	c.s.metrics.chunkGet.Inc()
	return wire.Frame{Type: wire.TypeCHUNK, Body: ch.Body}, 0
}

// cmdChunkDel: §7.7 CDEL.
func (c *session) cmdChunkDel(ctx context.Context, cs store.ChunkStore, f *wire.Frame) wire.Code {
	if _, code := c.chunkAuth(ctx, cs, f, true); code != 0 {
		return code
	}
	if code := c.storeCode(cs.DeleteChunk(ctx, f.ID), wire.CodeAuth); code != 0 {
		return code
	}
	c.s.metrics.chunkDel.Inc()
	return 0
}

// cmdChunkRoom: §7.7 CROOM, advisory: nothing is reserved.
func (c *session) cmdChunkRoom(cs store.ChunkStore, f *wire.Frame) wire.Code {
	if _, ok := c.chunkLife(f.Seconds); !ok || f.Count == 0 || f.Count > wire.MaxChunks {
		return wire.CodeBadSize
	}
	need := int64(f.Count) * wire.ChunkSize
	l := c.s.limits
	if roundUse(cs.ChunkBytes(), l.ChunkStorage)+need > l.ChunkStorage || roundUse(c.s.store.Size(), l.MaxStorage)+need > l.MaxStorage {
		return wire.CodeStorageFull
	}
	return 0
}

// roundUse rounds used up to a step of limit, so that CPUT and CROOM,
// which compare against it, tell a client only which step is reached
// (§9): 1 % of limit, at least 64 chunks, at most a sixteenth of limit, in
// whole chunks. A limit under 32 chunks has steps of one chunk or less,
// and used is compared as it is.
func roundUse(used, limit int64) int64 {
	st := min(max(limit/100, 64*wire.ChunkSize), limit/16)
	st -= st % wire.ChunkSize
	if st <= wire.ChunkSize {
		return used
	}
	return (used + st - 1) / st * st
}
