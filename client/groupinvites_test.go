package client

import (
	"context"
	"errors"
	"strings"
	"testing"
)

// TestGroupInvitesShowAndCancel: an admin's open group invites are listed
// with an ID each, a key is shown again exactly as it was made, a group
// with two open invites asks which one, and cancelling one kills its key
// for whoever holds it while the other still admits a joiner.
func TestGroupInvitesShowAndCancel(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	addr := startGroupRelay(t).String()
	ana, _ := groupEngine(t, addr)
	ben, _ := groupEngine(t, addr)
	cat, _ := groupEngine(t, addr)
	gid, err := ana.GroupCreate(ctx, GroupOptions{Name: "river", As: "ana"})
	if err != nil {
		t.Fatal(err)
	}
	k1, err := ana.GroupInvite(ctx, "river", 0)
	if err != nil {
		t.Fatal(err)
	}
	// One open invite: the group's name names it.
	if got, err := ana.InviteKey(ctx, "river"); err != nil || got != k1 {
		t.Fatalf("InviteKey(river): same key %v, %v", got == k1, err)
	}
	k2, err := ana.GroupInvite(ctx, "river", 0)
	if err != nil {
		t.Fatal(err)
	}
	invs, err := ana.Invites(ctx)
	if err != nil || len(invs) != 2 {
		t.Fatalf("invites %+v, %v", invs, err)
	}
	for _, inv := range invs {
		if !inv.Group || inv.Chat != gid || !strings.HasPrefix(inv.ID, gid+".") || inv.Until.IsZero() || inv.Created.IsZero() || inv.Name != "river" {
			t.Fatalf("a group invite listed as %+v", inv)
		}
	}
	if _, err := ana.InviteKey(ctx, "river"); err == nil || !strings.Contains(err.Error(), "2 open invites") {
		t.Fatalf("InviteKey(river) with two open: %v", err)
	}
	byID := map[string]string{}
	for _, inv := range invs {
		k, err := ana.InviteKey(ctx, inv.ID)
		if err != nil {
			t.Fatal(err)
		}
		byID[k] = inv.ID
	}
	if byID[k1] == "" || byID[k2] == "" {
		t.Fatal("the keys shown again are not the keys made")
	}

	// Cancel the first: ben's copy of its key dies; cat joins with the other.
	if res, err := ana.CancelInvite(ctx, byID[k1]); err != nil || res.BlobLeft {
		t.Fatalf("CancelInvite: %+v, %v", res, err)
	}
	if _, err := ben.Join(ctx, k1, JoinOptions{As: "ben"}); !errors.Is(err, ErrInviteUsed) {
		t.Fatalf("joining by a cancelled group key: %v, want ErrInviteUsed", err)
	}
	if _, err := ana.InviteKey(ctx, byID[k1]); !errors.Is(err, ErrNotPending) {
		t.Fatalf("InviteKey of the cancelled one: %v", err)
	}
	if invs, _ := ana.Invites(ctx); len(invs) != 1 || invs[0].ID != byID[k2] {
		t.Fatalf("after cancel: %+v", invs)
	}
	if _, err := cat.Join(ctx, k2, JoinOptions{As: "cat"}); err != nil {
		t.Fatal(err)
	}
	if err := ana.GroupSync(ctx); err != nil {
		t.Fatal(err)
	}
	// Used: no longer open; the group is untouched by the cancel.
	if invs, _ := ana.Invites(ctx); len(invs) != 0 {
		t.Fatalf("after the join: %+v", invs)
	}
	if ms, _, err := ana.GroupMembers(ctx, gid); err != nil || len(ms) != 2 {
		t.Fatalf("members %+v, %v", ms, err)
	}
	if _, err := ana.InviteKey(ctx, gid+".zzzzzzzz"); err == nil {
		t.Fatal("a malformed tag named an invite")
	}
}
