package relay

import (
	"context"
	"time"

	"veil/relay/store"
	"veil/relay/wire"
)

// claimTimeout bounds the claim a SUB makes; past it the SUB goes on with
// this node's table only (the store's cluster may be electing a leader).
const claimTimeout = 5 * time.Second

// claim makes sub the mailbox's live subscriber across every relay node
// sharing the store, when the store is shared (store.Claimer; see
// spec/relay-jetstream.md §7). lost is closed when a SUB on another node
// takes the mailbox over; it is nil (never ready) with a store of one
// node, or when the claim could not be made, in which case only this
// node's table ends older subscribers.
func (sub *subscription) claim() (lost <-chan struct{}, release func()) {
	cl, ok := sub.c.s.store.(store.Claimer)
	if !ok {
		return nil, func() {}
	}
	ctx, cancel := context.WithTimeout(sub.ctx, claimTimeout)
	defer cancel()
	lost, release, err := cl.Claim(ctx, sub.rid)
	if err != nil {
		if sub.ctx.Err() == nil {
			sub.c.s.log.Debug("relay: subscriber claim failed", "err", err)
		}
		return nil, func() {}
	}
	return lost, release
}

// lostClaim ends sub after a SUB on another relay node took its mailbox
// over: like endSubscriber for a newer SUB on this node, the client gets
// END (spec/relay.md §8.1).
func (sub *subscription) lostClaim() {
	s, c := sub.c.s, sub.c
	s.mu.Lock()
	if s.subs[sub.rid] == sub {
		delete(s.subs, sub.rid)
	}
	s.mu.Unlock()
	c.subMu.Lock()
	mine := c.subs.del(sub.rid, sub) != nil
	c.subMu.Unlock()
	sub.stop()
	if mine {
		c.reply(wire.Frame{Type: wire.TypeEND, ID: sub.rid})
	}
}
