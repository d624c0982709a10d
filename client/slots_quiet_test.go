package client

import (
	"context"
	"testing"
	"time"

	"veil/crypto"
	"veil/vault"
)

// retiredPerSlot counts p's retired mailboxes per slot, and all its
// mailboxes.
func retiredPerSlot(t *testing.T, p *slotPeer) (map[uint8]int, int) {
	t.Helper()
	ct := p.contact(t)
	out := map[uint8]int{}
	all := recvCaps(&ct)
	for _, rc := range all {
		if !rc.Retire.IsZero() {
			out[rc.Slot]++
		}
	}
	return out, len(all)
}

// heardOnSlot reports whether p heard the peer on its live mailbox of
// slot s.
func heardOnSlot(t *testing.T, p *slotPeer, s uint8) bool {
	ct := p.contact(t)
	for _, rc := range liveRecv(&ct) {
		if rc.Slot == s && !rc.Heard {
			return false
		}
	}
	return true
}

// TestQuietChatRetiresMailboxes: moves in a chat where nobody writes
// still delete the retired mailboxes: the peer's FEATURES after its
// MOVED is heard on the new mailbox. Rotation then leaves at most the
// live mailboxes and one retiring per slot, and messages still flow.
func TestQuietChatRetiresMailboxes(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	clk := newFakeClock()
	a, b := slotRelay(t, clk), slotRelay(t, clk)
	ana, ben := slotPair(t, clk, a, b)
	for i := range 3 {
		if err := ana.e.MoveChat(ctx, ana.chat, i%2, ""); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "the move", func() bool {
			return noMoves(t, ana, ben) && ana.outboxEmpty(t) && ben.outboxEmpty(t) && heardOnSlot(t, ana, uint8(i%2))
		}, ana, ben)
		clk.Add(peerMoveEvery + time.Minute)
	}
	clk.Add(30 * 24 * time.Hour)
	ana.e.rotateDue(ctx)
	ben.e.rotateDue(ctx)
	waitFor(t, "the rotations", func() bool {
		return noMoves(t, ana, ben) && ana.outboxEmpty(t) && ben.outboxEmpty(t) && tasksLeft(t, ana.e) == 0
	}, ana, ben)
	clk.Add(retireGrace + 2*drainQuiet)
	ana.e.rotateDue(ctx)
	ben.e.rotateDue(ctx)
	waitFor(t, "the deletions", func() bool {
		return noMoves(t, ana, ben) && tasksLeft(t, ana.e) == 0 && tasksLeft(t, ben.e) == 0
	}, ana, ben)
	for _, p := range []*slotPeer{ana, ben} {
		per, n := retiredPerSlot(t, p)
		if n > 4 || per[0] > 1 || per[1] > 1 {
			t.Fatalf("%d mailboxes, retired per slot %v; want the 2 live ones and at most one retiring per slot", n, per)
		}
	}
	exchange(t, ana, ben, "after", 3)
	exactlyOnce(t, ana, 3)
	exactlyOnce(t, ben, 3)
}

// TestRetiredNeverHeardGoesAtLast: a retired mailbox whose slot's new
// one never heard the peer blocks that slot's rotation and is kept,
// until retireGiveUp after its grace, when it is deleted.
func TestRetiredNeverHeardGoesAtLast(t *testing.T) {
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
	for _, it := range outboxItems(t, ana.e) {
		if !ben.e.receive(ctx, ben.chat, it.Payload) {
			t.Fatal("MOVE not acked")
		}
		if err := ana.e.sent(ctx, &it); err != nil {
			t.Fatal(err)
		}
	}
	// The MOVED reaches ana by hand; ben's FEATURES never does.
	for _, it := range outboxItems(t, ben.e) {
		if !ana.e.receive(ctx, ana.chat, it.Payload) {
			t.Fatal("MOVED not acked")
		}
	}
	if !noMoves(t, ana) {
		t.Fatal("ana did not take the MOVED")
	}
	clk.Add(retireGrace + 2*drainQuiet)
	ana.e.rotateDue(ctx)
	if !hasRecv(ana.contact(t), oldRecv) {
		t.Fatal("the old mailbox went before the peer was heard on the new one")
	}
	clk.Add(rotateEvery + rotateJitter)
	ana.e.rotateDue(ctx)
	ct := ana.contact(t)
	for _, rc := range recvCaps(&ct) {
		if rc.Offer != nil && rc.Slot == 0 {
			t.Fatal("slot 0 rotated with a retired mailbox still waiting")
		}
	}
	clk.Add(retireGiveUp)
	ana.e.rotateDue(ctx)
	if hasRecv(ana.contact(t), oldRecv) {
		t.Fatal("the retired mailbox outlived retireGiveUp")
	}
}

// TestReplayedCopyNotHeard: a copy of a message already received marks
// no mailbox heard; the first authenticated arrival does.
func TestReplayedCopyNotHeard(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	clk := newFakeClock()
	a, b := slotRelay(t, clk), slotRelay(t, clk)
	ana, ben := slotPair(t, clk, a, b)
	ana.stop()
	ben.stop()
	setHeard := func(v bool) {
		if err := ana.e.v.Update(ctx, func(tx *vault.Tx) error {
			ct, err := tx.Contact(ana.chat)
			if err != nil {
				return err
			}
			for _, rc := range liveRecv(&ct) {
				rc.Heard = v
			}
			return tx.PutContact(&ct)
		}); err != nil {
			t.Fatal(err)
		}
	}
	setHeard(false)
	ben.send(t, "hello")
	items := outboxItems(t, ben.e)
	if len(items) != 1 {
		t.Fatalf("%d items, want 1", len(items))
	}
	live := liveRecv(ptr(ana.contact(t)))
	rid0, rid1 := crypto.ID(live[0].RecvID), crypto.ID(live[1].RecvID)
	if !ana.e.receiveOn(ctx, ana.chat, rid0, items[0].Payload) || !ana.e.receiveOn(ctx, ana.chat, rid1, items[0].Payload) {
		t.Fatal("not acked")
	}
	live = liveRecv(ptr(ana.contact(t)))
	if !live[0].Heard || live[1].Heard {
		t.Fatalf("heard %v %v, want the first arrival only", live[0].Heard, live[1].Heard)
	}
}
