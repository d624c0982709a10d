package relay

import (
	"context"
	"sync"
	"time"

	"veil/crypto"
	"veil/relay/wire"
)

// subscription is one mailbox's live subscriber (spec/relay.md §8). Its
// delivery goroutine (run) is owned by the session and stops when ctx is
// cancelled: by OFF, by a newer SUB (END), by DEL or when the session ends.
type subscription struct {
	rid    crypto.ID
	c      *session
	ctx    context.Context
	cancel context.CancelFunc
	wake   chan struct{} // buffer of one: an ACK freed a slot
	once   sync.Once

	mu       sync.Mutex // guards inflight and lastSent
	inflight map[uint64]struct{}
	lastSent uint64
}

// cmdSub: §7.2 SUB, §8.1.
func (c *session) cmdSub(ctx context.Context, cmd *command) wire.Code {
	if code := c.recipient(ctx, cmd); code != 0 {
		return code
	}
	rid := cmd.f.ID
	c.subMu.Lock()
	if c.subs == nil {
		c.subs = map[crypto.ID]*subscription{}
	}
	if _, ok := c.subs[rid]; ok { // idempotent on its own connection (§7.4)
		c.subMu.Unlock()
		return 0
	}
	if len(c.subs) >= c.s.limits.MaxSubs {
		c.subMu.Unlock()
		return wire.CodeQuota
	}
	// Not derived from c.ctx, whose map of children would outlive them
	// in every idle session: the session ends its subscriptions itself
	// (endSubscriptions) before it cancels c.ctx.
	sctx, cancel := context.WithCancel(context.Background())
	sub := &subscription{rid: rid, c: c, ctx: sctx, cancel: cancel, wake: make(chan struct{}, 1), inflight: map[uint64]struct{}{}}
	c.subs[rid] = sub
	c.subMu.Unlock()

	c.s.endSubscriber(rid, sub)
	// Claim across relay nodes before OK, so that of two SUBs the one
	// answered later is the one that stays (cluster.go).
	lost, release := sub.claim()
	// Queue OK before the first MSG, then start delivery.
	c.reply(wire.Frame{Type: wire.TypeOK, CID: cmd.f.CID})
	c.wg.Add(1)
	go func() { // owned by the session: counted in wg, stops with sub.ctx
		defer c.wg.Done()
		defer release()
		sub.run(lost)
	}()
	c.s.metrics.subs.Inc()
	return okAlreadySent
}

// okAlreadySent tells execute that the command queued its own reply.
const okAlreadySent wire.Code = 0xffff

// endSubscriber makes next the live subscriber of rid on this node (nil:
// none) and ends the previous one, which gets END when it is on another
// connection (§8.1).
func (s *Server) endSubscriber(rid crypto.ID, next *subscription) {
	s.mu.Lock()
	old := s.subs[rid]
	if next != nil {
		s.subs[rid] = next
	} else {
		delete(s.subs, rid)
	}
	s.mu.Unlock()
	if old == nil || old == next {
		return
	}
	old.c.subMu.Lock()
	if old.c.subs[rid] == old {
		delete(old.c.subs, rid)
	}
	old.c.subMu.Unlock()
	old.stop()
	if next == nil || old.c != next.c {
		old.c.reply(wire.Frame{Type: wire.TypeEND, ID: rid})
	}
}

func (sub *subscription) stop() {
	sub.once.Do(func() {
		sub.cancel()
		sub.c.s.metrics.subs.Dec()
	})
}

// cmdAck: §7.2 ACK; accepted only on the connection holding the
// subscription (§7.4).
func (c *session) cmdAck(ctx context.Context, f *wire.Frame) wire.Code {
	sub := c.subscription(f.ID)
	if sub == nil {
		return wire.CodeAuth
	}
	err := c.s.store.Ack(ctx, f.ID, f.Seq)
	sub.mu.Lock()
	delete(sub.inflight, f.Seq)
	sub.mu.Unlock()
	select {
	case sub.wake <- struct{}{}:
	default:
	}
	if code := c.storeCode(err, wire.CodeNotFound); code != 0 {
		return code
	}
	c.s.metrics.acked.Inc()
	return 0
}

// cmdOff: §7.2 OFF.
func (c *session) cmdOff(f *wire.Frame) wire.Code {
	if c.subscription(f.ID) == nil {
		return wire.CodeAuth
	}
	c.s.mu.Lock()
	sub := c.s.subs[f.ID]
	if sub != nil && sub.c == c {
		delete(c.s.subs, f.ID)
	}
	c.s.mu.Unlock()
	c.subMu.Lock()
	own := c.subs[f.ID]
	delete(c.subs, f.ID)
	c.subMu.Unlock()
	if own != nil {
		own.stop()
	}
	return 0
}

func (c *session) subscription(rid crypto.ID) *subscription {
	c.subMu.Lock()
	defer c.subMu.Unlock()
	return c.subs[rid]
}

// endSubscriptions stops every subscription of the session (it is ending).
func (c *session) endSubscriptions() {
	c.subMu.Lock()
	subs := c.subs
	c.subs = nil
	c.subMu.Unlock()
	for rid, sub := range subs {
		c.s.mu.Lock()
		if c.s.subs[rid] == sub {
			delete(c.s.subs, rid)
		}
		c.s.mu.Unlock()
		sub.stop()
	}
}

// run delivers pending messages within the window (§8.2) until the
// subscription ends, or until lost is closed: a SUB on another relay node
// took the mailbox over (cluster.go).
func (sub *subscription) run(lost <-chan struct{}) {
	s := sub.c.s
	notify, stopNotify := s.store.Notify(sub.rid)
	defer stopNotify()
	for {
		if !sub.fill() {
			return
		}
		select {
		case <-sub.ctx.Done():
			return
		case <-lost:
			sub.lostClaim()
			return
		case <-notify:
		case <-sub.wake:
		}
	}
}

// fill pushes messages until the window is full or none is pending; false
// when the subscription has ended.
func (sub *subscription) fill() bool {
	c := sub.c
	window := c.s.limits.Window
	for {
		sub.mu.Lock()
		room := window - len(sub.inflight)
		after := sub.lastSent
		sub.mu.Unlock()
		if room <= 0 {
			return sub.ctx.Err() == nil
		}
		msgs, err := c.s.store.Pending(sub.ctx, sub.rid, after, room)
		if err != nil {
			if sub.ctx.Err() != nil {
				return false
			}
			c.storeCode(err, wire.CodeInternal) // logs it
			t := time.NewTimer(time.Second)     // retry later; the store may recover
			select {
			case <-t.C:
				return true
			case <-sub.ctx.Done():
				t.Stop()
				return false
			}
		}
		for _, m := range msgs {
			if !c.waitPushRoom(sub.ctx) {
				return false
			}
			sub.mu.Lock()
			if m.Seq <= sub.lastSent { // pushed meanwhile by offer
				sub.mu.Unlock()
				continue
			}
			if len(sub.inflight) >= window {
				sub.mu.Unlock()
				break
			}
			sub.pushLocked(m.Seq, m.Body)
			sub.mu.Unlock()
		}
		if len(msgs) < room {
			return sub.ctx.Err() == nil
		}
	}
}

// pushLocked queues MSG seq; sub.mu is held, which keeps MSGs in seq
// order on the connection.
func (sub *subscription) pushLocked(seq uint64, body []byte) {
	sub.inflight[seq] = struct{}{}
	sub.lastSent = seq
	sub.c.reply(wire.Frame{Type: wire.TypeMSG, ID: sub.rid, Seq: seq, Body: body})
	sub.c.s.metrics.delivered.Inc()
}

// offerSent pushes a message that a SEND on this node has just stored
// durably straight to the mailbox's subscriber on this node, when that
// subscriber has everything before it and room in its window: no store
// read and no wake-up of the delivery goroutine on the common path. In
// every other case the delivery goroutine finds the message through
// Store.Notify and Pending as before (§8.2).
func (s *Server) offerSent(rid crypto.ID, seq uint64, body []byte) {
	s.mu.Lock()
	sub := s.subs[rid]
	s.mu.Unlock()
	if sub == nil || !sub.c.hasPushRoom() {
		return
	}
	sub.mu.Lock()
	defer sub.mu.Unlock()
	if sub.ctx.Err() != nil || seq == 0 || sub.lastSent != seq-1 || len(sub.inflight) >= s.limits.Window {
		return
	}
	sub.pushLocked(seq, body)
}
