package client

import (
	"context"
	"testing"

	"veil/crypto"
	"veil/vault"
)

// setOurRelays rewrites the pending invite's reply mailboxes of e.
func setOurRelays(t *testing.T, e *Engine, chat string, f func(ct *vault.Contact)) {
	t.Helper()
	err := e.v.Update(context.Background(), func(tx *vault.Tx) error {
		ct, err := tx.Contact(chat)
		if err != nil {
			return err
		}
		f(&ct)
		return tx.PutContact(&ct)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestHelloLocalMailboxRefused: a joiner's HELLO naming a mailbox on a
// relay only this machine can reach, for an invite on a public relay, is
// not taken: the invite stays open and the user is warned.
func TestHelloLocalMailboxRefused(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	evA, evB := make(chan Event, 100), make(chan Event, 100)
	ana, ben, chat := pair(t, evA, evB)
	setOurRelays(t, ana, chat, func(ct *vault.Contact) {
		ct.Relays[0].Address = "veil+ws://relay.example.org:443#AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
	})
	pump(t, ben, ana, chat)
	c, err := ana.Chat(ctx, chat)
	if err != nil {
		t.Fatal(err)
	}
	if !c.Pending {
		t.Fatal("a HELLO pointing at this machine completed an invite on a public relay")
	}
	found := false
	for _, ev := range drainEvents(evA) {
		found = found || ev.Type == EventWarning && ev.Err != ""
	}
	if !found {
		t.Fatal("no warning")
	}
}

// TestHelloV1DeletesSecondReplyMailbox: a version 1 HELLO answering an
// invite with two reply mailboxes leaves the second one to a DEL task.
func TestHelloV1DeletesSecondReplyMailbox(t *testing.T) {
	t.Parallel()
	evA, evB := make(chan Event, 100), make(chan Event, 100)
	ana, ben, chat := pair(t, evA, evB)
	second := crypto.ID{9, 9}
	k, _ := crypto.GenerateSign(nil)
	setOurRelays(t, ana, chat, func(ct *vault.Contact) {
		ct.Relays = append(ct.Relays, vault.RelayCap{Address: testRelayAddr, RecvID: second[:], RecvKey: k.Seed(), Slot: 1})
	})
	pump(t, ben, ana, chat)
	var ts []task
	var ct vault.Contact
	if err := ana.v.View(context.Background(), func(tx *vault.Tx) (err error) {
		if ct, err = tx.Contact(chat); err != nil {
			return err
		}
		ts, err = getTasks(tx)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if len(recvCaps(&ct)) != 1 {
		t.Fatalf("%d reply mailboxes kept", len(recvCaps(&ct)))
	}
	if len(ts) != 1 || ts[0].Kind != "del" || string(ts[0].ID) != string(second[:]) {
		t.Fatalf("tasks %d, want a DEL of the dropped mailbox", len(ts))
	}
}

// TestPeerRelayReach: a relay a peer names is refused only when it is
// reachable from this machine or network alone and none of ours is.
func TestPeerRelayReach(t *testing.T) {
	t.Parallel()
	const fp = "#AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
	pub, lan, lo := "veil+ws://relay.example.org:443"+fp, "veil+ws://10.0.0.5:7070"+fp, "veil+ws://127.0.0.1:7070"+fp
	for _, c := range []struct {
		addr string
		ours []string
		want string
	}{
		{pub, []string{lo}, ""},
		{lan, []string{pub}, ReachNetwork},
		{lo, []string{pub}, ReachMachine},
		{lo, []string{lo}, ""},
		{lan, []string{lo}, ReachNetwork},
		{lan, []string{pub, lan}, ""},
	} {
		if got := peerRelayReach(c.addr, c.ours...); got != c.want {
			t.Errorf("%s with %v: %q, want %q", c.addr, c.ours, got, c.want)
		}
	}
}
