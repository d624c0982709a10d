package client

import (
	"context"
	"errors"
	"testing"
	"time"

	"veil/client/internal/format"
	"veil/ratchet"
	"veil/vault"
)

// TestReactAndTimerRefusedWhileRestarting: while a restored copy waits for
// its session reset nothing is sealed on the stale session from the
// backup (spec/client.md §13.2): a reaction and a timer change are
// refused like an edit, and only the reset offer is queued.
func TestReactAndTimerRefusedWhileRestarting(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	ana, ben, chat := pair(t, nil, nil)
	pump(t, ben, ana, chat)
	pump(t, ana, ben, chat)
	if _, err := ben.Send(ctx, chat, "hi ana", SendOptions{}); err != nil {
		t.Fatal(err)
	}
	pump(t, ben, ana, chat)
	pump(t, ana, ben, chat)
	copyA, _ := restoredCopy(t, ana, make(chan Event, 100))
	ms, err := copyA.Messages(ctx, chat, 0)
	if err != nil || len(ms) == 0 {
		t.Fatalf("messages: %v %d", err, len(ms))
	}
	if err := copyA.React(ctx, chat, ms[len(ms)-1].ID, "👍"); !errors.Is(err, errRestarting) {
		t.Errorf("react while restarting: %v", err)
	}
	if err := copyA.SetTimer(ctx, chat, time.Hour); !errors.Is(err, errRestarting) {
		t.Errorf("timer while restarting: %v", err)
	}
	for i, p := range outbox(t, copyA) {
		if !ratchet.IsReset(p) {
			t.Errorf("outbox item %d was sealed on the stale session during the reset", i)
		}
	}
}

// TestReplyToReusedWireIDRefused: a peer that gives two of its messages
// one wire ID cannot make our reply to the second show, on both sides, a
// quote of the first: replying to (or reacting to) the second is refused,
// and a reply to the first quotes the first.
func TestReplyToReusedWireIDRefused(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	ana, ben, chat := pair(t, nil, nil)
	pump(t, ben, ana, chat)
	pump(t, ana, ben, chat)
	id, _ := ben.newID()
	w, _ := outgoingWireID(id)
	for _, text := range []string{"I agree to pay 1000", "I do NOT agree"} {
		err := ben.withSession(ctx, chat, func(tx *vault.Tx, s *txSession) error {
			return ben.queue(tx, s.sess, s.chat.ID, "", &format.Envelope{Type: format.EnvText, ID: w, Text: text})
		})
		if err != nil {
			t.Fatal(err)
		}
		pump(t, ben, ana, chat)
	}
	ms, _ := ana.Messages(ctx, chat, 0)
	byText := map[string]string{}
	for _, m := range ms {
		byText[m.Text] = m.ID
	}
	second, first := byText["I do NOT agree"], byText["I agree to pay 1000"]
	if second == "" || first == "" {
		t.Fatalf("messages %+v", ms)
	}
	if _, err := ana.Send(ctx, chat, "ok", SendOptions{Reply: second}); !errors.Is(err, errReusedWireID) {
		t.Fatalf("reply to the second: %v", err)
	}
	if err := ana.React(ctx, chat, second, "👍"); !errors.Is(err, errReusedWireID) {
		t.Fatalf("react to the second: %v", err)
	}
	if _, err := ana.Send(ctx, chat, "ok", SendOptions{Reply: first}); err != nil {
		t.Fatal(err)
	}
	ms, _ = ana.Messages(ctx, chat, 0)
	if last := ms[len(ms)-1]; last.Reply == nil || last.Reply.Text != "I agree to pay 1000" {
		t.Fatalf("the reply to the first quotes %+v", last.Reply)
	}
}
