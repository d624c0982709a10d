package client

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"veil/ratchet"
)

// restoreOfferVersion runs a chat between ana and ben through a real
// relay, legacy (sessions off, neither side announced FEATURES bit 2, as
// two versions from before the KEM ratchet) or not, restores a backup of
// ana and lets the restored copy restart the chat with ben. It returns
// the version byte of the copy's reset offer and the KEM ratchet status
// of the copy's and ben's sessions once the reset completed, after
// checking that it completed without a warning and that the chat works
// both ways.
func restoreOfferVersion(t *testing.T, legacy bool) (v byte, cp, ben *slotPeer, st [2]ratchet.PQStatus) {
	t.Helper()
	clk := newFakeClock()
	r := slotRelay(t, clk)
	ana := &slotPeer{}
	ben = &slotPeer{}
	ana.e, ana.ev = clockEngine(t, r.Address.String(), clk)
	ben.e, ben.ev = clockEngine(t, r.Address.String(), clk)
	ana.chat, ben.chat = connectClocked(t, ana.e, ben.e, InviteOptions{As: "ana"})
	if legacy {
		makeLegacy(t, ana.e, ana.chat)
		makeLegacy(t, ben.e, ben.chat)
	}
	if on := pqOf(t, ana.e, ana.chat).On; on == legacy {
		t.Fatalf("ana's session on: %v", on)
	}

	cp = &slotPeer{chat: ana.chat, ev: make(chan Event, 256)}
	cp.e = restoreBytes(t, backupBytes(t, ana.e), cp.ev, clk.Now)
	var offer []byte
	for _, p := range outbox(t, cp.e) {
		if ratchet.IsReset(p) {
			offer = p
		}
	}
	if offer == nil {
		t.Fatal("the restored copy queued no reset offer")
	}
	cp.start(t)
	ben.start(t)
	waitFor(t, "the reset", func() bool {
		return chatMetaOf(t, cp.e, cp.chat).ResetKeys == nil
	}, cp, ben)
	st = [2]ratchet.PQStatus{pqOf(t, cp.e, cp.chat), pqOf(t, ben.e, ben.chat)}
	for _, p := range []*slotPeer{cp, ben} {
		for _, ev := range p.seen {
			if ev.Type == EventWarning {
				t.Errorf("warning during the reset: %+v", ev)
			}
		}
	}
	if !hasResetEvent(ben.seen, EventSessionReset, "ana restored veil from a backup") {
		t.Errorf("ben's events: %+v", ben.seen)
	}
	exchange(t, cp, ben, "after", 2)
	return offer[1], cp, ben, st
}

// TestRestoredLegacyChatOffersVersion1: a restored copy offers a chat
// whose session was off, with a peer that never announced the KEM
// ratchet, a reset of version 0x01, the only one a veil from before the
// KEM ratchet takes (spec/client.md §13.2); the reset completes, the new
// sessions are off, the chat works, and it upgrades in band through
// FEATURES as any legacy chat (spec/client.md §5.13).
func TestRestoredLegacyChatOffersVersion1(t *testing.T) {
	t.Parallel()
	v, cp, ben, st := restoreOfferVersion(t, true)
	if v != 0x01 {
		t.Fatalf("offer version %#x in a legacy chat, want 0x01", v)
	}
	if st[0].On || st[1].On {
		t.Fatalf("after a version 0x01 reset: the copy %+v, ben %+v", st[0], st[1])
	}
	cp.e.rotateDue(context.Background())
	ben.e.rotateDue(context.Background())
	waitFor(t, "both sessions on", func() bool {
		return pqOf(t, cp.e, cp.chat).On && pqOf(t, ben.e, ben.chat).On
	}, cp, ben)
	exchange(t, cp, ben, "upgraded", 1)
}

// TestRestoredPQChatOffersVersion2: a restored copy offers a chat whose
// session was on a reset of version 0x02, whose sessions are on.
func TestRestoredPQChatOffersVersion2(t *testing.T) {
	t.Parallel()
	v, _, _, st := restoreOfferVersion(t, false)
	if v != 0x02 {
		t.Fatalf("offer version %#x in a chat with the KEM ratchet, want 0x02", v)
	}
	if !st[0].On || !st[1].On {
		t.Fatalf("after a version 0x02 reset: the copy %+v, ben %+v", st[0], st[1])
	}
}

// TestResetRedrawVersion: an offer outstanding for 21 days is drawn anew
// (spec/client.md §13.2): as version 0x02 again in a chat whose session
// was on; in a chat whose session was off, with the other version each
// time, since the peer may have turned the KEM ratchet on after the
// backup and refuse 0x01 as a downgrade, or may run a veil from before it
// and drop 0x02.
func TestResetRedrawVersion(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		legacy   bool // the chat before the backup
		versions []byte
	}{
		{"legacy", true, []byte{0x01, 0x02, 0x01}},
		{"on", false, []byte{0x02, 0x02, 0x02}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			ana, ben, chat := pair(t, nil, nil)
			pump(t, ben, ana, chat)
			pump(t, ana, ben, chat)
			if tc.legacy {
				makeLegacy(t, ana, chat)
			}
			copyA, cfg := restoredCopy(t, ana, nil)
			last := outbox(t, copyA)
			if len(last) != 1 || last[0][1] != tc.versions[0] {
				t.Fatalf("first offer: %d items, version %#x, want %#x", len(last), last[0][1], tc.versions[0])
			}
			later := time.Now()
			for i, want := range tc.versions[1:] {
				dropOutbox(t, copyA)
				copyA.Close()
				later = later.Add(resetRedrawAfter + time.Hour)
				at := later
				cfg.Now = func() time.Time { return at }
				var err error
				if copyA, err = Open(ctx, cfg, []byte("test pin")); err != nil {
					t.Fatal(err)
				}
				redrawn := outbox(t, copyA)
				if len(redrawn) != 1 || bytes.Equal(redrawn[0], last[0]) || redrawn[0][1] != want {
					t.Fatalf("redraw %d: %d items, version %#x, want a new offer of %#x", i+1, len(redrawn), redrawn[0][1], want)
				}
				last = redrawn
			}
			copyA.Close()
		})
	}
}

// TestResetPeerUpgradedAfterBackup: the backup holds a chat whose session
// was off; the peer turned the KEM ratchet on after it. The restored
// copy's offer of version 0x01 is refused as a downgrade; 21 days later
// the offer drawn anew is of version 0x02, which the peer answers, and
// the chat works again with the KEM ratchet on.
func TestResetPeerUpgradedAfterBackup(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	evB := make(chan Event, 100)
	ana, ben, chat := pair(t, nil, evB)
	pump(t, ben, ana, chat)
	pump(t, ana, ben, chat)
	makeLegacy(t, ana, chat)
	makeLegacy(t, ben, chat)
	copyA, cfg := restoredCopy(t, ana, nil)
	updateChat(t, ben, chat, func(s *ratchet.Session, _ *chatMeta) []byte {
		if err := s.EnablePQ(); err != nil {
			t.Fatal(err)
		}
		return s.Marshal()
	})
	drainEvents(evB)
	if got := pump(t, copyA, ben, chat); len(got) != 1 || got[0][1] != 0x01 {
		t.Fatalf("first offer: %d items", len(got))
	}
	if evs := drainEvents(evB); !hasResetEvent(evs, EventWarning, "without post-quantum healing") {
		t.Fatalf("ben's events: %+v", evs)
	}
	copyA.Close()
	later := time.Now().Add(resetRedrawAfter + time.Hour)
	cfg.Now = func() time.Time { return later }
	copyA, err := Open(ctx, cfg, []byte("test pin"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { copyA.Close() })
	ben.cfg.Now = cfg.Now
	if got := pump(t, copyA, ben, chat); len(got) != 1 || got[0][1] != 0x02 {
		t.Fatalf("redrawn offer: %d items", len(got))
	}
	pump(t, ben, copyA, chat)
	if chatMetaOf(t, copyA, chat).ResetKeys != nil {
		t.Fatal("the offer of version 0x02 did not complete")
	}
	if !pqOf(t, copyA, chat).On || !pqOf(t, ben, chat).On {
		t.Fatalf("after the reset: the copy %+v, ben %+v", pqOf(t, copyA, chat), pqOf(t, ben, chat))
	}
	// Both clocks stand still at the redraw: look the texts up rather than
	// take the last one.
	for i, p := range [][2]*Engine{{copyA, ben}, {ben, copyA}} {
		text := fmt.Sprint("after the restart ", i)
		if _, err := p[0].Send(ctx, chat, text, SendOptions{}); err != nil {
			t.Fatal(err)
		}
		pump(t, p[0], p[1], chat)
		pump(t, p[1], p[0], chat)
		if got := fmtTexts(mustMsgs(t, p[1], chat)); !strings.Contains(got, text) {
			t.Fatalf("the other side's messages: %s", got)
		}
	}
}
