package client

import (
	"context"
	"fmt"
	"time"

	"veil/crypto"
	"veil/relay/conn"
	"veil/relay/wire"
)

// The chunk commands of a file (spec/relay.md §7.7), forwarded like a
// SEND when private routing forwards items for the relay (§7.7 of
// spec/client.md); xferConn uses them only then.

func chunkSeconds(life time.Duration) uint32 {
	return uint32(min(max(life/time.Second, 0), 1<<32-1))
}

// chunkPassword is what CPUT and CROOM carry for the destination's
// password pw (wire.ChunkPassword).
func (k *courier) chunkPassword(pw wire.Password) [wire.CapSize]byte {
	a, err := wire.ParseAddress(k.addr)
	if err != nil || len(pw) == 0 {
		// A courier's address was parsed when it was dialled, so only
		// "no password" gets here in practice; the relay then answers
		// PASSWORD if it has one.
		return [wire.CapSize]byte{}
	}
	return wire.ChunkPassword(a.Fingerprint, pw)
}

// PutChunk is CPUT; pw is the destination relay's password.
func (k *courier) PutChunk(ctx context.Context, id crypto.ID, readHash, delHash [32]byte, life time.Duration, pw wire.Password, body []byte) error {
	_, err := k.forward(ctx, wire.Frame{Type: wire.TypeCPUT, ID: id, ReadCap: readHash, DelCap: delHash, Seconds: chunkSeconds(life), Cap: k.chunkPassword(pw), Body: body})
	return err
}

// GetChunk is CGET.
func (k *courier) GetChunk(ctx context.Context, id crypto.ID, readCap [32]byte) ([]byte, error) {
	r, err := k.forward(ctx, wire.Frame{Type: wire.TypeCGET, ID: id, Cap: readCap})
	if err != nil {
		return nil, err
	}
	if r.Type != wire.TypeCHUNK || len(r.Body) != wire.ChunkSize {
		return nil, fmt.Errorf("%w: %v to CGET", conn.ErrBadReply, r.Type)
	}
	return r.Body, nil
}

// DeleteChunk is CDEL.
func (k *courier) DeleteChunk(ctx context.Context, id crypto.ID, delCap [32]byte) error {
	_, err := k.forward(ctx, wire.Frame{Type: wire.TypeCDEL, ID: id, Cap: delCap})
	return err
}

// ChunkRoom is CROOM; pw is the destination relay's password.
func (k *courier) ChunkRoom(ctx context.Context, n uint32, life time.Duration, pw wire.Password) error {
	_, err := k.forward(ctx, wire.Frame{Type: wire.TypeCROOM, Count: n, Seconds: chunkSeconds(life), Cap: k.chunkPassword(pw)})
	return err
}
