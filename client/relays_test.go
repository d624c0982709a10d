package client

import (
	"context"
	"slices"
	"strings"
	"testing"

	"veil/vault"
)

// TestRemoveRelay: a bad or unknown address, the default relay and relays
// that a chat or a group uses are refused with the reason, changing
// nothing; an unused relay goes.
func TestRemoveRelay(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	addrG := startGroupRelay(t).String()
	e, _ := groupEngine(t, addrG) // the default
	if _, err := e.GroupCreate(ctx, GroupOptions{Name: "river", As: "ana"}); err != nil {
		t.Fatal(err)
	}
	const unused = "veil+ws://127.0.0.1:2#AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
	for _, a := range []string{testRelayAddr, unused} {
		if err := e.AddRelay(ctx, a); err != nil {
			t.Fatal(err)
		}
	}
	// A chat whose peer's mailbox is on testRelayAddr, written as a peer
	// may send it (with a trailing slash).
	err := e.v.Update(ctx, func(tx *vault.Tx) error {
		return tx.PutContact(&vault.Contact{ID: "c1", Relays: []vault.RelayCap{{Address: strings.Replace(testRelayAddr, "#", "/#", 1), SendID: make([]byte, 16)}}})
	})
	if err != nil {
		t.Fatal(err)
	}
	refused := func(addr, want string) {
		t.Helper()
		err := e.RemoveRelay(ctx, addr)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Fatalf("RemoveRelay(%s): %v, want an error saying %q", addr, err, want)
		}
		if _, all, _ := e.Relays(ctx); len(all) != 3 {
			t.Fatalf("a refused removal changed the list: %q", all)
		}
	}
	refused("veil://nowhere", "no #fingerprint")
	refused("veil+ws://127.0.0.1:3#AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "not in the list")
	refused(addrG, "is the default")
	if err := e.SetDefaultRelay(ctx, unused); err != nil {
		t.Fatal(err)
	}
	refused(addrG, "used by 1 group")
	refused(testRelayAddr, "used by 1 chat")
	refused(unused, "is the default")

	if err := e.SetDefaultRelay(ctx, addrG); err != nil {
		t.Fatal(err)
	}
	if err := e.RemoveRelay(ctx, unused); err != nil {
		t.Fatal(err)
	}
	def, all, err := e.Relays(ctx)
	if err != nil || def != addrG || len(all) != 2 || slices.Contains(all, unused) {
		t.Fatalf("after removing %s: default %s, list %q (%v)", unused, def, all, err)
	}
}

func TestRelayUsersText(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		chats, groups int
		want          string
	}{{1, 0, "1 chat"}, {2, 0, "2 chats"}, {0, 1, "1 group"}, {3, 2, "3 chats and 2 groups"}} {
		if got := users(c.chats, c.groups); got != c.want {
			t.Errorf("users(%d, %d) = %q, want %q", c.chats, c.groups, got, c.want)
		}
	}
}
