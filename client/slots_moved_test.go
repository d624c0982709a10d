package client

import (
	"context"
	"crypto/rand"
	"strings"
	"testing"
	"time"

	"veil/client/internal/format"
	"veil/crypto"
	"veil/relay/wire"
	"veil/vault"
)

// TestMovedStoredReplyLost: the relay of ana's new mailbox stores ben's
// MOVED but ben never sees its OK (the relay goes down past
// SlotDownAfter). Ben keeps the move pending and sends MOVED again; ana,
// confirmed by the first copy, keeps her old mailbox until ben is heard on
// the new one. Nothing is lost, nothing refused, and the old mailbox goes.
func TestMovedStoredReplyLost(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	clk := newFakeClock()
	a, b := slotRelay(t, clk), slotRelay(t, clk)
	ana, ben := slotPair(t, clk, a, b)
	ana.stop()
	ben.stop()
	oldRecv := liveRecv(ptr(ana.contact(t)))[0].RecvID
	if err := ana.e.MoveChat(ctx, ana.chat, 0, ""); err != nil {
		t.Fatal(err)
	}
	// The MOVE reaches ben by hand.
	for _, it := range outboxItems(t, ana.e) {
		if !ben.e.receive(ctx, ben.chat, it.Payload) {
			t.Fatal("MOVE not acked")
		}
		if err := ana.e.sent(ctx, &it); err != nil {
			t.Fatal(err)
		}
	}
	items := outboxItems(t, ben.e)
	if len(items) != 1 || items[0].Route == "" {
		t.Fatalf("ben queued %d items, want one MOVED", len(items))
	}
	var pend *vault.RelayCap
	ct := ben.contact(t)
	for i := range ct.Relays {
		if ct.Relays[i].Pending != nil {
			pend = &ct.Relays[i]
		}
	}
	// The relay stores the MOVED, and goes down before its OK reaches
	// ben; ben's tries fail for longer than SlotDownAfter.
	other, _ := clockEngine(t, a.Address.String(), clk)
	c, err := other.pool.get(ctx, pend.Address)
	if err != nil {
		t.Fatal(err)
	}
	var capb [wire.CapSize]byte
	copy(capb[:], pend.SendCred)
	if err := c.Send(ctx, crypto.ID(pend.SendID), &capb, items[0].Payload); err != nil {
		t.Fatal(err)
	}
	a.Stop()
	ben.e.Flush(ctx)
	clk.Add(2 * SlotDownAfter)
	ben.e.Flush(ctx)
	if noMoves(t, ben) {
		t.Fatal("ben gave the move up on a temporary failure")
	}
	a.Restart()
	// Ana reads the MOVED, confirms, and her grace runs out before ben
	// is back.
	ana.start(t)
	waitFor(t, "ana's confirmation", func() bool { return noMoves(t, ana) }, ana)
	clk.Add(retireGrace + 2*drainQuiet)
	ana.e.rotateDue(ctx)
	waitFor(t, "ana's tasks", func() bool { return tasksLeft(t, ana.e) == 0 }, ana)
	if !hasRecv(ana.contact(t), oldRecv) {
		t.Fatal("ana deleted her old mailbox before ben was heard on the new one")
	}
	ben.start(t)
	exchange(t, ana, ben, "after", 3)
	if n := warned(ben, "refuses messages for good"); n != 0 {
		t.Fatalf("ben was refused %d times", n)
	}
	clk.Add(retireGrace + 2*drainQuiet)
	ana.e.rotateDue(ctx)
	waitFor(t, "the old mailbox's deletion", func() bool {
		return !hasRecv(ana.contact(t), oldRecv) && tasksLeft(t, ana.e) == 0
	}, ana, ben)
	exchange(t, ana, ben, "later", 3)
	exactlyOnce(t, ana, 6)
	exactlyOnce(t, ben, 6)
	if n := warned(ben, "refuses messages for good") + warned(ben, "does not work"); n != 0 {
		t.Fatalf("ben warned %d times", n)
	}
}

func ptr[T any](v T) *T { return &v }

func outboxItems(t *testing.T, e *Engine) []vault.OutboxItem {
	t.Helper()
	var items []vault.OutboxItem
	if err := e.v.View(context.Background(), func(tx *vault.Tx) (err error) { items, err = tx.Outbox(); return }); err != nil {
		t.Fatal(err)
	}
	return items
}

func tasksLeft(t *testing.T, e *Engine) int {
	t.Helper()
	var ts []task
	if err := e.v.View(context.Background(), func(tx *vault.Tx) (err error) { ts, err = getTasks(tx); return }); err != nil {
		t.Fatal(err)
	}
	return len(ts)
}

func hasRecv(ct vault.Contact, rid []byte) bool {
	for _, rc := range recvCaps(&ct) {
		if string(rc.RecvID) == string(rid) {
			return true
		}
	}
	return false
}

// TestReplayOnOfferConfirmsNothing: the relay of ana's offered mailbox
// pushes there a copy of a message ana already has; that is no sign the
// peer switched, so the offer stays unconfirmed and the old mailbox live.
func TestReplayOnOfferConfirmsNothing(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	clk := newFakeClock()
	a, b := slotRelay(t, clk), slotRelay(t, clk)
	ana, ben := slotPair(t, clk, a, b)
	ana.stop()
	ben.stop()
	if _, err := ben.e.Send(ctx, ben.chat, "old", SendOptions{}); err != nil {
		t.Fatal(err)
	}
	body := outboxItems(t, ben.e)[0].Payload
	live := liveRecv(ptr(ana.contact(t)))[0]
	if !ana.e.receiveOn(ctx, ana.chat, crypto.ID(live.RecvID), body) {
		t.Fatal("not acked")
	}
	if err := ana.e.MoveChat(ctx, ana.chat, 0, ""); err != nil {
		t.Fatal(err)
	}
	var offer crypto.ID
	for _, rc := range recvCaps(ptr(ana.contact(t))) {
		if rc.Offer != nil {
			offer = crypto.ID(rc.RecvID)
		}
	}
	if !ana.e.receiveOn(ctx, ana.chat, offer, body) {
		t.Fatal("replay not acked")
	}
	if noMoves(t, ana) {
		t.Fatal("a replayed copy on the offered mailbox confirmed the move")
	}
	if ana.incoming(t)["old"] != 1 {
		t.Fatal("the replay changed the messages")
	}
}

// TestGarbageRecordsNoDeliveryID: bodies that do not authenticate leave
// no delivery ID behind (a relay could otherwise fill the vault); a
// message that does is recorded.
func TestGarbageRecordsNoDeliveryID(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	evA, evB := make(chan Event, 1000), make(chan Event, 1000)
	ana, ben, chat := pair(t, evA, evB)
	pump(t, ben, ana, chat)
	seen := func(body []byte) bool {
		var ok bool
		if err := ana.v.View(ctx, func(tx *vault.Tx) (err error) { ok, err = tx.SeenDelivery(chat, format.DeliveryID(body)); return }); err != nil {
			t.Fatal(err)
		}
		return ok
	}
	for i := range 20 {
		body := make([]byte, 200+i)
		if _, err := rand.Read(body); err != nil {
			t.Fatal(err)
		}
		if i%2 == 0 {
			body[0] = byte(i) // vary the leading byte a decoder looks at
		}
		if !ana.receive(ctx, chat, body) {
			t.Fatal("garbage not acked")
		}
		if seen(body) {
			t.Fatalf("garbage body %d recorded", i)
		}
	}
	if _, err := ben.Send(ctx, chat, "real", SendOptions{}); err != nil {
		t.Fatal(err)
	}
	bodies := pump(t, ben, ana, chat)
	if len(bodies) != 1 || !seen(bodies[0]) {
		t.Fatal("an authenticated message was not recorded")
	}
}

// TestMoveStoppedAfterNewLeavesNoMailbox: a mailbox made for a move but
// not yet recorded (the client stopped in between) is deleted on its
// relay by the DEL task that stands for it; a move that completes leaves
// no such task.
func TestMoveStoppedAfterNewLeavesNoMailbox(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	clk := newFakeClock()
	a, b := slotRelay(t, clk), slotRelay(t, clk)
	ana, _ := slotPair(t, clk, a, b)
	ana.stop()
	m, err := ana.e.newSecuredMailbox(ctx, a.Address.String())
	if err != nil {
		t.Fatal(err)
	}
	if n := tasksLeft(t, ana.e); n != 1 {
		t.Fatalf("%d tasks after NEW, want the DEL", n)
	}
	clk.Add(setupStale + time.Second)
	if _, err := ana.e.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if n := tasksLeft(t, ana.e); n != 0 {
		t.Fatalf("%d tasks left after the flush", n)
	}
	c, err := ana.e.pool.get(ctx, a.Address.String())
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Subscribe(ctx, m.rid, m.key); err == nil {
		t.Fatal("the unrecorded mailbox still exists")
	}
	if err := ana.e.MoveChat(ctx, ana.chat, 0, ""); err != nil {
		t.Fatal(err)
	}
	if n := tasksLeft(t, ana.e); n != 0 {
		t.Fatalf("%d tasks after a move, want none", n)
	}
}

// TestMoveDuringRestartNotTaken: a MOVE that arrives while our session
// is out of date cannot be answered (nothing goes out), so it is not
// taken: no pending mailbox waits for a MOVED that never comes.
func TestMoveDuringRestartNotTaken(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	clk := newFakeClock()
	a, b := slotRelay(t, clk), slotRelay(t, clk)
	ana, ben := slotPair(t, clk, a, b)
	err := ana.e.v.Update(ctx, func(tx *vault.Tx) error {
		m, err := getMeta(tx, ana.chat)
		if err != nil {
			return err
		}
		m.Outdated = true
		return putMeta(tx, ana.chat, &m)
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := ben.e.MoveChat(ctx, ben.chat, 1, ""); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the ignored move", func() bool { return warned(ana, "while this chat's session restarts") == 1 }, ana, ben)
	if !noMoves(t, ana) {
		t.Fatal("a move taken while the session is out of date is pending")
	}
}

// TestLongRelayAddressRefused: a relay address longer than a HELLO or
// MOVE can carry is refused for a move or an invite before any mailbox is
// made.
func TestLongRelayAddressRefused(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	clk := newFakeClock()
	a, b := slotRelay(t, clk), slotRelay(t, clk)
	ana, _ := slotPair(t, clk, a, b)
	host := strings.Repeat(strings.Repeat("a", 60)+".", 5) + "example"
	long := "veil+ws://" + host + ":443#" + a.Address.Fingerprint.String()
	err := ana.e.MoveChat(ctx, ana.chat, 1, long)
	if err == nil || !strings.Contains(err.Error(), "at most 255 bytes") {
		t.Fatalf("move to a %d-byte address: %v", len(long), err)
	}
	if _, _, err := ana.e.Invite(ctx, InviteOptions{As: "ana", Relays: []string{a.Address.String(), long}}); err == nil || !strings.Contains(err.Error(), "at most 255 bytes") {
		t.Fatalf("invite to a %d-byte address: %v", len(long), err)
	}
	if !noMoves(t, ana) || tasksLeft(t, ana.e) != 0 {
		t.Fatal("a refused address left a mailbox behind")
	}
}

// TestFeaturesDroppedWarnsOnce: a peer that takes back the MOVE feature
// stops our rotation; the user is told once, however often it repeats.
func TestFeaturesDroppedWarnsOnce(t *testing.T) {
	t.Parallel()
	clk := newFakeClock()
	a, b := slotRelay(t, clk), slotRelay(t, clk)
	ana, ben := slotPair(t, clk, a, b)
	for range 2 {
		pt, err := (&format.Envelope{Type: format.EnvFeatures}).Marshal()
		if err != nil {
			t.Fatal(err)
		}
		queueRaw(t, ben, pt)
	}
	exchange(t, ana, ben, "after", 1)
	if n := warned(ana, "stop rotating"); n != 1 {
		t.Fatalf("warned %d times, want once", n)
	}
}
