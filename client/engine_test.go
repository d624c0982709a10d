package client

import (
	"context"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
	"time"

	"veil/client/internal/format"
	"veil/crypto"
	"veil/ratchet"
	"veil/relay/wire"
	"veil/vault"
)

// These tests drive two real engines (real vaults in t.TempDir()) through
// the receive and outbox logic without a network: ciphertexts are taken
// from one engine's outbox and handed to the other's receive, exactly as
// a relay would deliver them. The network paths are covered end to end by
// cmd/veil's tests.

const testRelayAddr = "veil+ws://127.0.0.1:1#AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"

// testMemTableSize is the Badger memtable of the tests' vaults, as in the
// vault package's own tests: the default (16 MiB) is allocated and
// cleared at every open, which under the race detector costs more CPU than
// most of these tests' work. A profile reopened in a test uses the same
// Config, so the size never grows between opens (vault.Options).
const testMemTableSize = 4 << 20

func testEngine(t testing.TB, events chan Event) *Engine {
	t.Helper()
	cfg := Config{Dir: t.TempDir(), Events: events,
		Vault: vault.Options{KDF: crypto.Argon2Params{Time: 1, MemKiB: 64, Threads: 1}, GCInterval: -1, MemTableSize: testMemTableSize}}
	e, err := Create(context.Background(), cfg, []byte("test pin"), CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	if err := e.Setup(context.Background(), testRelayAddr); err != nil {
		t.Fatal(err)
	}
	return e
}

// pair sets up what Invite and Join would leave behind, minus the relay:
// ana has a pending invite, ben has joined and queued his HELLO.
func pair(t testing.TB, evA, evB chan Event) (ana, ben *Engine, chat string) {
	t.Helper()
	ctx := context.Background()
	ana, ben = testEngine(t, evA), testEngine(t, evB)
	chat = "c0ffee000001" // the same ID on both sides, for brevity
	bp, err := ratchet.NewBundle(ratchet.Config{})
	if err != nil {
		t.Fatal(err)
	}
	k := func() []byte { s, _ := crypto.GenerateSign(nil); return s.Seed() }
	var ridA, ridB, sidA crypto.ID
	ridA[0], ridB[0], sidA[0] = 1, 2, 3
	now := time.Now()
	err = ana.v.Update(ctx, func(tx *vault.Tx) error {
		if err := tx.PutContact(&vault.Contact{ID: chat, OurIdentity: bp.Marshal(),
			Relays: []vault.RelayCap{{Address: testRelayAddr, RecvID: ridA[:], RecvKey: k()}}}); err != nil {
			return err
		}
		if err := tx.PutChat(&vault.Chat{ID: chat, Kind: vault.ChatDirect, Name: "ben", ContactID: chat, Created: now}); err != nil {
			return err
		}
		return putMeta(tx, chat, &chatMeta{Pending: true, InviteUntil: now.Add(time.Hour)})
	})
	if err != nil {
		t.Fatal(err)
	}
	sess, benID, err := ratchet.InitiateKeep(ratchet.Config{}, bp.Bundle())
	if err != nil {
		t.Fatal(err)
	}
	helloID, _ := ben.newID()
	w, _ := outgoingWireID(helloID)
	env := &format.Envelope{Type: format.EnvHello, ID: w, SID: crypto.ID{4}, Cap: [wire.CapSize]byte{5}, Relay: testRelayAddr, Nick: "ben"}
	err = ben.v.Update(ctx, func(tx *vault.Tx) error {
		if err := ben.queue(tx, sess, chat, "", env); err != nil {
			return err
		}
		if err := tx.PutContact(&vault.Contact{ID: chat, Nickname: "ana", Ratchet: sess.Marshal(),
			OurIdentity: benID.Marshal(), TheirIdentity: bp.Identity.Public().Bytes(), Relays: []vault.RelayCap{
				{Address: testRelayAddr, RecvID: ridB[:], RecvKey: k()},
				{Address: testRelayAddr, SendID: sidA[:], SendCred: make([]byte, 32)}}}); err != nil {
			return err
		}
		return tx.PutChat(&vault.Chat{ID: chat, Kind: vault.ChatDirect, Name: "ana", ContactID: chat, Created: now})
	})
	if err != nil {
		t.Fatal(err)
	}
	return ana, ben, chat
}

// pump moves every queued ciphertext from one engine to the other, as
// the relay would, and returns them.
func pump(t testing.TB, from, to *Engine, chat string) [][]byte {
	t.Helper()
	ctx := context.Background()
	var items []vault.OutboxItem
	if err := from.v.View(ctx, func(tx *vault.Tx) error {
		var err error
		items, err = tx.Outbox()
		return err
	}); err != nil {
		t.Fatal(err)
	}
	var out [][]byte
	for i := range items {
		if !to.receive(ctx, chat, items[i].Payload) {
			t.Fatal("receive refused to ack")
		}
		if err := from.sent(ctx, &items[i]); err != nil {
			t.Fatal(err)
		}
		out = append(out, items[i].Payload)
	}
	return out
}

func drainEvents(ch chan Event) []Event {
	var evs []Event
	for {
		select {
		case ev := <-ch:
			evs = append(evs, ev)
		default:
			return evs
		}
	}
}

func TestEngineConversation(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	evA, evB := make(chan Event, 100), make(chan Event, 100)
	ana, ben, chat := pair(t, evA, evB)
	pump(t, ben, ana, chat)
	if evs := drainEvents(evA); len(evs) != 1 || evs[0].Type != EventContactJoined || evs[0].From != "ben" {
		t.Fatalf("ana's events: %+v", evs)
	}
	pump(t, ana, ben, chat) // the receipt for the HELLO

	id, err := ben.Send(ctx, "ana", "hello \x1b[2Jana", SendOptions{})
	if err != nil {
		t.Fatal(err)
	}
	msgs := pump(t, ben, ana, chat)
	if len(msgs) != 1 {
		t.Fatalf("%d messages queued, want 1", len(msgs))
	}
	// A duplicate (a SEND repeated after a lost reply, or a redelivery
	// after a lost ACK) is acked and dropped.
	if !ana.receive(ctx, chat, msgs[0]) {
		t.Fatal("duplicate not acked")
	}
	// Garbage that does not authenticate is acked and dropped too.
	bad := make([]byte, len(msgs[0]))
	copy(bad, msgs[0][:1]) // the type byte of a normal message, then zeros
	if !ana.receive(ctx, chat, bad) {
		t.Fatal("garbage not acked")
	}
	ms, err := ana.Messages(ctx, "ben", 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) != 1 || ms[0].Text != "hello ana" || ms[0].From != "ben" || !ms[0].Unread {
		t.Fatalf("ana's messages: %+v", ms)
	}
	evs := drainEvents(evA)
	if len(evs) < 2 || evs[0].Type != EventMessage || evs[0].Text != "hello ana" || evs[len(evs)-1].Type != EventWarning {
		t.Fatalf("ana's events: %+v", evs)
	}

	// Ana's delivery receipt reaches Ben.
	pump(t, ana, ben, chat)
	bm, _ := ben.Messages(ctx, "ana", 0)
	if len(bm) != 1 || bm[0].ID != id || bm[0].Status != "delivered" {
		t.Fatalf("ben's message: %+v", bm)
	}

	// Read receipts are off by default; on, reading sends one.
	if err := ana.MarkRead(ctx, "ben"); err != nil {
		t.Fatal(err)
	}
	if n := len(pump(t, ana, ben, chat)); n != 0 {
		t.Fatalf("%d read receipts sent while off", n)
	}
	if _, err := ben.Send(ctx, "ana", "second", SendOptions{}); err != nil {
		t.Fatal(err)
	}
	pump(t, ben, ana, chat)
	pump(t, ana, ben, chat)
	if err := ana.SetReadReceipts(ctx, "ben", true); err != nil {
		t.Fatal(err)
	}
	if err := ana.MarkRead(ctx, "ben"); err != nil {
		t.Fatal(err)
	}
	pump(t, ana, ben, chat)
	bm, _ = ben.Messages(ctx, "ana", 0)
	if bm[1].Status != "read" || bm[0].Status != "delivered" {
		t.Fatalf("statuses %s, %s; want delivered, read", bm[0].Status, bm[1].Status)
	}

	// Safety codes agree.
	ca, err := ana.SafetyCode(ctx, chat)
	if err != nil {
		t.Fatal(err)
	}
	if cb, _ := ben.SafetyCode(ctx, chat); ca != cb {
		t.Fatal("safety codes differ")
	}
}

func TestEngineControlMessages(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	evA, evB := make(chan Event, 100), make(chan Event, 100)
	ana, ben, chat := pair(t, evA, evB)
	pump(t, ben, ana, chat)
	pump(t, ana, ben, chat)
	anaID, _ := ana.Send(ctx, chat, "ana's own", SendOptions{})
	pump(t, ana, ben, chat)
	pump(t, ben, ana, chat)

	// A peer cannot delete or edit our messages: DELETE naming Ana's own
	// message changes nothing on Ana's side.
	w, _ := outgoingWireID(anaID)
	err := ben.withSession(ctx, chat, func(tx *vault.Tx, s *txSession) error {
		if err := ben.queue(tx, s.sess, chat, "", &format.Envelope{Type: format.EnvDelete, ID: w}); err != nil {
			return err
		}
		return ben.queue(tx, s.sess, chat, "", &format.Envelope{Type: format.EnvEdit, ID: w, Text: "forged"})
	})
	if err != nil {
		t.Fatal(err)
	}
	pump(t, ben, ana, chat)
	ms, _ := ana.Messages(ctx, chat, 0)
	if len(ms) != 1 || ms[0].Text != "ana's own" || ms[0].Deleted || ms[0].Edited {
		t.Fatalf("peer changed our message: %+v", ms)
	}

	// Ben edits and deletes his own.
	id, _ := ben.Send(ctx, chat, "first", SendOptions{})
	if err := ben.Edit(ctx, chat, id, "edited"); err != nil {
		t.Fatal(err)
	}
	pump(t, ben, ana, chat)
	ms, _ = ana.Messages(ctx, chat, 0)
	if ms[1].Text != "edited" || !ms[1].Edited || !strings.HasSuffix(ms[1].ID, "-"+id) {
		t.Fatalf("edit: %+v", ms[1])
	}
	if err := ben.Delete(ctx, chat, id); err != nil {
		t.Fatal(err)
	}
	pump(t, ben, ana, chat)
	ms, _ = ana.Messages(ctx, chat, 0)
	if !ms[1].Deleted || ms[1].Text != "" {
		t.Fatalf("delete: %+v", ms[1])
	}
	if err := ben.Edit(ctx, chat, id, "again"); !errors.Is(err, ErrNoMessage) {
		t.Fatalf("editing a deleted message: %v", err)
	}
	if err := ben.Delete(ctx, chat, hex.EncodeToString(make([]byte, 16))); !errors.Is(err, ErrNoMessage) {
		t.Fatalf("deleting a missing message: %v", err)
	}

	// Burn: Ben's side is gone at once, Ana's on receipt.
	if err := ben.Burn(ctx, chat); err != nil {
		t.Fatal(err)
	}
	if cs, _ := ben.Chats(ctx); len(cs) != 0 {
		t.Fatalf("ben still has %d chats", len(cs))
	}
	var tasks []task
	_ = ben.v.View(ctx, func(tx *vault.Tx) error { tasks, err = getTasks(tx); return err })
	if len(tasks) != 2 || tasks[0].Kind != "send" || tasks[1].Kind != "del" {
		t.Fatalf("burn tasks: %+v", tasks)
	}
	if !ana.receive(ctx, chat, tasks[0].Payload) {
		t.Fatal("burn not acked")
	}
	if cs, _ := ana.Chats(ctx); len(cs) != 0 {
		t.Fatalf("ana still has %d chats", len(cs))
	}
	if _, err := ana.Messages(ctx, chat, 0); !errors.Is(err, ErrNoChat) {
		t.Fatalf("messages of a burned chat: %v", err)
	}
	// A message for a burned chat is acked and dropped.
	if !ana.receive(ctx, chat, tasks[0].Payload) {
		t.Fatal("message for a burned chat not acked")
	}
}

func TestEngineRejectsBadInput(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	ana, ben, chat := pair(t, nil, nil)
	// A pending invite ignores anything but a valid initial message.
	if !ana.receive(ctx, chat, make([]byte, 1024)) {
		t.Fatal("garbage for a pending invite not acked")
	}
	if cs, _ := ana.Chats(ctx); len(cs) != 1 || !cs[0].Pending {
		t.Fatalf("invite state changed: %+v", cs)
	}
	pump(t, ben, ana, chat)
	if _, err := ana.Send(ctx, "nobody", "x", SendOptions{}); !errors.Is(err, ErrNoChat) {
		t.Fatalf("send to a missing chat: %v", err)
	}
	if _, err := ana.Send(ctx, chat, "bad \xff utf8", SendOptions{}); err == nil {
		t.Fatal("non-UTF-8 text accepted")
	}
	if _, err := ana.Send(ctx, chat, strings.Repeat("x", ratchet.MaxPlaintext), SendOptions{}); err == nil {
		t.Fatal("over-long text accepted")
	}
	if _, err := ana.Join(ctx, "not a key", JoinOptions{}); !errors.Is(err, ErrBadInviteKey) {
		t.Fatalf("bad key: %v", err)
	}
	if _, _, err := ana.Invite(ctx, InviteOptions{Expires: 30 * 24 * time.Hour}); err == nil {
		t.Fatal("a 30-day invite accepted")
	}
	if _, _, err := ana.Invite(ctx, InviteOptions{As: "evil\x1b[2J"}); err == nil {
		t.Fatal("a nickname with escapes accepted")
	}
	if _, _, err := ana.Invite(ctx, InviteOptions{As: "a\u200bdmin"}); err == nil {
		t.Fatal("a nickname with a zero-width space accepted")
	}
	if _, _, err := ana.Invite(ctx, InviteOptions{As: " \u0301 "}); !errors.Is(err, errBlankNick) {
		t.Fatalf("a blank nickname: %v", err)
	}
	if _, err := ana.GroupCreate(ctx, GroupOptions{Name: "g", As: "\u3000"}); !errors.Is(err, errBlankNick) {
		t.Fatalf("a blank group nickname: %v", err)
	}
}

func TestEngineTimers(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	now := time.Now()
	clock := func() time.Time { return now }
	ana, ben, chat := pair(t, nil, nil)
	pump(t, ben, ana, chat)
	pump(t, ana, ben, chat)
	ana.cfg.Now, ben.cfg.Now = clock, clock
	// The vault's sweep uses its own clock; move both.
	if _, err := ben.Send(ctx, chat, "short-lived", SendOptions{TTL: time.Minute}); err != nil {
		t.Fatal(err)
	}
	pump(t, ben, ana, chat)
	ms, _ := ben.Messages(ctx, chat, 0)
	if len(ms) != 1 || ms[0].Expires.Sub(now) != time.Minute {
		t.Fatalf("sender's copy: %+v", ms)
	}
	ms, _ = ana.Messages(ctx, chat, 0)
	if len(ms) != 1 || !ms[0].Expires.IsZero() {
		t.Fatalf("recipient's copy must not count before display: %+v", ms)
	}
	// The chat's timer applies to messages sent without --ttl.
	if err := ben.SetTimer(ctx, chat, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	if _, err := ben.Send(ctx, chat, "chat timer", SendOptions{}); err != nil {
		t.Fatal(err)
	}
	ms, _ = ben.Messages(ctx, chat, 0)
	found := false
	for _, m := range ms {
		if m.Text == "chat timer" {
			found = m.Expires.Sub(now) == 10*time.Second
		}
	}
	if !found {
		t.Fatalf("chat timer: %+v", ms)
	}
	if err := ben.SetTimer(ctx, chat, -time.Second); err == nil {
		t.Fatal("negative timer accepted")
	}
	now = now.Add(time.Hour)
	if err := ana.MarkRead(ctx, chat); err != nil {
		t.Fatal(err)
	}
	ms, _ = ana.Messages(ctx, chat, 0)
	if len(ms) != 1 || ms[0].Expires.Sub(now) != time.Minute {
		t.Fatalf("recipient's copy after display: %+v", ms)
	}
}

func BenchmarkSendReceive(b *testing.B) {
	ctx := context.Background()
	ana, ben, chat := pair(b, nil, nil)
	pump(b, ben, ana, chat)
	pump(b, ana, ben, chat)
	b.ResetTimer()
	for b.Loop() {
		if _, err := ben.Send(ctx, chat, "a message of ordinary length, about sixty bytes", SendOptions{}); err != nil {
			b.Fatal(err)
		}
		pump(b, ben, ana, chat) // receive: decrypt, store, queue receipt
	}
}
