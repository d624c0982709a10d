package client

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"filippo.io/age"

	"veil/crypto"
	"veil/ratchet"
	"veil/vault"
)

// Adversarial tests of the session reset (spec/session.md §13,
// spec/client.md §13): a relay that reorders, withholds and replays, and
// a holder of an identity key with a clock of its own.

// ourIdentity returns e's public identity key in chat.
func ourIdentity(t *testing.T, e *Engine, chat string) []byte {
	t.Helper()
	var b []byte
	err := e.v.View(context.Background(), func(tx *vault.Tx) error {
		ct, err := tx.Contact(chat)
		if err != nil {
			return err
		}
		id, err := ratchet.ParseIdentity(ct.OurIdentity)
		if err != nil {
			return err
		}
		defer id.Wipe()
		b = id.Public().Bytes()
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func chatMetaOf(t *testing.T, e *Engine, chat string) chatMeta {
	t.Helper()
	var m chatMeta
	err := e.v.View(context.Background(), func(tx *vault.Tx) error {
		var err error
		m, err = getMeta(tx, chat)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func backupBytes(t *testing.T, e *Engine) []byte {
	t.Helper()
	rcpt, err := age.NewScryptRecipient("backup passphrase")
	if err != nil {
		t.Fatal(err)
	}
	rcpt.SetWorkFactor(10)
	var buf bytes.Buffer
	if err := e.Backup(context.Background(), &buf, rcpt); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// restoreBytes restores backup b into a new profile and unlocks it with
// the clock now (the real clock when nil).
func restoreBytes(t *testing.T, b []byte, ev chan Event, now func() time.Time) *Engine {
	t.Helper()
	ctx := context.Background()
	id, _ := age.NewScryptIdentity("backup passphrase")
	cfg := Config{Dir: t.TempDir() + "/restored", Events: ev, Now: now,
		Vault: vault.Options{KDF: crypto.Argon2Params{Time: 1, MemKiB: 64, Threads: 1}, GCInterval: -1, MemTableSize: testMemTableSize}}
	if err := Restore(ctx, cfg, bytes.NewReader(b), []byte("test pin"), id); err != nil {
		t.Fatal(err)
	}
	r, err := Open(ctx, cfg, []byte("test pin"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

func mustMsgs(t *testing.T, e *Engine, chat string) []MessageInfo {
	t.Helper()
	ms, err := e.Messages(context.Background(), chat, 0)
	if err != nil {
		t.Fatal(err)
	}
	return ms
}

// dropOutbox forgets what e has queued, as if it had been sent and lost.
func dropOutbox(t *testing.T, e *Engine) {
	t.Helper()
	err := e.v.Update(context.Background(), func(tx *vault.Tx) error {
		items, err := tx.Outbox()
		for _, it := range items {
			if err := tx.DeleteOutbox(it.ID); err != nil {
				return err
			}
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

// pumpHoldingOffers is pump with a relay that holds back reset offers:
// they stay in from's outbox.
func pumpHoldingOffers(t *testing.T, from, to *Engine, chat string) {
	t.Helper()
	ctx := context.Background()
	var items []vault.OutboxItem
	err := from.v.View(ctx, func(tx *vault.Tx) error {
		var err error
		items, err = tx.Outbox()
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	for i := range items {
		if ratchet.IsReset(items[i].Payload) {
			continue
		}
		if !to.receive(ctx, chat, items[i].Payload) {
			t.Fatal("receive refused to ack")
		}
		if err := from.sent(ctx, &items[i]); err != nil {
			t.Fatal(err)
		}
	}
}

// chatWorks checks that a and b each read a message of the other, and
// that neither thinks itself out of date.
func chatWorks(t *testing.T, a, b *Engine, chat string) {
	t.Helper()
	ctx := context.Background()
	for _, p := range [][2]*Engine{{a, b}, {b, a}} {
		text := "check " + strings.Repeat("x", len(mustMsgs(t, p[0], chat))%7)
		if _, err := p[0].Send(ctx, chat, text, SendOptions{}); err != nil {
			t.Fatalf("send: %v", err)
		}
		for range 2 {
			pump(t, p[0], p[1], chat)
			pump(t, p[1], p[0], chat)
		}
		if got := lastText(t, p[1], chat); got != text {
			t.Fatalf("sent %q, the other side's last message is %q (%s)", text, got, fmtTexts(mustMsgs(t, p[1], chat)))
		}
	}
	if chatMetaOf(t, a, chat).Outdated || chatMetaOf(t, b, chat).Outdated {
		t.Fatal("a side of a working chat marked itself out of date")
	}
}

// TestResetLateOfferAfterTieIgnored: both sides restored; the relay gives
// the smaller key's side S the other side's answer before the other side's
// offer. S completes, then the late offer arrives: S must not answer it
// (spec/session.md §13.3 rule 1), and the chat keeps working.
func TestResetLateOfferAfterTieIgnored(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	ana0, ben0, chat := pair(t, nil, nil)
	pump(t, ben0, ana0, chat)
	pump(t, ana0, ben0, chat)
	ana, _ := restoredCopy(t, ana0, nil)
	ben, _ := restoredCopy(t, ben0, nil)
	S, L := ana, ben
	if bytes.Compare(ourIdentity(t, ana, chat), ourIdentity(t, ben, chat)) > 0 {
		S, L = ben, ana
	}
	offerS, offerL := outbox(t, S), outbox(t, L)
	for _, m := range offerS {
		L.receive(ctx, chat, m)
	}
	dropOutbox(t, S) // S's offer went out
	pumpHoldingOffers(t, L, S, chat)
	if chatMetaOf(t, S, chat).ResetKeys != nil {
		t.Fatal("S did not complete its reset")
	}
	before := contactState(t, S, chat)
	for _, m := range offerL {
		S.receive(ctx, chat, m)
	}
	if !bytes.Equal(contactState(t, S, chat), before) {
		t.Fatal("S answered an offer older than its own completed reset")
	}
	chatWorks(t, S, L, chat)
}

// TestResetReplayedOfferAfterOwnReset: ana restores a backup older than
// ben's earlier reset; after ana's own reset completes, the relay replays
// ben's old offer, which is newer than anything ana's backup saw. Ana must
// not answer it.
func TestResetReplayedOfferAfterOwnReset(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	ana, ben0, chat := pair(t, nil, nil)
	pump(t, ben0, ana, chat)
	pump(t, ana, ben0, chat)
	oldAna := backupBytes(t, ana)
	ben, _ := restoredCopy(t, ben0, nil)
	kept := outbox(t, ben) // the relay keeps a copy of ben's offer
	pump(t, ben, ana, chat)
	pump(t, ana, ben, chat)
	pump(t, ben, ana, chat)
	anaR := restoreBytes(t, oldAna, nil, nil)
	pump(t, anaR, ben, chat)
	pump(t, ben, anaR, chat)
	pump(t, anaR, ben, chat)
	if chatMetaOf(t, anaR, chat).ResetKeys != nil {
		t.Fatal("ana's reset did not complete")
	}
	before := contactState(t, anaR, chat)
	for _, m := range kept {
		anaR.receive(ctx, chat, m)
	}
	if !bytes.Equal(contactState(t, anaR, chat), before) {
		t.Fatal("ana answered a replayed offer older than her own completed reset")
	}
	chatWorks(t, anaR, ben, chat)
}

// TestResetLateOfferAnsweredFallsBack: the late offer of
// TestResetLateOfferAfterTieIgnored, from a side whose clock runs an hour
// ahead, so that it passes rule 1 and S answers it. L never takes that
// answer; its next message opens only on the session S set aside, while
// the answer's session has never been used: S goes back to it rather than
// tell L it is out of date (spec/client.md §13.5).
func TestResetLateOfferAnsweredFallsBack(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	x, y, chat := pair(t, nil, nil)
	pump(t, y, x, chat)
	pump(t, x, y, chat)
	if bytes.Compare(ourIdentity(t, x, chat), ourIdentity(t, y, chat)) > 0 {
		x, y = y, x
	}
	ahead := func() time.Time { return time.Now().Add(time.Hour) }
	S := restoreBytes(t, backupBytes(t, x), nil, nil)
	L := restoreBytes(t, backupBytes(t, y), nil, ahead)
	offerS, offerL := outbox(t, S), outbox(t, L)
	for _, m := range offerS {
		L.receive(ctx, chat, m)
	}
	dropOutbox(t, S)
	pumpHoldingOffers(t, L, S, chat)
	if chatMetaOf(t, S, chat).ResetKeys != nil {
		t.Fatal("S did not complete its reset")
	}
	pump(t, S, L, chat) // S's reply settles L's side of the tie
	if chatMetaOf(t, L, chat).ResetKeys != nil {
		t.Fatal("L did not settle the tie")
	}
	before := contactState(t, S, chat)
	for _, m := range offerL {
		S.receive(ctx, chat, m)
	}
	if bytes.Equal(contactState(t, S, chat), before) {
		t.Fatal("S refused the late offer: the test no longer covers the fall-back")
	}
	chatWorks(t, L, S, chat)
}

// TestResetReplayWhileOwnOfferOutstanding: ana restores a backup older
// than ben's earlier reset, and the relay replays ben's old offer before
// ana's own offer is answered. Whoever's key is smaller, ana's reset must
// still complete: a side that yields a tie keeps its own offer until the
// peer uses the answer (spec/session.md §13.3 rule 2).
func TestResetReplayWhileOwnOfferOutstanding(t *testing.T) {
	t.Parallel()
	for _, anaLarger := range []bool{true, false} {
		t.Run(map[bool]string{true: "restored side larger", false: "restored side smaller"}[anaLarger], func(t *testing.T) {
			ctx := context.Background()
			x, y, chat := pair(t, nil, nil)
			pump(t, y, x, chat)
			pump(t, x, y, chat)
			if bytes.Compare(ourIdentity(t, x, chat), ourIdentity(t, y, chat)) > 0 != anaLarger {
				x, y = y, x
			}
			ana, ben0 := x, y
			oldAna := backupBytes(t, ana)
			ben, _ := restoredCopy(t, ben0, nil)
			kept := outbox(t, ben)
			pump(t, ben, ana, chat)
			pump(t, ana, ben, chat)
			pump(t, ben, ana, chat)
			anaR := restoreBytes(t, oldAna, nil, nil)
			if _, err := anaR.Send(ctx, chat, "held by the copy", SendOptions{}); err != nil {
				t.Fatal(err)
			}
			for _, m := range kept {
				anaR.receive(ctx, chat, m)
			}
			for range 3 {
				pump(t, anaR, ben, chat)
				pump(t, ben, anaR, chat)
			}
			if chatMetaOf(t, anaR, chat).ResetKeys != nil {
				t.Fatal("ana's reset never completed")
			}
			if !strings.Contains(fmtTexts(mustMsgs(t, ben, chat)), "held by the copy") {
				t.Fatalf("ben never read ana's held message: %s", fmtTexts(mustMsgs(t, ben, chat)))
			}
			chatWorks(t, anaR, ben, chat)
		})
	}
}

// TestResetFutureOfferRefused: a holder of ana's identity key (a thief of
// her vault, or a copy whose clock is far ahead) sends an offer dated
// 2^62 ms. Ben refuses it, so ana's genuine restore later still goes
// through (spec/session.md §13.3 rule 1).
func TestResetFutureOfferRefused(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	evB := make(chan Event, 100)
	ana, ben, chat := pair(t, nil, evB)
	pump(t, ben, ana, chat)
	pump(t, ana, ben, chat)
	var self *ratchet.Identity
	var remote ratchet.IdentityPublic
	err := ana.v.View(ctx, func(tx *vault.Tx) error {
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
	rp, err := ratchet.NewReset(ratchet.Config{}, 1<<62, true)
	if err != nil {
		t.Fatal(err)
	}
	before := contactState(t, ben, chat)
	ben.receive(ctx, chat, rp.Message(self, remote))
	if !bytes.Equal(contactState(t, ben, chat), before) || chatMetaOf(t, ben, chat).PeerResetTime != 0 {
		t.Fatal("ben took an offer dated far in the future")
	}
	if evs := drainEvents(evB); !hasResetEvent(evs, EventWarning, "ahead of this device's clock") {
		t.Fatalf("ben's events: %+v", evs)
	}
	anaR, _ := restoredCopy(t, ana, nil)
	for range 3 {
		pump(t, anaR, ben, chat)
		pump(t, ben, anaR, chat)
	}
	if chatMetaOf(t, anaR, chat).ResetKeys != nil {
		t.Fatal("ana's genuine reset did not go through")
	}
}

// TestResetOfferResentAtUnlock: an offer the relay lost is sent again at
// the next unlock, the same bytes; one outstanding for 21 days is drawn
// anew and the chat says the restart is stuck (spec/client.md §13.2).
func TestResetOfferResentAtUnlock(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	ana, ben, chat := pair(t, nil, nil)
	pump(t, ben, ana, chat)
	pump(t, ana, ben, chat)
	copyA, cfg := restoredCopy(t, ana, nil)
	first := outbox(t, copyA)
	dropOutbox(t, copyA) // sent, and lost by the relay
	copyA.Close()
	copyA, err := Open(ctx, cfg, []byte("test pin"))
	if err != nil {
		t.Fatal(err)
	}
	again := outbox(t, copyA)
	if len(again) != 1 || !bytes.Equal(again[0], first[0]) {
		t.Fatal("the outstanding offer was not sent again, as the same bytes")
	}
	dropOutbox(t, copyA)
	copyA.Close()
	later := time.Now().Add(resetRedrawAfter + time.Hour)
	cfg.Now = func() time.Time { return later }
	copyA, err = Open(ctx, cfg, []byte("test pin"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { copyA.Close() })
	redrawn := outbox(t, copyA)
	if len(redrawn) != 1 || !ratchet.IsReset(redrawn[0]) || bytes.Equal(redrawn[0], first[0]) {
		t.Fatal("an offer outstanding for 21 days was not drawn anew")
	}
	if got := lastText(t, copyA, chat); !strings.Contains(got, "no answer") {
		t.Fatalf("the chat does not say the restart is stuck: %q", got)
	}
	ben.cfg.Now = cfg.Now
	pump(t, copyA, ben, chat)
	pump(t, ben, copyA, chat)
	if chatMetaOf(t, copyA, chat).ResetKeys != nil {
		t.Fatal("the redrawn offer did not complete")
	}
}

// TestOutdatedIgnoredWhileResetPending: the relay withholds the
// original's last message until the restored copy's offer is answered;
// that message then opens only on the session the reset replaced, and the
// relay delivers what the peer sends back before the answer. The restored
// copy must not end up marked out of date.
func TestOutdatedIgnoredWhileResetPending(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	ana, ben, chat := pair(t, nil, nil)
	pump(t, ben, ana, chat)
	pump(t, ana, ben, chat)
	b := backupBytes(t, ben)
	if _, err := ben.Send(ctx, chat, "last from the old device", SendOptions{}); err != nil {
		t.Fatal(err)
	}
	withheld := outbox(t, ben)
	copyB := restoreBytes(t, b, nil, nil)
	pump(t, copyB, ana, chat)
	for _, m := range withheld {
		ana.receive(ctx, chat, m)
	}
	var items []vault.OutboxItem
	err := ana.v.View(ctx, func(tx *vault.Tx) error {
		var err error
		items, err = tx.Outbox()
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	// Normal messages (0x01) first, then the answer (0x02).
	for _, typ := range []byte{0x01, 0x02} {
		for i := range items {
			if items[i].Payload[0] == typ {
				copyB.receive(ctx, chat, items[i].Payload)
				if err := ana.sent(ctx, &items[i]); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	if chatMetaOf(t, copyB, chat).Outdated {
		t.Fatal("the restored copy was marked out of date")
	}
	if _, err := copyB.Send(ctx, chat, "hi", SendOptions{}); err != nil {
		t.Fatalf("the restored copy cannot send: %v", err)
	}
	chatWorks(t, copyB, ana, chat)
}

// TestSupersededForgottenAfterTTL: the session a reset replaced is secret
// and kept 21 days only; after that a message that tries it, and the
// sweep, both drop it from the vault.
func TestSupersededForgottenAfterTTL(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	ana, ben, chat := pair(t, nil, nil)
	pump(t, ben, ana, chat)
	pump(t, ana, ben, chat)
	copyA, _ := restoredCopy(t, ana, nil)
	pump(t, copyA, ben, chat)
	pump(t, ben, copyA, chat)
	if chatMetaOf(t, ben, chat).Superseded == nil {
		t.Fatal("ben kept no superseded session")
	}
	later := time.Now().Add(supersededFor + 24*time.Hour)
	ben.cfg.Now = func() time.Time { return later }
	ben.receive(ctx, chat, bytes.Repeat([]byte{1}, 1024))
	if chatMetaOf(t, ben, chat).Superseded != nil {
		t.Fatal("the superseded session is still in the vault after 21 days")
	}

	// The sweep forgets it without any message.
	copyA2, _ := restoredCopy(t, copyA, nil)
	pump(t, copyA2, ben, chat)
	if chatMetaOf(t, ben, chat).Superseded == nil {
		t.Fatal("ben kept no superseded session")
	}
	evenLater := later.Add(supersededFor + 24*time.Hour)
	ben.cfg.Now = func() time.Time { return evenLater }
	if err := ben.Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	if chatMetaOf(t, ben, chat).Superseded != nil {
		t.Fatal("the sweep did not forget the superseded session")
	}
}

// TestResetRequeueKeepsEditsAndDeletes: what the answerer had queued on
// the session a reset replaced goes again on the new one as it stands
// now: a message deleted before it left is not sent at all (not as an
// empty text), and a pending edit of a delivered message is sent again
// (spec/client.md §13.3).
func TestResetRequeueKeepsEditsAndDeletes(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	ana, ben, chat := pair(t, nil, nil)
	pump(t, ben, ana, chat)
	pump(t, ana, ben, chat)
	copyA, _ := restoredCopy(t, ana, nil)
	typo, err := ben.Send(ctx, chat, "typo", SendOptions{})
	if err != nil {
		t.Fatal(err)
	}
	pump(t, ben, copyA, chat) // delivered to the copy's stale session
	oops, err := ben.Send(ctx, chat, "secret oops", SendOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := ben.Delete(ctx, chat, oops); err != nil {
		t.Fatal(err)
	}
	if err := ben.Edit(ctx, chat, typo, "fixed"); err != nil {
		t.Fatal(err)
	}
	pump(t, copyA, ben, chat) // the offer: ben re-seals his outbox
	pump(t, ben, copyA, chat)
	var texts []string
	for _, m := range mustMsgs(t, copyA, chat) {
		if m.Text == "" || m.Text == "secret oops" {
			t.Fatalf("the copy shows a deleted message as %q", m.Text)
		}
		texts = append(texts, m.Text)
	}
	got := strings.Join(texts, "|")
	if !strings.Contains(got, "fixed") || strings.Contains(got, "typo") {
		t.Fatalf("the pending edit was lost: %s", got)
	}
}

// TestResetOlderChatWarnsOnlyWhenSigned: in a chat made by an older veil
// (no identity private key kept), a 4096-byte message of type 0x03 from
// anyone must not make the client say that the contact restored veil;
// only an offer signed by the contact does.
func TestResetOlderChatWarnsOnlyWhenSigned(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	evB := make(chan Event, 100)
	ana, ben, chat := pair(t, nil, evB)
	pump(t, ben, ana, chat)
	pump(t, ana, ben, chat)
	err := ben.v.Update(ctx, func(tx *vault.Tx) error {
		ct, err := tx.Contact(chat)
		if err != nil {
			return err
		}
		ct.OurIdentity = nil // what an older veil kept
		return tx.PutContact(&ct)
	})
	if err != nil {
		t.Fatal(err)
	}
	forged := make([]byte, ratchet.ResetMessageSize)
	forged[0], forged[1] = 0x03, 0x01
	ben.receive(ctx, chat, forged)
	evs := drainEvents(evB)
	if hasResetEvent(evs, EventWarning, "restored veil") || !hasResetEvent(evs, EventWarning, "not signed by this contact") {
		t.Fatalf("an unsigned reset message: %+v", evs)
	}
	copyA, _ := restoredCopy(t, ana, nil)
	pump(t, copyA, ben, chat)
	if evs := drainEvents(evB); !hasResetEvent(evs, EventWarning, "older veil") {
		t.Fatalf("a signed offer in an older chat: %+v", evs)
	}
}
