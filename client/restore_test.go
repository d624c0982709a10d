package client

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"filippo.io/age"

	"veil/crypto"
	"veil/ratchet"
	"veil/vault"
)

// restoredCopy backs e up and restores the backup into a new profile,
// unlocked with the events channel ev: what `veil backup` then
// `veil restore` and an unlock leave.
func restoredCopy(t *testing.T, e *Engine, ev chan Event) (*Engine, Config) {
	t.Helper()
	ctx := context.Background()
	rcpt, err := age.NewScryptRecipient("backup passphrase")
	if err != nil {
		t.Fatal(err)
	}
	rcpt.SetWorkFactor(10)
	var buf bytes.Buffer
	if err := e.Backup(ctx, &buf, rcpt); err != nil {
		t.Fatal(err)
	}
	id, _ := age.NewScryptIdentity("backup passphrase")
	cfg := Config{Dir: t.TempDir() + "/restored", Events: ev,
		Vault: vault.Options{KDF: crypto.Argon2Params{Time: 1, MemKiB: 64, Threads: 1}, GCInterval: -1, MemTableSize: testMemTableSize}}
	if err := Restore(ctx, cfg, &buf, []byte("test pin"), id); err != nil {
		t.Fatal(err)
	}
	r, err := Open(ctx, cfg, []byte("test pin"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r, cfg
}

// outbox returns e's queued payloads.
func outbox(t *testing.T, e *Engine) [][]byte {
	t.Helper()
	var out [][]byte
	err := e.v.View(context.Background(), func(tx *vault.Tx) error {
		items, err := tx.Outbox()
		for _, it := range items {
			out = append(out, it.Payload)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func contactState(t *testing.T, e *Engine, chat string) []byte {
	t.Helper()
	var b []byte
	err := e.v.View(context.Background(), func(tx *vault.Tx) error {
		ct, err := tx.Contact(chat)
		b = ct.Ratchet
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func hasResetEvent(evs []Event, typ EventType, text string) bool {
	for _, ev := range evs {
		if ev.Type == typ && strings.Contains(ev.Text+ev.Err, text) {
			return true
		}
	}
	return false
}

func lastText(t *testing.T, e *Engine, chat string) string {
	t.Helper()
	ms, err := e.Messages(context.Background(), chat, 0)
	if err != nil || len(ms) == 0 {
		t.Fatalf("messages: %v %d", err, len(ms))
	}
	return ms[len(ms)-1].Text
}

// TestRestoredProfileRestartsSessions: a restored copy of ana restarts
// the chat with ben inside the same chat (same identity keys, same safety
// code); ben reads the copy's message and its reply reaches the copy; the
// original copy that keeps sending is refused with a warning and told it
// is out of date; replayed and forged resets change nothing; a copy closed
// in the middle of its reset resumes it.
func TestRestoredProfileRestartsSessions(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	evA, evB, evR := make(chan Event, 100), make(chan Event, 100), make(chan Event, 100)
	ana, ben, chat := pair(t, evA, evB)
	pump(t, ben, ana, chat)
	pump(t, ana, ben, chat)
	code, err := ben.SafetyCode(ctx, chat)
	if err != nil {
		t.Fatal(err)
	}

	copyA, cfg := restoredCopy(t, ana, evR)
	// The original keeps chatting after the backup.
	if _, err := ana.Send(ctx, chat, "after the backup", SendOptions{}); err != nil {
		t.Fatal(err)
	}
	pump(t, ana, ben, chat)
	if _, err := ben.Send(ctx, chat, "ben after the backup", SendOptions{}); err != nil {
		t.Fatal(err)
	}
	pump(t, ben, ana, chat)
	pump(t, ana, ben, chat)
	drainEvents(evA)
	drainEvents(evB)

	// The copy's first unlock queued its offer; its message waits for the
	// new session.
	if _, err := copyA.Send(ctx, chat, "from the restored copy", SendOptions{}); err != nil {
		t.Fatal(err)
	}
	offers := outbox(t, copyA)
	if len(offers) != 1 || !ratchet.IsReset(offers[0]) {
		t.Fatalf("restored copy's outbox: %d items", len(offers))
	}
	// A message ben queued on the old session while the offer travels is
	// sent again on the new one.
	if _, err := ben.Send(ctx, chat, "queued before the offer", SendOptions{}); err != nil {
		t.Fatal(err)
	}
	pump(t, copyA, ben, chat)
	if evs := drainEvents(evB); !hasResetEvent(evs, EventSessionReset, "ana restored veil from a backup") {
		t.Fatalf("ben's events after the offer: %+v", evs)
	}
	afterOffer := contactState(t, ben, chat)

	// A relay replays the offer: nothing changes.
	if !ben.receive(ctx, chat, offers[0]) {
		t.Fatal("replay not acked")
	}
	if !bytes.Equal(contactState(t, ben, chat), afterOffer) || len(drainEvents(evB)) != 0 {
		t.Fatal("a replayed offer changed ben's session or told him")
	}
	// A third party signs an offer of its own: refused, nothing changes.
	mallory, _ := ratchet.NewBundle(ratchet.Config{})
	rp, _ := ratchet.NewReset(ratchet.Config{}, 1<<62, true)
	var benPub ratchet.IdentityPublic
	_ = ben.v.View(ctx, func(tx *vault.Tx) error {
		ct, _ := tx.Contact(chat)
		id, _ := ratchet.ParseIdentity(ct.OurIdentity)
		benPub = id.Public()
		return nil
	})
	if !ben.receive(ctx, chat, rp.Message(&mallory.Identity, benPub)) {
		t.Fatal("forgery not acked")
	}
	if evs := drainEvents(evB); !hasResetEvent(evs, EventWarning, "not signed by this contact") {
		t.Fatalf("forged offer: %+v", evs)
	}
	if !bytes.Equal(contactState(t, ben, chat), afterOffer) {
		t.Fatal("a forged offer changed ben's session")
	}

	// The copy is closed before the answer arrives, and resumes.
	copyA.Close()
	copyA, err = Open(ctx, cfg, []byte("test pin"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { copyA.Close() })
	pump(t, ben, copyA, chat)
	if evs := drainEvents(evR); !hasResetEvent(evs, EventSessionReset, "You restored veil from a backup") {
		t.Fatalf("the copy's events after the answer: %+v", evs)
	}
	if ms, _ := copyA.Messages(ctx, chat, 0); !strings.Contains(fmtTexts(ms), "queued before the offer") {
		t.Fatalf("the copy's messages: %s", fmtTexts(ms))
	}
	pump(t, copyA, ben, chat)
	if got := lastText(t, ben, chat); got != "from the restored copy" {
		t.Fatalf("ben read %q", got)
	}
	pump(t, ben, copyA, chat) // ben's receipt
	if _, err := ben.Send(ctx, chat, "hello again", SendOptions{}); err != nil {
		t.Fatal(err)
	}
	pump(t, ben, copyA, chat)
	if got := lastText(t, copyA, chat); got != "hello again" {
		t.Fatalf("the copy read %q", got)
	}
	for _, e := range []*Engine{ben, copyA} {
		if c, _ := e.SafetyCode(ctx, chat); c != code {
			t.Fatal("the safety code changed")
		}
	}

	// The original still sends: ben drops it with a warning and tells it.
	drainEvents(evB)
	if _, err := ana.Send(ctx, chat, "from the old copy", SendOptions{}); err != nil {
		t.Fatal(err)
	}
	pump(t, ana, ben, chat)
	if evs := drainEvents(evB); !hasResetEvent(evs, EventWarning, "out-of-date copy") {
		t.Fatalf("ben's events for the old copy: %+v", evs)
	}
	if got := lastText(t, ben, chat); got == "from the old copy" {
		t.Fatal("ben shows the old copy's message")
	}
	pump(t, ben, ana, chat)
	if evs := drainEvents(evA); !hasResetEvent(evs, EventWarning, "out of date") {
		t.Fatalf("the original's events: %+v", evs)
	}
	if _, err := ana.Send(ctx, chat, "again", SendOptions{}); err != ErrOutdated {
		t.Fatalf("the original sends on: %v", err)
	}
}

// TestBothSidesRestored: both profiles restored at once offer resets; the
// smaller identity key's offer wins (its owner completes its reset, the
// other side answers and never completes its own), whatever order the
// relay delivers the answer's messages in, and the chat works both ways
// after.
func TestBothSidesRestored(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	evA, evB := make(chan Event, 100), make(chan Event, 100)
	ana0, ben0, chat := pair(t, nil, nil)
	pump(t, ben0, ana0, chat)
	pump(t, ana0, ben0, chat)
	ana, _ := restoredCopy(t, ana0, evA)
	ben, _ := restoredCopy(t, ben0, evB)
	if _, err := ana.Send(ctx, chat, "ana first", SendOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := ben.Send(ctx, chat, "ben first", SendOptions{}); err != nil {
		t.Fatal(err)
	}
	// The offers cross.
	a, b := outbox(t, ana), outbox(t, ben)
	for _, m := range a {
		ben.receive(ctx, chat, m)
	}
	for _, m := range b {
		ana.receive(ctx, chat, m)
	}
	for _, e := range []*Engine{ana, ben} {
		_ = e.v.Update(ctx, func(tx *vault.Tx) error {
			items, _ := tx.Outbox()
			for _, it := range items {
				if ratchet.IsReset(it.Payload) {
					_ = tx.DeleteOutbox(it.ID)
				}
			}
			return nil
		})
	}
	S, L := ana, ben
	if bytes.Compare(ourIdentity(t, ana, chat), ourIdentity(t, ben, chat)) > 0 {
		S, L = ben, ana
	}
	// The relay delivers the larger side's answer and held messages in
	// reverse order.
	answer := outbox(t, L)
	for i := len(answer) - 1; i >= 0; i-- {
		S.receive(ctx, chat, answer[i])
	}
	dropOutbox(t, L)
	for range 3 {
		pump(t, ana, ben, chat)
		pump(t, ben, ana, chat)
	}
	sTexts, lTexts := fmtTexts(mustMsgs(t, S, chat)), fmtTexts(mustMsgs(t, L, chat))
	if !strings.Contains(sTexts, "You restored veil") || strings.Contains(lTexts, "You restored veil") {
		t.Fatalf("the larger key's offer won: smaller side %q, larger side %q", sTexts, lTexts)
	}
	for _, e := range []*Engine{S, L} {
		if m := chatMetaOf(t, e, chat); m.ResetKeys != nil || m.Yielded || m.Restored {
			t.Fatal("a side still waits for its reset")
		}
	}
	texts := func(e *Engine) string {
		ms, _ := e.Messages(ctx, chat, 0)
		var s []string
		for _, m := range ms {
			s = append(s, m.Text)
		}
		return strings.Join(s, "|")
	}
	if !strings.Contains(texts(ben), "ana first") || !strings.Contains(texts(ana), "ben first") {
		t.Fatalf("after the crossed resets: ana %q, ben %q", texts(ana), texts(ben))
	}
}

func fmtTexts(ms []MessageInfo) string {
	var s []string
	for _, m := range ms {
		s = append(s, m.Text)
	}
	return strings.Join(s, "|")
}

// TestRestoredGroupUpdatesKeys (spec/client.md §13.7): a restored
// member's first group send queues an update of its keys, which the next
// sync commits in a new epoch; what it sends then reaches the others.
func TestRestoredGroupUpdatesKeys(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r := startFlakyRelay(t)
	ana, ben, gid, bid, _ := twoMembers(t, r.addr.String())
	_, before, err := ben.GroupMembers(ctx, bid)
	if err != nil {
		t.Fatal(err)
	}
	cp, _ := restoredCopy(t, ana, nil)
	if _, err := cp.Send(ctx, gid, "first from the copy", SendOptions{}); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if cp.GroupSync(ctx) == nil {
			break
		}
	}
	if _, err := cp.Send(ctx, gid, "after the update", SendOptions{}); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if ben.GroupSync(ctx) == nil {
			break
		}
	}
	_, after, err := ben.GroupMembers(ctx, bid)
	if err != nil {
		t.Fatal(err)
	}
	if after <= before {
		t.Fatalf("epoch %d after the copy's first send, was %d", after, before)
	}
	if got := messageTexts(t, ben, bid); !strings.Contains(strings.Join(got, "|"), "after the update") {
		t.Fatalf("ben read %q", got)
	}
}
