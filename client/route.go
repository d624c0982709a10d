package client

import (
	"context"

	"veil/crypto"
	"veil/relay/conn"
	"veil/relay/wire"
)

// A courier carries items to someone else's mailbox on one relay: over a
// send connection of its own, never the one that subscribes to our
// mailboxes (spec/client.md §7.1). Its methods are those of conn.Conn that
// write to others' mailboxes.
type courier struct {
	e    *Engine
	addr string     // the destination relay
	c    *conn.Conn // the send connection
}

// deliver returns the courier for relay addr and chat (isolation: through
// a proxy each chat has its own circuit; "" when there is no chat yet).
func (e *Engine) deliver(ctx context.Context, addr, chat string) (*courier, error) {
	c, err := e.pool.conn(ctx, connKey{addr: addr, role: roleSend, iso: chat})
	if err != nil {
		return nil, err
	}
	return &courier{e: e, addr: addr, c: c}, nil
}

// Send is SEND (spec/relay.md §7.1).
func (k *courier) Send(ctx context.Context, sid crypto.ID, capability *[wire.CapSize]byte, body []byte) error {
	return k.c.Send(ctx, sid, capability, body)
}

// SecureSender is SKEY.
func (k *courier) SecureSender(ctx context.Context, sid crypto.ID, capability *[wire.CapSize]byte) error {
	return k.c.SecureSender(ctx, sid, capability)
}

// Take is TAKE.
func (k *courier) Take(ctx context.Context, id crypto.ID) ([]byte, error) {
	return k.c.Take(ctx, id)
}

// Append is LAPPEND to someone else's log.
func (k *courier) Append(ctx context.Context, id crypto.ID, writeCap *[wire.CapSize]byte, body []byte) (uint64, error) {
	return k.c.Append(ctx, id, writeCap, body)
}

// drop closes the courier's connection after a connection failure.
func (k *courier) drop() {
	k.e.pool.drop(k.addr, k.c)
}
