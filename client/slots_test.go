package client

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"veil/client/internal/format"
	"veil/crypto"
	"veil/relay"
	"veil/relay/relaytest"
	"veil/relay/store/memory"
	"veil/vault"
)

// Chats on two relays (spec/client.md §7.5, §7.6) on real relays that,
// like the engines, read a fake clock: the test moves it and calls Flush
// and rotateDue where Run would on its tickers. Run still receives.

// slotRelay runs a real relay on the fake clock.
func slotRelay(t *testing.T, clk *fakeClock) *relaytest.Relay {
	t.Helper()
	id, err := crypto.GenerateSign(nil)
	if err != nil {
		t.Fatal(err)
	}
	return relaytest.Serve(t, relay.Config{Store: memory.New(memory.Config{Now: clk.Now}), Identity: id, Now: clk.Now})
}

// slotPeer is one side of a two-relay chat, running.
type slotPeer struct {
	e    *Engine
	ev   chan Event
	chat string
	seen []Event // every event read so far
	stop func()  // ends Run and waits for it
}

// start runs p's engine until stop or the end of the test.
func (p *slotPeer) start(t *testing.T) {
	rctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); p.e.Run(rctx) }() // stopped by stop or the cleanup
	p.stop = sync.OnceFunc(func() { cancel(); <-done })
	t.Cleanup(p.stop)
}

// slotPair makes a chat on relays a and b: ana invites with both, ben
// joins (HELLO2 to both of ana's mailboxes); both run until the test ends.
func slotPair(t *testing.T, clk *fakeClock, a, b *relaytest.Relay) (ana, ben *slotPeer) {
	t.Helper()
	ctx := context.Background()
	ana, ben = &slotPeer{}, &slotPeer{}
	ana.e, ana.ev = clockEngine(t, a.Address.String(), clk)
	ben.e, ben.ev = clockEngine(t, a.Address.String(), clk)
	key, chat, err := ana.e.Invite(ctx, InviteOptions{As: "ana", Relays: []string{a.Address.String(), b.Address.String()}})
	if err != nil {
		t.Fatal(err)
	}
	ana.chat = chat
	if ben.chat, err = ben.e.Join(ctx, key, JoinOptions{As: "ben"}); err != nil {
		t.Fatal(err)
	}
	ana.start(t)
	ben.start(t)
	waitFor(t, "the chat to be set up", func() bool {
		c, err := ana.e.Chat(ctx, ana.chat)
		return err == nil && !c.Pending && ana.outboxEmpty(t) && ben.outboxEmpty(t)
	}, ana, ben)
	return ana, ben
}

func (p *slotPeer) outboxEmpty(t *testing.T) bool {
	t.Helper()
	n := 0
	if err := p.e.v.View(context.Background(), func(tx *vault.Tx) error {
		items, err := tx.Outbox()
		n = len(items)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return n == 0
}

// flush flushes p's outbox while it reads p's events: an engine whose
// event channel is full waits in emit holding its outbox, and a Flush
// would wait for it.
func (p *slotPeer) flush() {
	flushed := make(chan struct{})
	go func() { p.e.Flush(context.Background()); close(flushed) }()
	for {
		select {
		case <-flushed:
			return
		case ev := <-p.ev:
			p.seen = append(p.seen, ev)
		}
	}
}

// waitFor flushes every peer's outbox and reads their events until ok
// holds; the network runs in real time, so it waits for that, never for
// the clock.
func waitFor(t *testing.T, what string, ok func() bool, ps ...*slotPeer) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		for _, p := range ps {
			p.flush()
		}
		for _, p := range ps {
		drain:
			for {
				select {
				case ev := <-p.ev:
					p.seen = append(p.seen, ev)
				case <-time.After(20 * time.Millisecond):
					break drain
				}
			}
		}
	}
}

// incoming returns how often each incoming text is stored in p's chat.
func (p *slotPeer) incoming(t *testing.T) map[string]int {
	t.Helper()
	ms, err := p.e.Messages(context.Background(), p.chat, 0)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int{}
	for _, m := range ms {
		if !m.Outgoing {
			out[m.Text]++
		}
	}
	return out
}

func (p *slotPeer) send(t *testing.T, text string) {
	t.Helper()
	if _, err := p.e.Send(context.Background(), p.chat, text, SendOptions{}); err != nil {
		t.Fatal(err)
	}
	p.drain()
}

// drain reads the events waiting, without waiting.
func (p *slotPeer) drain() {
	for {
		select {
		case ev := <-p.ev:
			p.seen = append(p.seen, ev)
		default:
			return
		}
	}
}

// exchange sends n messages each way, tagged, and waits until each side
// holds every one of the other's.
func exchange(t *testing.T, ana, ben *slotPeer, tag string, n int) {
	t.Helper()
	exchangeThen(t, ana, ben, tag, n, nil)
}

// exchangeThen is exchange that calls then after queueing the messages.
func exchangeThen(t *testing.T, ana, ben *slotPeer, tag string, n int, then func()) {
	t.Helper()
	for i := range n {
		ana.send(t, fmt.Sprintf("%s a%d", tag, i))
		ben.send(t, fmt.Sprintf("%s b%d", tag, i))
	}
	if then != nil {
		then()
	}
	waitFor(t, tag+" messages", func() bool {
		a, b := ana.incoming(t), ben.incoming(t)
		for i := range n {
			if a[fmt.Sprintf("%s b%d", tag, i)] == 0 || b[fmt.Sprintf("%s a%d", tag, i)] == 0 {
				return false
			}
		}
		return true
	}, ana, ben)
}

// exactlyOnce fails unless every incoming text of p is stored once.
func exactlyOnce(t *testing.T, p *slotPeer, want int) {
	t.Helper()
	got := p.incoming(t)
	if len(got) != want {
		t.Errorf("%d distinct incoming messages, want %d", len(got), want)
	}
	for text, n := range got {
		if n != 1 {
			t.Errorf("%q stored %d times", text, n)
		}
	}
}

func (p *slotPeer) contact(t *testing.T) vault.Contact {
	t.Helper()
	var ct vault.Contact
	if err := p.e.v.View(context.Background(), func(tx *vault.Tx) (err error) { ct, err = tx.Contact(p.chat); return }); err != nil {
		t.Fatal(err)
	}
	return ct
}

// TestTwoRelayChat: an invite to two relays gives both sides a mailbox
// on each and a send capability for each of the peer's; the HELLO2 that
// reached ana twice made one contact; features are known both ways.
func TestTwoRelayChat(t *testing.T) {
	t.Parallel()
	clk := newFakeClock()
	a, b := slotRelay(t, clk), slotRelay(t, clk)
	ana, ben := slotPair(t, clk, a, b)
	for _, p := range []*slotPeer{ana, ben} {
		ct := p.contact(t)
		if len(liveRecv(&ct)) != 2 || len(sendSlots(&ct)) != 2 {
			t.Fatalf("relays = %d recv, %d send", len(liveRecv(&ct)), len(sendSlots(&ct)))
		}
		var meta chatMeta
		p.e.v.View(context.Background(), func(tx *vault.Tx) (err error) { meta, err = getMeta(tx, p.chat); return })
		if meta.PeerFeatures != format.Features || meta.SentFeatures != format.Features {
			t.Fatalf("features = %b, sent %b", meta.PeerFeatures, meta.SentFeatures)
		}
	}
	exchange(t, ana, ben, "hi", 3)
	exactlyOnce(t, ana, 3)
	exactlyOnce(t, ben, 3)
	info, err := ana.e.Chat(context.Background(), ana.chat)
	if err != nil || len(info.Relays) != 4 {
		t.Fatalf("ChatInfo relays = %+v, %v", info.Relays, err)
	}
}

// TestTwoRelaysKillEither: relay B stops mid-conversation (its store
// kept), 50 messages go each way, B comes back on the same port and
// identity; then the same for A. Every message is stored exactly once on
// each side; the relay that was down is reported once down and once up.
func TestTwoRelaysKillEither(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("real relays, 200 messages")
	}
	clk := newFakeClock()
	a, b := slotRelay(t, clk), slotRelay(t, clk)
	ana, ben := slotPair(t, clk, a, b)
	exchange(t, ana, ben, "before", 5)
	for _, r := range []*relaytest.Relay{b, a} {
		r.Stop()
		exchangeThen(t, ana, ben, fmt.Sprint(r.Address.Port), 50, func() {
			ana.flush()
			ben.flush()
			clk.Add(2 * SlotDownAfter) // the copies for the stopped relay are given up
			ana.flush()
			ben.flush()
		})
		r.Restart()
		exchange(t, ana, ben, fmt.Sprint(r.Address.Port, "after"), 5)
		for _, p := range []*slotPeer{ana, ben} {
			short := shortRelay(r.Address.String())
			down := slices.IndexFunc(p.seen, func(ev Event) bool { return ev.Type == EventChatRelayDown && ev.Relay == short })
			up := slices.IndexFunc(p.seen, func(ev Event) bool { return ev.Type == EventChatRelayUp && ev.Relay == short })
			if down < 0 || up < down {
				for _, ev := range p.seen {
					if ev.Type != EventMessage && ev.Type != EventStatus {
						t.Logf("%+v", ev)
					}
				}
				t.Fatalf("relay %s: down event %d, up event %d", short, down, up)
			}
			n := 0
			for _, ev := range p.seen {
				if ev.Type == EventChatRelayDown || ev.Type == EventChatRelayUp {
					n++
				}
			}
			if n != 2 {
				t.Errorf("%d relay down/up events, want one of each", n)
			}
			p.seen = nil
		}
	}
	// The peer can have a message before its sender has the relay's OK
	// for it, which is what empties the sender's outbox.
	waitFor(t, "the outboxes to empty", func() bool { return ana.outboxEmpty(t) && ben.outboxEmpty(t) }, ana, ben)
	exactlyOnce(t, ana, 5+2*(50+5))
	exactlyOnce(t, ben, 5+2*(50+5))
}

// noMoves reports whether neither side has a move in flight.
func noMoves(t *testing.T, ps ...*slotPeer) bool {
	for _, p := range ps {
		ct := p.contact(t)
		for _, rc := range ct.Relays {
			if rc.Offer != nil || rc.Pending != nil {
				return false
			}
		}
	}
	return true
}

// TestRotationDuringTraffic: 200 messages each way while both sides
// rotate both slots, the clock jumping 8 days: nothing is lost or shown
// twice, and every replaced mailbox is deleted on its relay.
func TestRotationDuringTraffic(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("real relays, 400 messages")
	}
	ctx := context.Background()
	clk := newFakeClock()
	a, b := slotRelay(t, clk), slotRelay(t, clk)
	ana, ben := slotPair(t, clk, a, b)
	exchange(t, ana, ben, "warm", 20)
	type box struct {
		e    *Engine
		addr string
		rid  crypto.ID
		key  []byte
	}
	var old []box
	for _, p := range []*slotPeer{ana, ben} {
		ct := p.contact(t)
		for _, rc := range liveRecv(&ct) {
			old = append(old, box{p.e, rc.Address, crypto.ID(rc.RecvID), rc.RecvKey})
		}
	}
	oldLive := func() bool {
		for _, p := range []*slotPeer{ana, ben} {
			ct := p.contact(t)
			for _, rc := range liveRecv(&ct) {
				for _, o := range old {
					if o.rid == crypto.ID(rc.RecvID) {
						return true
					}
				}
			}
		}
		return false
	}
	clk.Add(8 * 24 * time.Hour)
	sent := 20
	// One slot of a chat at a time: two rounds at least (Run's timers
	// may start a rotation too).
	for round := 0; oldLive(); round++ {
		if round == 4 {
			t.Fatal("the mailboxes were not all rotated")
		}
		ana.e.rotateDue(ctx)
		ben.e.rotateDue(ctx)
		exchange(t, ana, ben, fmt.Sprint("round", round), 40)
		sent += 40
		waitFor(t, "the moves to complete", func() bool { return noMoves(t, ana, ben) }, ana, ben)
		clk.Add(retireGrace + time.Minute)
	}
	ana.e.rotateDue(ctx) // deletes the last retired mailboxes
	ben.e.rotateDue(ctx)
	noTasks := func(p *slotPeer) bool {
		var ts []task
		p.e.v.View(ctx, func(tx *vault.Tx) (err error) { ts, err = getTasks(tx); return })
		return len(ts) == 0
	}
	waitFor(t, "the old mailboxes to be deleted", func() bool { return noTasks(ana) && noTasks(ben) }, ana, ben)
	exchange(t, ana, ben, "last", 200-sent)
	for _, p := range []*slotPeer{ana, ben} {
		ct := p.contact(t)
		if len(liveRecv(&ct)) != 2 || len(recvCaps(&ct)) != 2 || len(sendSlots(&ct)) != 2 {
			t.Fatalf("after rotation: %d live of %d mailboxes, %d send slots", len(liveRecv(&ct)), len(recvCaps(&ct)), len(sendSlots(&ct)))
		}
		for _, rc := range liveRecv(&ct) {
			for _, o := range old {
				if o.rid == crypto.ID(rc.RecvID) {
					t.Fatalf("slot %d was not rotated", rc.Slot)
				}
			}
		}
	}
	// The peer can have a message before its sender has the relay's OK
	// for it, which is what empties the sender's outbox.
	waitFor(t, "the outboxes to empty", func() bool { return ana.outboxEmpty(t) && ben.outboxEmpty(t) }, ana, ben)
	exactlyOnce(t, ana, 200)
	exactlyOnce(t, ben, 200)
	for _, o := range old {
		c, err := o.e.pool.get(ctx, o.addr)
		if err != nil {
			t.Fatal(err)
		}
		k, err := crypto.ParseSignPrivate(o.key)
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Subscribe(ctx, o.rid, k); err == nil {
			t.Errorf("an old mailbox on %s still exists", shortRelay(o.addr))
		}
	}
}

// TestOneRelayChatGainsASecondRelay: a chat made through a version 1
// invite learns the peer's features from FEATURES (sent once by the
// timers), then each side adds a second relay with a move of slot 1 and
// the chat runs on both: relay A can go.
func TestOneRelayChatGainsASecondRelay(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	clk := newFakeClock()
	a, b := slotRelay(t, clk), slotRelay(t, clk)
	ana, ben := &slotPeer{}, &slotPeer{}
	ana.e, ana.ev = clockEngine(t, a.Address.String(), clk)
	ben.e, ben.ev = clockEngine(t, a.Address.String(), clk)
	ana.chat, ben.chat = connectClocked(t, ana.e, ben.e, InviteOptions{As: "ana"})
	if err := ana.e.MoveChat(ctx, ana.chat, 1, b.Address.String()); err != ErrMoveUnsupported {
		t.Fatalf("move before FEATURES: %v", err)
	}
	for _, p := range []*slotPeer{ana, ben} {
		rctx, cancel := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() { defer close(done); p.e.Run(rctx) }() // stopped by the cleanup
		t.Cleanup(func() { cancel(); <-done })
	}
	ana.e.rotateDue(ctx)
	ben.e.rotateDue(ctx)
	known := func(p *slotPeer) bool {
		var m chatMeta
		p.e.v.View(ctx, func(tx *vault.Tx) (err error) { m, err = getMeta(tx, p.chat); return })
		return m.PeerFeatures == format.Features
	}
	waitFor(t, "the features", func() bool { return known(ana) && known(ben) }, ana, ben)
	for _, p := range []*slotPeer{ana, ben} {
		if err := p.e.MoveChat(ctx, p.chat, 1, b.Address.String()); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "the second relay", func() bool {
		ca, cb := ana.contact(t), ben.contact(t)
		return noMoves(t, ana, ben) && len(sendSlots(&ca)) == 2 && len(sendSlots(&cb)) == 2
	}, ana, ben)
	exchange(t, ana, ben, "both", 3)
	a.Stop()
	exchangeThen(t, ana, ben, "b only", 5, func() {
		clk.Add(2 * SlotDownAfter)
	})
	exactlyOnce(t, ana, 8)
	exactlyOnce(t, ben, 8)
}

// TestRelayDropsMoved: the relay of ana's new mailbox takes ben's MOVED
// and loses it. Ben has switched; his next messages reach the new
// mailbox, which confirms the move for ana: nothing is lost and the old
// mailbox is retired.
func TestRelayDropsMoved(t *testing.T) {
	t.Parallel()
	relayDropsMoved(t, false)
}

// TestRelayDropsMovedThenSilence: as TestRelayDropsMoved, but ben sends
// nothing for 21 days: ana deletes the unconfirmed mailbox, offers
// another, and the chat goes on with nothing lost.
func TestRelayDropsMovedThenSilence(t *testing.T) {
	t.Parallel()
	relayDropsMoved(t, true)
}

func relayDropsMoved(t *testing.T, reoffer bool) {
	ctx := context.Background()
	clk := newFakeClock()
	a, b := slotRelay(t, clk), slotRelay(t, clk)
	ana, ben := slotPair(t, clk, a, b)
	old := sendIDs(t, ben)[0]
	ana.stop()
	if err := ana.e.MoveChat(ctx, ana.chat, 0, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := ana.e.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "ben to switch", func() bool { return sendIDs(t, ben)[0] != old && noMoves(t, ben) }, ben)
	ct := ana.contact(t)
	var offer *vault.RelayCap
	for _, rc := range recvCaps(&ct) {
		if rc.Offer != nil {
			offer = rc
		}
	}
	if offer == nil {
		t.Fatal("no offer")
	}
	// The relay loses the MOVED: another client takes it off the mailbox.
	thief, _ := clockEngine(t, a.Address.String(), clk)
	c, err := thief.pool.get(ctx, offer.Address)
	if err != nil {
		t.Fatal(err)
	}
	key, _ := crypto.ParseSignPrivate(offer.RecvKey)
	rid := crypto.ID(offer.RecvID)
	if err := c.Subscribe(ctx, rid, key); err != nil {
		t.Fatal(err)
	}
	select {
	case p := <-c.Pushes():
		if err := c.Ack(ctx, rid, p.Seq); err != nil {
			t.Fatal(err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("no MOVED on the new mailbox")
	}
	if err := c.Off(ctx, rid); err != nil {
		t.Fatal(err)
	}
	if reoffer {
		// Nothing from ben for 21 days: ana gives the offer up, deletes
		// that mailbox, and offers a new one, which ben takes.
		clk.Add(offerGiveUp + time.Hour)
		ana.e.rotateDue(ctx) // gives the offer up and, slot 0 being due, offers again
		ct := ana.contact(t)
		var offers []crypto.ID
		for _, rc := range recvCaps(&ct) {
			if rc.Offer != nil {
				offers = append(offers, crypto.ID(rc.RecvID))
			}
		}
		if len(recvCaps(&ct)) != 3 || len(offers) != 1 || offers[0] == rid {
			t.Fatalf("after 21 days: %d mailboxes, offers %x", len(recvCaps(&ct)), offers)
		}
	}
	ben.send(t, "after the move")
	ana.start(t)
	waitFor(t, "the message and the confirmation", func() bool {
		return ana.incoming(t)["after the move"] == 1 && noMoves(t, ana)
	}, ana, ben)
	ct = ana.contact(t)
	retiring := 0
	for _, rc := range recvCaps(&ct) {
		if !rc.Retire.IsZero() {
			retiring++
		}
	}
	if !reoffer && retiring != 1 || len(liveRecv(&ct)) != 2 {
		t.Fatalf("%d retiring, %d live mailboxes", retiring, len(liveRecv(&ct)))
	}
	exchange(t, ana, ben, "later", 3)
	exactlyOnce(t, ana, 4)
}
