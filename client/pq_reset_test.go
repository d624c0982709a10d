package client

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"veil/ratchet"
	"veil/vault"
)

// resetOffers returns a reset offer of ana's in chat, signed for ben,
// as version 2 (this version's) and as version 1 (a version without the
// KEM ratchet), with the same keys and time.
func resetOffers(t *testing.T, e *Engine, chat string, now int64) (v2, v1 []byte) {
	t.Helper()
	var self *ratchet.Identity
	var remote ratchet.IdentityPublic
	err := e.v.View(context.Background(), func(tx *vault.Tx) error {
		ct, err := tx.Contact(chat)
		if err != nil {
			return err
		}
		if self, err = ratchet.ParseIdentity(ct.OurIdentity); err != nil {
			return err
		}
		remote, err = ratchet.ParseIdentityPublic(ct.TheirIdentity)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	defer self.Wipe()
	rp, err := ratchet.NewReset(ratchet.Config{}, now, true)
	if err != nil {
		t.Fatal(err)
	}
	// A ResetPrivate built from its fields has version 1.
	old := &ratchet.ResetPrivate{ID: rp.ID, Time: rp.Time, Prekey: rp.Prekey, KEM: rp.KEM}
	return rp.Message(self, remote), old.Message(self, remote)
}

// TestResetDowngradeRefused: in a chat whose session runs the KEM ratchet
// a version 1 reset offer is refused with a warning and changes nothing
// (spec/client.md §13.3), while the same offer as version 2 is answered
// and the new session is on; in a chat whose session is off a version 1
// offer is still answered.
func TestResetDowngradeRefused(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	clk := newFakeClock()
	r := slotRelay(t, clk)
	ana, evA := clockEngine(t, r.Address.String(), clk)
	ben, evB := clockEngine(t, r.Address.String(), clk)
	anaChat, benChat := connectClocked(t, ana, ben, InviteOptions{As: "ana"})
	for _, side := range []struct {
		e    *Engine
		chat string
	}{{ana, anaChat}, {ben, benChat}} {
		updateChat(t, side.e, side.chat, func(s *ratchet.Session, _ *chatMeta) []byte {
			if err := s.EnablePQ(); err != nil {
				t.Fatal(err)
			}
			return s.Marshal()
		})
	}
	if !pqOf(t, ben, benChat).On {
		t.Fatal("ben's session is off")
	}
	drainEvents(evA)
	drainEvents(evB)
	v2, v1 := resetOffers(t, ana, anaChat, clk.Now().UnixMilli())
	before := contactState(t, ben, benChat)
	ben.receive(ctx, benChat, v1)
	if !bytes.Equal(contactState(t, ben, benChat), before) || chatMetaOf(t, ben, benChat).PeerResetTime != 0 {
		t.Fatal("ben took a version 1 offer in a chat with the KEM ratchet")
	}
	if evs := drainEvents(evB); !hasResetEvent(evs, EventWarning, "without post-quantum healing") || !hasResetEvent(evs, EventWarning, "update veil") {
		t.Fatalf("ben's events: %+v", evs)
	}
	ben.receive(ctx, benChat, v2)
	if bytes.Equal(contactState(t, ben, benChat), before) || chatMetaOf(t, ben, benChat).PeerResetTime == 0 {
		t.Fatal("ben did not answer the version 2 offer")
	}
	if st := pqOf(t, ben, benChat); !st.On || st.Epochs != 0 {
		t.Fatalf("the reset's session: %+v", st)
	}

	// Off: a version 1 offer is answered as before.
	ana2, _ := clockEngine(t, r.Address.String(), clk)
	ben2, evB2 := clockEngine(t, r.Address.String(), clk)
	anaChat2, benChat2 := connectClocked(t, ana2, ben2, InviteOptions{As: "ana"})
	makeLegacy(t, ana2, anaChat2)
	makeLegacy(t, ben2, benChat2)
	_, v1 = resetOffers(t, ana2, anaChat2, clk.Now().UnixMilli())
	ben2.receive(ctx, benChat2, v1)
	if chatMetaOf(t, ben2, benChat2).PeerResetTime == 0 {
		t.Fatalf("ben did not answer a version 1 offer in an off chat: %+v", drainEvents(evB2))
	}
	if st := pqOf(t, ben2, benChat2); st.On {
		t.Fatalf("a version 1 reset's session: %+v", st)
	}
	for _, ev := range drainEvents(evB2) {
		if ev.Type == EventWarning && strings.Contains(ev.Err, "post-quantum") {
			t.Fatalf("warning in an off chat: %+v", ev)
		}
	}
}
