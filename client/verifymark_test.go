package client

import (
	"context"
	"slices"
	"testing"

	"veil/ratchet"
	"veil/vault"
)

// swapSession replaces the chat's session with s, as a re-handshake does.
func swapSession(t *testing.T, e *Engine, chat string, s []byte) {
	t.Helper()
	err := e.v.Update(context.Background(), func(tx *vault.Tx) error {
		ct, err := tx.Contact(chat)
		if err != nil {
			return err
		}
		ct.Ratchet = s
		return tx.PutContact(&ct)
	})
	if err != nil {
		t.Fatal(err)
	}
}

func sessionBytes(t *testing.T, e *Engine, chat string) []byte {
	t.Helper()
	var b []byte
	_ = e.v.View(context.Background(), func(tx *vault.Tx) error {
		ct, err := tx.Contact(chat)
		b = ct.Ratchet
		return err
	})
	return b
}

// TestVerifiedMarkSurvivesSameIdentity: marking holds across sweeps and
// across a new session between the same two identities.
func TestVerifiedMarkSurvivesSameIdentity(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	evA := make(chan Event, 100)
	ana, ben, chat := pair(t, evA, nil)
	pump(t, ben, ana, chat)
	if err := ana.MarkVerified(ctx, chat, true); err != nil {
		t.Fatal(err)
	}
	swapSession(t, ana, chat, sessionBytes(t, ana, chat)) // the same identities
	if err := ana.Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	info, err := ana.Chat(ctx, chat)
	if err != nil || !info.Verified || info.VerifyLost {
		t.Fatalf("chat: %+v, %v", info, err)
	}
	if slices.ContainsFunc(drainEvents(evA), func(e Event) bool { return e.Type == EventVerifyLost }) {
		t.Fatal("an alarm for an unchanged identity")
	}
	if err := ana.MarkVerified(ctx, chat, false); err != nil {
		t.Fatal(err)
	}
	if info, _ := ana.Chat(ctx, chat); info.Verified || info.VerifyLost {
		t.Fatalf("after unmark: %+v", info)
	}
}

// TestVerifiedMarkClearedOnNewIdentity: a peer whose identity key changes
// after the user compared the code loses the mark at once (ChatInfo), and
// the sweep clears it for good and raises the alarm exactly once.
func TestVerifiedMarkClearedOnNewIdentity(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	evA := make(chan Event, 100)
	ana, ben, chat := pair(t, evA, nil)
	pump(t, ben, ana, chat)
	if err := ana.MarkVerified(ctx, chat, true); err != nil {
		t.Fatal(err)
	}
	before, _ := ana.SafetyCode(ctx, chat)
	// An impostor's handshake: a session with another remote identity.
	bp, err := ratchet.NewBundle(ratchet.Config{})
	if err != nil {
		t.Fatal(err)
	}
	other, err := ratchet.Initiate(ratchet.Config{}, bp.Bundle())
	if err != nil {
		t.Fatal(err)
	}
	swapSession(t, ana, chat, other.Marshal())
	if after, _ := ana.SafetyCode(ctx, chat); after == before {
		t.Fatal("the impostor's session has the same safety code")
	}
	info, err := ana.Chat(ctx, chat)
	if err != nil || info.Verified || !info.VerifyLost {
		t.Fatalf("chat right after the change: %+v, %v", info, err)
	}
	for range 2 {
		if err := ana.Sweep(ctx); err != nil {
			t.Fatal(err)
		}
	}
	var alarms int
	for _, ev := range drainEvents(evA) {
		if ev.Type == EventVerifyLost && ev.Chat == chat && ev.Err != "" {
			alarms++
		}
	}
	if alarms != 1 {
		t.Fatalf("%d alarms, want 1", alarms)
	}
	info, _ = ana.Chat(ctx, chat)
	if info.Verified || !info.VerifyLost {
		t.Fatalf("chat after the sweep: %+v", info)
	}
	// Swapping the old identity back does not bring the mark back: the
	// stored hash is gone.
	var m chatMeta
	_ = ana.v.View(ctx, func(tx *vault.Tx) error { m, err = getMeta(tx, chat); return err })
	if len(m.Verified) != 0 {
		t.Fatal("the stored code hash survived the change")
	}
	// Comparing again and marking clears the alarm.
	if err := ana.MarkVerified(ctx, chat, true); err != nil {
		t.Fatal(err)
	}
	if info, _ := ana.Chat(ctx, chat); !info.Verified || info.VerifyLost {
		t.Fatalf("after marking again: %+v", info)
	}
}

// TestVerifiedMarkRefused: a pending invite (no peer yet) cannot be marked.
func TestVerifiedMarkRefused(t *testing.T) {
	t.Parallel()
	ana, _, chat := pair(t, nil, nil)
	if err := ana.MarkVerified(context.Background(), chat, true); err == nil {
		t.Fatal("marked a chat nobody joined")
	}
}
