package client

import (
	"context"
	"strings"
	"testing"
	"time"

	"veil/client/internal/format"
	"veil/crypto"
	"veil/ratchet"
	"veil/relay/wire"
	"veil/vault"
)

// Peers and relays that misbehave around two-relay chats and moves
// (spec/client.md §7.5, §7.6).

// queueRaw queues plaintext pt as p's next message, bypassing the
// envelope encoder, as a hostile client could.
func queueRaw(t *testing.T, p *slotPeer, pt []byte) {
	t.Helper()
	ctx := context.Background()
	err := p.e.withSession(ctx, p.chat, func(tx *vault.Tx, s *txSession) error {
		ct, err := s.sess.Encrypt(pt)
		if err != nil {
			return err
		}
		id, err := p.e.newID()
		if err != nil {
			return err
		}
		now := p.e.now()
		return tx.PutOutbox(&vault.OutboxItem{ID: id, ChatID: p.chat, Payload: ct, Created: now, NextTry: now})
	})
	if err != nil {
		t.Fatal(err)
	}
	p.e.kickOutbox()
}

// queueMove queues a MOVE from p offering sc under move ID id.
func queueMove(t *testing.T, p *slotPeer, id format.MoveID, sc format.SlotCap) {
	t.Helper()
	pt, err := (&format.Envelope{Type: format.EnvMove, Move: id, Slots: []format.SlotCap{sc}}).Marshal()
	if err != nil {
		t.Fatal(err)
	}
	queueRaw(t, p, pt)
}

func sendIDs(t *testing.T, p *slotPeer) map[uint8]string {
	t.Helper()
	ct := p.contact(t)
	out := map[uint8]string{}
	for _, rc := range sendSlots(&ct) {
		out[rc.Slot] = string(rc.SendID)
	}
	return out
}

func warned(p *slotPeer, text string) int {
	n := 0
	for _, ev := range p.seen {
		if ev.Type == EventWarning && strings.Contains(ev.Err, text) {
			n++
		}
	}
	return n
}

// TestPeerLiesAboutAMove: ben offers a mailbox secured by someone else,
// then one on a relay that does not answer. Ana's MOVED is refused (or,
// retried, never taken within the 21 days ben keeps an offer), so she
// keeps the old mailbox, says so, and the chat goes on.
func TestPeerLiesAboutAMove(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	clk := newFakeClock()
	a, b := slotRelay(t, clk), slotRelay(t, clk)
	ana, ben := slotPair(t, clk, a, b)
	before := sendIDs(t, ana)

	// Mallory's mailbox on relay A, secured with her capability.
	c, err := ben.e.pool.get(ctx, a.Address.String())
	if err != nil {
		t.Fatal(err)
	}
	mk, _ := crypto.GenerateSign(nil)
	_, sid, err := c.New(ctx, mk, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.SecureSender(ctx, sid, &[wire.CapSize]byte{9}); err != nil {
		t.Fatal(err)
	}
	queueMove(t, ben, format.MoveID{1}, format.SlotCap{Slot: 0, SID: sid, Cap: [wire.CapSize]byte{1}, Relay: a.Address.String()})
	waitFor(t, "the refused move", func() bool { return warned(ana, "new mailbox does not work") == 1 }, ana, ben)

	// A relay that is gone.
	gone := slotRelay(t, clk)
	gone.Stop()
	queueMove(t, ben, format.MoveID{2}, format.SlotCap{Slot: 1, SID: crypto.ID{7}, Cap: [wire.CapSize]byte{1}, Relay: gone.Address.String()})
	waitFor(t, "the pending move", func() bool { return !noMoves(t, ana) }, ana, ben)
	exchange(t, ana, ben, "meanwhile", 3)
	clk.Add(2 * SlotDownAfter)
	ana.e.Flush(ctx)
	if noMoves(t, ana) || warned(ana, "new mailbox does not work") != 1 {
		t.Fatal("a move whose relay fails for a while was given up")
	}
	clk.Add(offerGiveUp)
	waitFor(t, "the unreachable move", func() bool { return warned(ana, "new mailbox does not work") == 2 }, ana, ben)

	if got := sendIDs(t, ana); len(got) != 2 || got[0] != before[0] || got[1] != before[1] {
		t.Fatal("a refused move changed ana's mailboxes of ben")
	}
	if !noMoves(t, ana) {
		t.Fatal("a refused move stayed pending")
	}
	exchange(t, ana, ben, "after", 3)
	exactlyOnce(t, ana, 6)
	exactlyOnce(t, ben, 6)
}

// TestMoveFloodAndBadSlot: a second MOVE for a slot within the hour is
// ignored with a warning; a MOVE naming slot 7 is dropped as malformed;
// neither changes anything.
func TestMoveFloodAndBadSlot(t *testing.T) {
	t.Parallel()
	clk := newFakeClock()
	a, b := slotRelay(t, clk), slotRelay(t, clk)
	ana, ben := slotPair(t, clk, a, b)
	if err := ben.e.MoveChat(context.Background(), ben.chat, 1, ""); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the first move", func() bool { return noMoves(t, ana, ben) }, ana, ben)
	before := sendIDs(t, ana)
	queueMove(t, ben, format.MoveID{3}, format.SlotCap{Slot: 1, SID: crypto.ID{5}, Cap: [wire.CapSize]byte{1}, Relay: a.Address.String()})
	waitFor(t, "the ignored move", func() bool { return warned(ana, "within the hour") == 1 }, ana, ben)
	bad := append([]byte{1, format.EnvMove}, make([]byte, format.MoveIDSize)...)
	bad = append(bad, 7)
	bad = append(bad, make([]byte, 24+32)...)
	bad = append(bad, byte(len(a.Address.String())>>8), byte(len(a.Address.String())))
	bad = append(bad, a.Address.String()...)
	queueRaw(t, ben, bad)
	waitFor(t, "the malformed move", func() bool { return warned(ana, "malformed") == 1 }, ana, ben)
	if got := sendIDs(t, ana); got[0] != before[0] || got[1] != before[1] || !noMoves(t, ana) {
		t.Fatal("a flooded or malformed move changed ana's mailboxes of ben")
	}
	exchange(t, ana, ben, "after", 3)
	exactlyOnce(t, ana, 3)
}

// TestReplayedCopiesAreSilent: every ciphertext delivered again (a
// second relay's copy, a relay replaying after a move), even after more
// than ratchet.MaxRetiredChains steps, is dropped without a message, a
// warning or a change.
func TestReplayedCopiesAreSilent(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	evA, evB := make(chan Event, 1000), make(chan Event, 1000)
	ana, ben, chat := pair(t, evA, evB)
	var toAna, toBen [][]byte
	toAna = append(toAna, pump(t, ben, ana, chat)...)
	for i := range ratchet.MaxRetiredChains + 2 {
		if _, err := ana.Send(ctx, chat, "a"+string(rune('a'+i)), SendOptions{}); err != nil {
			t.Fatal(err)
		}
		toBen = append(toBen, pump(t, ana, ben, chat)...)
		if _, err := ben.Send(ctx, chat, "b"+string(rune('a'+i)), SendOptions{}); err != nil {
			t.Fatal(err)
		}
		toAna = append(toAna, pump(t, ben, ana, chat)...)
	}
	toBen = append(toBen, pump(t, ana, ben, chat)...)
	count := func(e *Engine) int {
		ms, err := e.Messages(ctx, chat, 0)
		if err != nil {
			t.Fatal(err)
		}
		return len(ms)
	}
	na, nb := count(ana), count(ben)
	drainEvents(evA)
	drainEvents(evB)
	for _, m := range toAna {
		if !ana.receive(ctx, chat, m) {
			t.Fatal("a replayed copy was not acked")
		}
	}
	for _, m := range toBen {
		if !ben.receive(ctx, chat, m) {
			t.Fatal("a replayed copy was not acked")
		}
	}
	if evs := append(drainEvents(evA), drainEvents(evB)...); len(evs) != 0 {
		t.Fatalf("replayed copies made events: %+v", evs)
	}
	if count(ana) != na || count(ben) != nb {
		t.Fatal("replayed copies changed the messages")
	}
}

// TestOneMailboxRefuses: ana's slot 1 mailbox disappears from its relay;
// ben's copies there are refused for good, he is warned once, and
// everything arrives through slot 0.
func TestOneMailboxRefuses(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	clk := newFakeClock()
	a, b := slotRelay(t, clk), slotRelay(t, clk)
	ana, ben := slotPair(t, clk, a, b)
	ct := ana.contact(t)
	rc := liveRecv(&ct)[1]
	c, err := ana.e.pool.get(ctx, rc.Address)
	if err != nil {
		t.Fatal(err)
	}
	k, _ := crypto.ParseSignPrivate(rc.RecvKey)
	if err := c.Delete(ctx, crypto.ID(rc.RecvID), k); err != nil {
		t.Fatal(err)
	}
	exchange(t, ana, ben, "one slot", 5)
	if n := warned(ben, "refuses messages for good"); n != 1 {
		t.Fatalf("ben warned %d times, want once", n)
	}
	// The relay's OK for the last copy can come after ana has it.
	waitFor(t, "copies for the refusing mailbox to leave the queue", func() bool { return ben.outboxEmpty(t) }, ana, ben)
	exactlyOnce(t, ana, 5)
}

// TestPeerMoveToLocalRelayRefused: a peer cannot point our client at an
// address inside our own network; a chat whose relays are all on this
// machine refuses a move to a private address, and nothing changes.
func TestPeerMoveToLocalRelayRefused(t *testing.T) {
	t.Parallel()
	clk := newFakeClock()
	a, b := slotRelay(t, clk), slotRelay(t, clk)
	ana, ben := slotPair(t, clk, a, b)
	before := sendIDs(t, ana)
	lan := "veil+ws://10.0.0.5:7070#" + a.Address.Fingerprint.String()
	queueMove(t, ben, format.MoveID{4}, format.SlotCap{Slot: 1, SID: crypto.ID{6}, Cap: [wire.CapSize]byte{1}, Relay: lan})
	waitFor(t, "the refused move", func() bool { return warned(ana, "only this network can reach") == 1 }, ana, ben)
	if !noMoves(t, ana) {
		t.Fatal("a move to a private address is pending")
	}
	if got := sendIDs(t, ana); len(got) != len(before) || got[0] != before[0] || got[1] != before[1] {
		t.Fatal("a refused move changed ana's mailboxes of ben")
	}
	// More such moves within the hour warn no more; after it, once again.
	for i := range 3 {
		queueMove(t, ben, format.MoveID{5, byte(i)}, format.SlotCap{Slot: 1, SID: crypto.ID{6}, Cap: [wire.CapSize]byte{1}, Relay: lan})
	}
	exchange(t, ana, ben, "after", 2)
	if n := warned(ana, "only this network can reach"); n != 1 {
		t.Fatalf("%d warnings for four refused moves within the hour, want 1", n)
	}
	clk.Add(peerMoveEvery + time.Minute)
	queueMove(t, ben, format.MoveID{6}, format.SlotCap{Slot: 1, SID: crypto.ID{6}, Cap: [wire.CapSize]byte{1}, Relay: lan})
	waitFor(t, "the next hour's warning", func() bool { return warned(ana, "only this network can reach") == 2 }, ana, ben)
	exactlyOnce(t, ana, 2)
}
