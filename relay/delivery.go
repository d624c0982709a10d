package relay

import (
	"context"
	"sync"
	"time"

	"veil/crypto"
	"veil/relay/store"
	"veil/relay/wire"
)

// subscription is one mailbox's live subscriber (spec/relay.md §8). It
// owns no goroutine while it has nothing to push: a SEND on this node
// hands it the message (offerSent) or kicks a delivery pass, an ACK kicks
// one when messages wait beyond the window, and a pass (deliver) runs on
// a goroutine of its own only until nothing is left to push. With a store
// shared by several relay nodes (store.Claimer) a watcher goroutine also
// waits for the store's notifications and for a lost claim. Passes and
// the watcher are owned by the session (counted in its wg) and stop when
// ctx is cancelled: by OFF, by a newer SUB (END), by DEL or when the
// session ends.
type subscription struct {
	rid    crypto.ID
	c      *session
	ctx    context.Context
	cancel context.CancelFunc
	once   sync.Once

	runMu   sync.Mutex // guards running, again and stopped
	running bool       // a deliver goroutine runs
	again   bool       // it must make one more pass
	stopped bool       // no pass may start

	mu       sync.Mutex          // guards inflight, lastSent and behind
	inflight map[uint64]struct{} // made by the first push
	lastSent uint64
	behind   bool // messages may be stored that were not pushed
}

// cmdSub: §7.2 SUB, §8.1.
func (c *session) cmdSub(ctx context.Context, cmd *command) wire.Code {
	if code := c.recipient(ctx, cmd); code != 0 {
		return code
	}
	rid := cmd.f.ID
	c.subMu.Lock()
	if c.subs.get(rid) != nil { // idempotent on its own connection (§7.4)
		c.subMu.Unlock()
		return 0
	}
	if c.subs.len() >= c.s.limits.MaxSubs {
		c.subMu.Unlock()
		return wire.CodeQuota
	}
	// Not derived from c.ctx, whose map of children would outlive them
	// in every idle session: the session ends its subscriptions itself
	// (endSubscriptions) before it cancels c.ctx.
	sctx, cancel := context.WithCancel(context.Background())
	sub := &subscription{rid: rid, c: c, ctx: sctx, cancel: cancel}
	c.subs.put(sub)
	c.subMu.Unlock()

	c.s.endSubscriber(rid, sub)
	// Claim across relay nodes before OK, so that of two SUBs the one
	// answered later is the one that stays (cluster.go).
	lost, release := sub.claim()
	// Queue OK before the first MSG, then start delivery.
	c.reply(wire.Frame{Type: wire.TypeOK, CID: cmd.f.CID})
	c.s.metrics.subs.Inc()
	if _, shared := c.s.store.(store.Claimer); shared {
		c.wg.Add(1)
		go func() { // owned by the session: counted in wg, stops with sub.ctx
			defer c.wg.Done()
			defer release()
			sub.watch(lost)
		}()
	} else {
		release()
	}
	sub.kick()
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
	old.c.subs.del(rid, old)
	old.c.subMu.Unlock()
	old.stop()
	if next == nil || old.c != next.c {
		old.c.reply(wire.Frame{Type: wire.TypeEND, ID: rid})
	}
}

func (sub *subscription) stop() {
	sub.once.Do(func() {
		sub.runMu.Lock()
		sub.stopped = true
		sub.runMu.Unlock()
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
	return c.acked(sub, f, c.s.store.Ack(ctx, f.ID, f.Seq))
}

// acked finishes ACK once the store has answered: the window has room
// again (§8.2).
func (c *session) acked(sub *subscription, f *wire.Frame, err error) wire.Code {
	sub.freeSlot(f.Seq)
	// An OFF and a SUB may have replaced the subscription while the
	// delete was written, and the new one may have pushed seq again
	// before it: its window must not keep seq either.
	if cur := c.subscription(f.ID); cur != nil && cur != sub {
		cur.freeSlot(f.Seq)
	}
	if code := c.storeCode(err, wire.CodeNotFound); code != 0 {
		return code
	}
	c.s.metrics.acked.Inc()
	return 0
}

// freeSlot takes seq out of the delivery window; when messages wait
// behind the window, a delivery pass starts.
func (sub *subscription) freeSlot(seq uint64) {
	sub.mu.Lock()
	_, was := sub.inflight[seq]
	delete(sub.inflight, seq)
	behind := was && sub.behind
	sub.mu.Unlock()
	if behind { // the window has room again for what waits
		sub.kick()
	}
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
	own := c.subs.del(f.ID, nil)
	c.subMu.Unlock()
	if own != nil {
		own.stop()
	}
	return 0
}

func (c *session) subscription(rid crypto.ID) *subscription {
	c.subMu.Lock()
	defer c.subMu.Unlock()
	return c.subs.get(rid)
}

// endSubscriptions stops every subscription of the session (it is ending).
func (c *session) endSubscriptions() {
	c.subMu.Lock()
	subs := c.subs.all()
	c.subs = subSet{}
	c.subMu.Unlock()
	for _, sub := range subs {
		c.s.mu.Lock()
		if c.s.subs[sub.rid] == sub {
			delete(c.s.subs, sub.rid)
		}
		c.s.mu.Unlock()
		sub.stop()
	}
}

// kick makes sure a delivery pass (fill) starts after this call: it
// starts a deliver goroutine when none runs, or tells the running one to
// make one more pass. Nothing starts once the subscription has stopped,
// so no goroutine joins the session's wg after its subscriptions ended.
func (sub *subscription) kick() {
	sub.runMu.Lock()
	defer sub.runMu.Unlock()
	if sub.stopped {
		return
	}
	sub.again = true
	if sub.running {
		return
	}
	sub.running = true
	sub.c.wg.Add(1)
	go sub.deliver() // owned by the session: counted in wg, ends when a pass finds nothing more to do or the subscription stops
}

// deliver makes passes until no kick came during the last one.
func (sub *subscription) deliver() {
	defer sub.c.wg.Done()
	for {
		sub.runMu.Lock()
		if !sub.again || sub.stopped {
			sub.running = false
			sub.runMu.Unlock()
			return
		}
		sub.again = false
		sub.runMu.Unlock()
		sub.fill()
	}
}

// watch is the watcher goroutine of a subscription on a store shared by
// several relay nodes: a SEND through another node reaches this one only
// through Store.Notify, and a SUB on another node closes lost.
func (sub *subscription) watch(lost <-chan struct{}) {
	notify, stopNotify := sub.c.s.store.Notify(sub.rid)
	defer stopNotify()
	for {
		select {
		case <-sub.ctx.Done():
			return
		case <-lost:
			sub.lostClaim()
			return
		case <-notify:
			sub.kick()
		}
	}
}

// fill pushes messages until the window is full or none is pending
// (spec/relay.md §8.2). After a store error it tries again a second later.
func (sub *subscription) fill() {
	c := sub.c
	window := c.s.limits.Window
	for {
		sub.mu.Lock()
		room := window - len(sub.inflight)
		after := sub.lastSent
		// Whatever is stored now is read below or pushed by offerSent;
		// an ACK kicks only when the window held something back.
		sub.behind = room <= 0
		sub.mu.Unlock()
		if room <= 0 {
			return
		}
		msgs, err := c.s.store.Pending(sub.ctx, sub.rid, after, room)
		if err != nil {
			if sub.ctx.Err() != nil {
				return
			}
			c.storeCode(err, wire.CodeInternal)  // logs it
			time.AfterFunc(storeRetry, sub.kick) // the store may recover; a no-op once stopped
			return
		}
		for _, m := range msgs {
			if !c.waitPushRoom(sub.ctx) {
				return
			}
			sub.mu.Lock()
			if m.Seq <= sub.lastSent { // pushed meanwhile by offerSent
				sub.mu.Unlock()
				continue
			}
			if len(sub.inflight) >= window {
				sub.behind = true
				sub.mu.Unlock()
				return
			}
			sub.pushLocked(m.Seq, m.Body)
			sub.mu.Unlock()
		}
		if len(msgs) < room {
			return
		}
	}
}

// storeRetry is how long delivery waits after a store error.
const storeRetry = time.Second

// pushLocked queues MSG seq; sub.mu is held, which keeps MSGs in seq
// order on the connection.
func (sub *subscription) pushLocked(seq uint64, body []byte) {
	if sub.inflight == nil { // a subscription nothing was pushed to holds no map
		sub.inflight = make(map[uint64]struct{})
	}
	sub.inflight[seq] = struct{}{}
	sub.lastSent = seq
	sub.c.reply(wire.Frame{Type: wire.TypeMSG, ID: sub.rid, Seq: seq, Body: body})
	sub.c.s.metrics.delivered.Inc()
}

// offerSent pushes a message that a SEND on this node has just stored
// durably straight to the mailbox's subscriber on this node, when that
// subscriber has everything before it and room in its window: no store
// read and no goroutine on the common path. In every other case it
// kicks a delivery pass, which finds the message with Store.Pending
// (§8.2). A store shared by several nodes also wakes subscribers through
// Store.Notify (watch).
func (s *Server) offerSent(rid crypto.ID, seq uint64, body []byte) {
	s.mu.Lock()
	sub := s.subs[rid]
	s.mu.Unlock()
	if sub == nil {
		return
	}
	room := sub.c.hasPushRoom()
	sub.mu.Lock()
	if sub.ctx.Err() != nil || seq <= sub.lastSent {
		sub.mu.Unlock()
		return
	}
	if room && seq == sub.lastSent+1 && len(sub.inflight) < s.limits.Window {
		sub.pushLocked(seq, body)
		sub.mu.Unlock()
		return
	}
	sub.behind = true
	sub.mu.Unlock()
	sub.kick()
}
