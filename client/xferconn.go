package client

import (
	"context"
	"time"

	"veil/crypto"
	"veil/relay/conn"
	"veil/relay/wire"
)

// An xferConn carries a file's chunks to or from one relay
// (spec/client.md §7.8): over a transfer connection of its own, never
// one that carries messages, so bulk traffic neither delays messages nor
// shares their connection's identity; or, when private routing forwards
// items for that relay (§7.7), through the forwarding relay as a SEND
// would go.
type xferConn struct {
	k *courier // set when routing forwards
	c *conn.Conn
	e *Engine

	addr string
	pw   wire.Password // the relay's password, which CPUT and CROOM carry (spec/relay.md §7.7)
}

// xferConn returns the transfer connection for chunks on relay addr of
// chat (isolation through a proxy, as deliver).
func (e *Engine) xferConn(ctx context.Context, addr, chat string) (*xferConn, error) {
	rt, err := e.routingFor(ctx, addr)
	if err != nil {
		return nil, err
	}
	pws, err := e.passwordsFor(ctx, addr)
	if err != nil {
		return nil, err
	}
	x := &xferConn{e: e, addr: addr, pw: pws.forChunks()}
	if rt.fwd != "" {
		if x.k, err = e.deliver(ctx, addr, chat); err != nil {
			return nil, err
		}
		return x, nil
	}
	if x.c, err = e.pool.conn(ctx, connKey{addr: addr, role: roleXfer, iso: chat}); err != nil {
		return nil, err
	}
	x.c.SetChunkPassword(x.pw)
	return x, nil
}

func (x *xferConn) put(ctx context.Context, id crypto.ID, readHash, delHash [32]byte, life time.Duration, body []byte) error {
	if x.k != nil {
		return x.k.PutChunk(ctx, id, readHash, delHash, life, x.pw, body)
	}
	return x.c.PutChunk(ctx, id, readHash, delHash, life, body)
}

func (x *xferConn) get(ctx context.Context, id crypto.ID, readCap [32]byte) ([]byte, error) {
	if x.k != nil {
		return x.k.GetChunk(ctx, id, readCap)
	}
	return x.c.GetChunk(ctx, id, readCap)
}

func (x *xferConn) del(ctx context.Context, id crypto.ID, delCap [32]byte) error {
	if x.k != nil {
		return x.k.DeleteChunk(ctx, id, delCap)
	}
	return x.c.DeleteChunk(ctx, id, delCap)
}

func (x *xferConn) room(ctx context.Context, n uint32, life time.Duration) error {
	if x.k != nil {
		return x.k.ChunkRoom(ctx, n, life, x.pw)
	}
	return x.c.ChunkRoom(ctx, n, life)
}

// drop closes the connection after a connection failure.
func (x *xferConn) drop() {
	if x.k != nil {
		x.k.drop()
		return
	}
	x.e.pool.drop(x.addr, x.c)
}

// dropStalled closes the connection of a transfer stopped for a stall
// (stopStalled): the requests the relay never answered may still be
// pending on it, and a relay that went silent is not trusted to answer
// the next try over the same connection.
func (x *xferConn) dropStalled(ctx context.Context) {
	if isStalled(ctx) {
		x.drop()
	}
}
