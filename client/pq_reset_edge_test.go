package client

import (
	"context"
	"testing"
	"time"

	"veil/client/internal/format"
	"veil/ratchet"
)

// TestV1ResetReannouncesPQ: both sides run this version and have already
// announced FEATURES bit 2, but the restored copy's backup predates the
// peer's announcement (its peer_features lack bit 2) and the peer's
// session is still off (no block from us arrived before the device was
// lost). The copy offers version 0x01, the peer's off session takes it,
// and the new session is off. Per spec/client.md §13.2 such a session
// turns on through FEATURES: both sides drop bit 2 from sent_features as
// the reset completes, announce it again, and the session turns on.
func TestV1ResetReannouncesPQ(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	ana, ben, chat := pair(t, nil, nil)
	pump(t, ben, ana, chat)
	pump(t, ana, ben, chat)
	makeLegacy(t, ana, chat)
	makeLegacy(t, ben, chat)
	// ana announced bit 2 to ben's older veil, which kept it; ben then
	// updated and announced his, which ana's backup below never saw.
	updateChat(t, ana, chat, func(s *ratchet.Session, m *chatMeta) []byte {
		m.SentFeatures = format.Features
		return s.Marshal()
	})
	updateChat(t, ben, chat, func(s *ratchet.Session, m *chatMeta) []byte {
		m.SentFeatures, m.PeerFeatures = format.Features, format.Features
		return s.Marshal()
	})
	copyA, _ := restoredCopy(t, ana, nil)
	if got := pump(t, copyA, ben, chat); len(got) != 1 || got[0][1] != 0x01 {
		t.Fatalf("offer: %d items", len(got))
	}
	pump(t, ben, copyA, chat)
	if chatMetaOf(t, copyA, chat).ResetKeys != nil {
		t.Fatal("the reset did not complete")
	}
	for i := 0; i < 3; i++ {
		copyA.rotateDue(ctx)
		ben.rotateDue(ctx)
		for _, p := range [][2]*Engine{{copyA, ben}, {ben, copyA}} {
			if _, err := p[0].Send(ctx, chat, "hi", SendOptions{}); err != nil {
				t.Fatal(err)
			}
			pump(t, p[0], p[1], chat)
			pump(t, p[1], p[0], chat)
		}
	}
	if a, b := pqOf(t, copyA, chat), pqOf(t, ben, chat); !a.On || !b.On {
		info, _ := copyA.Chat(ctx, chat)
		t.Fatalf("after a version 0x01 reset between two clients that speak the KEM ratchet: the copy %+v, ben %+v (copy's chat info %q)", a, b, info.PQ)
	}
}

// TestBothRestoredV1OfferCompletes: both sides restored from backups, the
// one with the smaller identity key from a backup taken before the chat
// turned the KEM ratchet on, the other after. The smaller key's offer
// (version 0x01) wins the tie (spec/session.md §13.3), so its owner
// ignores the other offer; the larger key's side, whose current session
// is only the stale one of its own backup, must not refuse the winning
// offer as a downgrade, or neither reset completes until the 21-day
// redraw.
func TestBothRestoredV1OfferCompletes(t *testing.T) {
	t.Parallel()
	ana, ben, chat := pair(t, nil, nil)
	pump(t, ben, ana, chat)
	pump(t, ana, ben, chat)
	makeLegacy(t, ana, chat)
	makeLegacy(t, ben, chat)
	low, high := ana, ben
	var lk, hk []byte
	updateChat(t, ana, chat, func(s *ratchet.Session, _ *chatMeta) []byte {
		lk = s.Local().Bytes()
		return s.Marshal()
	})
	updateChat(t, ben, chat, func(s *ratchet.Session, _ *chatMeta) []byte {
		hk = s.Local().Bytes()
		return s.Marshal()
	})
	if string(lk) > string(hk) {
		low, high = ben, ana
	}
	lowBackup := backupBytes(t, low)
	updateChat(t, high, chat, func(s *ratchet.Session, m *chatMeta) []byte {
		m.SentFeatures, m.PeerFeatures = format.Features, format.Features
		if err := s.EnablePQ(); err != nil {
			t.Fatal(err)
		}
		return s.Marshal()
	})
	highBackup := backupBytes(t, high)
	cl := restoreBytes(t, lowBackup, nil, time.Now)
	ch := restoreBytes(t, highBackup, nil, time.Now)
	if o := outbox(t, cl); len(o) != 1 || o[0][1] != 0x01 {
		t.Fatalf("smaller key's offer: %d items", len(o))
	}
	if o := outbox(t, ch); len(o) != 1 || o[0][1] != 0x02 {
		t.Fatalf("larger key's offer: %d items", len(o))
	}
	for i := 0; i < 3; i++ {
		pump(t, cl, ch, chat)
		pump(t, ch, cl, chat)
	}
	if chatMetaOf(t, cl, chat).ResetKeys != nil && chatMetaOf(t, ch, chat).ResetKeys != nil {
		t.Fatal("both copies restored: neither reset completes (the winning version 0x01 offer is refused as a downgrade by a side whose own session is a stale backup)")
	}
}
