package conn

import (
	"context"
	"fmt"
	"time"

	"veil/crypto"
	"veil/relay/wire"
)

// Chunk commands (spec/relay.md §7.7). Errors are *wire.Error values
// (wire.IsCode): AUTH for an unknown, expired or deleted chunk or a wrong
// capability, EXISTS for a chunk ID already stored, BAD_SIZE, STORAGE_FULL,
// RATE, PASSWORD (CPUT, CROOM) for a missing or wrong relay password, and
// UNKNOWN from a relay that does not store chunks.

// SetChunkPassword sets the relay password CPUT and CROOM carry from now
// on (§7.7, as wire.ChunkPassword); empty for a relay that has none.
func (c *Conn) SetChunkPassword(password []byte) {
	if len(password) == 0 {
		c.chunkPW.Store(nil)
		return
	}
	pw := wire.ChunkPassword(c.fp, password)
	c.chunkPW.Store(&pw)
}

// chunkPassword is what CPUT and CROOM carry (SetChunkPassword).
func (c *Conn) chunkPassword() [wire.CapSize]byte {
	if pw := c.chunkPW.Load(); pw != nil {
		return *pw
	}
	return [wire.CapSize]byte{}
}

// PutChunkAsync stores a chunk without waiting (§7.7 CPUT): readHash and
// delHash are SHA-256 of its read and delete capabilities, life its
// lifetime (whole seconds), body exactly wire.ChunkSize bytes. The item
// is encoded before PutChunkAsync returns, so body may be reused then.
// done is called exactly once, with nil once the relay has stored the
// chunk durably, or why not; it runs on the connection's reader goroutine
// (or on the caller's when the command could not be sent) and must not
// block.
func (c *Conn) PutChunkAsync(id crypto.ID, readHash, delHash [32]byte, life time.Duration, body []byte, done func(error)) {
	f := wire.Frame{Type: wire.TypeCPUT, ID: id, ReadCap: readHash, DelCap: delHash, Seconds: seconds(life), Cap: c.chunkPassword(), Body: body}
	if err := c.Go(&f, false, okFunc(done)); err != nil {
		done(err)
	}
}

// GetChunkAsync fetches a chunk without waiting (§7.7 CGET). done is
// called exactly once, with the chunk's body, a fresh slice the caller
// owns, or with why not; a reply body that is not wire.ChunkSize bytes is
// an error wrapping ErrBadReply. done runs as PutChunkAsync's does.
func (c *Conn) GetChunkAsync(id crypto.ID, readCap [32]byte, done func(body []byte, err error)) {
	f := wire.Frame{Type: wire.TypeCGET, ID: id, Cap: readCap}
	if err := c.Go(&f, false, func(r wire.Frame, err error) { done(chunkBody(r, err)) }); err != nil {
		done(nil, err)
	}
}

// PutChunk is PutChunkAsync that waits for the reply.
func (c *Conn) PutChunk(ctx context.Context, id crypto.ID, readHash, delHash [32]byte, life time.Duration, body []byte) error {
	return c.ok(ctx, &wire.Frame{Type: wire.TypeCPUT, ID: id, ReadCap: readHash, DelCap: delHash, Seconds: seconds(life), Cap: c.chunkPassword(), Body: body})
}

// GetChunk is GetChunkAsync that waits for the reply.
func (c *Conn) GetChunk(ctx context.Context, id crypto.ID, readCap [32]byte) ([]byte, error) {
	return chunkBody(c.Do(ctx, &wire.Frame{Type: wire.TypeCGET, ID: id, Cap: readCap}))
}

// DeleteChunk deletes a chunk with its delete capability (§7.7 CDEL).
func (c *Conn) DeleteChunk(ctx context.Context, id crypto.ID, delCap [32]byte) error {
	return c.ok(ctx, &wire.Frame{Type: wire.TypeCDEL, ID: id, Cap: delCap})
}

// ChunkRoom asks whether count chunks of lifetime life fit the relay's
// chunk storage now (§7.7 CROOM): nil, or STORAGE_FULL, BAD_SIZE, or
// UNKNOWN from a relay that does not store chunks. It reserves nothing.
func (c *Conn) ChunkRoom(ctx context.Context, count uint32, life time.Duration) error {
	return c.ok(ctx, &wire.Frame{Type: wire.TypeCROOM, Count: count, Seconds: seconds(life), Cap: c.chunkPassword()})
}

// chunkBody checks a reply to CGET.
func chunkBody(r wire.Frame, err error) ([]byte, error) {
	if err != nil {
		return nil, err
	}
	if r.Type != wire.TypeCHUNK {
		return nil, unexpected(r)
	}
	if len(r.Body) != wire.ChunkSize {
		return nil, fmt.Errorf("%w: a %d-byte chunk, not %d", ErrBadReply, len(r.Body), wire.ChunkSize)
	}
	return r.Body, nil
}
