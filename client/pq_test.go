package client

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"veil/client/internal/format"
	"veil/ratchet"
	"veil/relay/relaytest"
	"veil/vault"
)

// Tests of the KEM ratchet in the client (spec/client.md §5.13, §13.3):
// in-band upgrade of a chat made before it, the reset downgrade refusal,
// and the status chat info reports.

// legacyState returns state b as a version without the KEM ratchet wrote
// it: a version 2 state is the version 1 layout (spec/session.md §10)
// followed by the KEM ratchet's section, which is cut off.
func legacyState(t *testing.T, b []byte) []byte {
	t.Helper()
	if b[0] == 0x01 {
		return b
	}
	n := 2 + 2*64 + 2*32 + 7*32 + 3*4 + 32 // version … initial-prefix hash
	if b[1]&0x40 != 0 {
		n += 1664
	}
	n += 1 + int(b[n])*(32+4)
	n += 2 + int(binary.BigEndian.Uint16(b[n:]))*(32+4+32+8)
	out := append([]byte{0x01}, b[1:n]...)
	s, err := ratchet.ParseSession(ratchet.Config{}, out)
	if err != nil {
		t.Fatalf("legacy state: %v", err)
	}
	if s.PQ().On {
		t.Fatal("a version 1 state runs the KEM ratchet")
	}
	return out
}

// chatSession reads the contact of e's chat and its stored session.
func chatSession(tx *vault.Tx, e *Engine, chat string) (vault.Contact, *ratchet.Session, error) {
	ct, err := tx.Contact(chat)
	if err != nil {
		return ct, nil, err
	}
	s, err := e.ratchetOf(&ct)
	return ct, s, err
}

// updateChat runs f on the stored session and metadata of e's chat and
// stores both.
func updateChat(t *testing.T, e *Engine, chat string, f func(s *ratchet.Session, m *chatMeta) []byte) {
	t.Helper()
	err := e.v.Update(context.Background(), func(tx *vault.Tx) error {
		ct, s, err := chatSession(tx, e, chat)
		if err != nil {
			return err
		}
		m, err := getMeta(tx, chat)
		if err != nil {
			return err
		}
		ct.Ratchet = f(s, &m)
		if err := tx.PutContact(&ct); err != nil {
			return err
		}
		return putMeta(tx, chat, &m)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// makeLegacy turns e's chat into one that a version without the KEM
// ratchet made and kept: its session is off and both sides announced
// MOVE and two slots only.
func makeLegacy(t *testing.T, e *Engine, chat string) {
	t.Helper()
	updateChat(t, e, chat, func(s *ratchet.Session, m *chatMeta) []byte {
		old := format.FeatureMove | format.FeatureTwoSlots
		m.SentFeatures, m.PeerFeatures = old, old
		return legacyState(t, s.Marshal())
	})
}

// pqOf returns the KEM ratchet status of e's session in chat.
func pqOf(t *testing.T, e *Engine, chat string) ratchet.PQStatus {
	t.Helper()
	var st ratchet.PQStatus
	err := e.v.View(context.Background(), func(tx *vault.Tx) error {
		_, s, err := chatSession(tx, e, chat)
		if err != nil {
			return err
		}
		defer s.Wipe()
		st = s.PQ()
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// TestLegacyChatUpgradesInBand: a chat made by versions without the KEM
// ratchet, once both sides run this one, announces FEATURES bit 2 both
// ways (the bits grew), turns its session on on both sides and completes
// epochs in an ordinary conversation through a real relay; chat info
// says so.
func TestLegacyChatUpgradesInBand(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	clk := newFakeClock()
	r := slotRelay(t, clk)
	ana, ben := &slotPeer{}, &slotPeer{}
	ana.e, ana.ev = clockEngine(t, r.Address.String(), clk)
	ben.e, ben.ev = clockEngine(t, r.Address.String(), clk)
	ana.chat, ben.chat = connectClocked(t, ana.e, ben.e, InviteOptions{As: "ana"})
	for _, p := range []*slotPeer{ana, ben} {
		makeLegacy(t, p.e, p.chat)
		info, err := p.e.Chat(ctx, p.chat)
		if err != nil {
			t.Fatal(err)
		}
		if info.PQ == nil || info.PQ.On || !info.PQ.PeerTooOld || info.PQ.String() != "post-quantum healing: off (peer's software too old)" {
			t.Fatalf("legacy chat info: %+v", info.PQ)
		}
	}
	for _, p := range []*slotPeer{ana, ben} {
		p.start(t)
	}
	exchange(t, ana, ben, "old", 2) // the legacy sessions work as they are
	ana.e.rotateDue(ctx)
	ben.e.rotateDue(ctx)
	waitFor(t, "both sessions on", func() bool {
		return pqOf(t, ana.e, ana.chat).On && pqOf(t, ben.e, ben.chat).On
	}, ana, ben)
	i := 0
	for ; pqOf(t, ana.e, ana.chat).Epochs < 1 || pqOf(t, ben.e, ben.chat).Epochs < 1; i++ {
		if i == 30 {
			t.Fatalf("no epoch after %d exchanges: ana %+v, ben %+v", i, pqOf(t, ana.e, ana.chat), pqOf(t, ben.e, ben.chat))
		}
		exchange(t, ana, ben, fmt.Sprintf("new%d", i), 1)
	}
	t.Logf("an epoch on both sides after %d exchanges: ana %+v, ben %+v", i, pqOf(t, ana.e, ana.chat), pqOf(t, ben.e, ben.chat))
	for _, p := range []*slotPeer{ana, ben} {
		m := chatMetaOf(t, p.e, p.chat)
		if m.SentFeatures != format.Features || m.PeerFeatures != format.Features {
			t.Errorf("features sent %b, peer's %b", m.SentFeatures, m.PeerFeatures)
		}
		info, err := p.e.Chat(ctx, p.chat)
		if err != nil {
			t.Fatal(err)
		}
		want := fmt.Sprintf("post-quantum healing: on, %d epochs", info.PQ.Epochs)
		if !info.PQ.On || info.PQ.Epochs < 1 || info.PQ.PeerTooOld || info.PQ.String() != want {
			t.Errorf("chat info: %+v %q", info.PQ, info.PQ.String())
		}
	}
	for _, p := range []*slotPeer{ana, ben} {
		for _, ev := range p.seen {
			if ev.Type == EventWarning {
				t.Errorf("warning during the upgrade: %+v", ev)
			}
		}
	}
}

// TestNewChatRunsKEMRatchet: a chat made by this version is on from its
// first message (version 0x02 bundle), completes epochs in a short
// conversation through a real relay, and reports it in chat info and its
// JSON ("pq": {"on", "epochs"}).
func TestNewChatRunsKEMRatchet(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r := relaytest.Start(t)
	a := startLive(t, r.Address.String(), nil)
	b := startLive(t, r.Address.String(), nil)
	aChat, bChat := liveChat(t, a, b, InviteOptions{As: "ana"}, JoinOptions{As: "ben"})
	for _, st := range []ratchet.PQStatus{pqOf(t, a.Engine, aChat), pqOf(t, b.Engine, bChat)} {
		if !st.On {
			t.Fatalf("a new chat's session is off: %+v", st)
		}
	}
	for i := 0; pqOf(t, a.Engine, aChat).Epochs < 2 || pqOf(t, b.Engine, bChat).Epochs < 2; i++ {
		if i == 20 {
			t.Fatalf("fewer than 2 epochs after %d round trips: %+v, %+v", i, pqOf(t, a.Engine, aChat), pqOf(t, b.Engine, bChat))
		}
		text := fmt.Sprintf("round %d", i)
		say(t, a, aChat, "a "+text)
		b.waitText(t, bChat, "a "+text)
		say(t, b, bChat, "b "+text)
		a.waitText(t, aChat, "b "+text)
	}
	info, err := a.Chat(ctx, aChat)
	if err != nil {
		t.Fatal(err)
	}
	j, err := json.Marshal(info)
	if err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf(`"pq":{"on":true,"epochs":%d}`, info.PQ.Epochs)
	if info.PQ.Epochs < 2 || !strings.Contains(string(j), want) {
		t.Fatalf("chat JSON %s, want %s", j, want)
	}
	if got := info.PQ.String(); got != fmt.Sprintf("post-quantum healing: on, %d epochs", info.PQ.Epochs) {
		t.Fatalf("chat info says %q", got)
	}
}
