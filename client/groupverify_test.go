package client

import (
	"context"
	"slices"
	"strings"
	"testing"
)

// TestGroupEngineNamesAndCode: an admin refuses a join under a nickname
// that reads as a member's (spec/groups.md §14.1), and every member of an
// epoch shows the same verification code (§15).
func TestGroupEngineNamesAndCode(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	addr := startGroupRelay(t).String()
	ana, anaEv := groupEngine(t, addr)
	ben, _ := groupEngine(t, addr)
	cat, _ := groupEngine(t, addr)

	gid, err := ana.GroupCreate(ctx, GroupOptions{Name: "river", As: "ana"})
	if err != nil {
		t.Fatal(err)
	}
	key, err := ana.GroupInvite(ctx, gid, 0)
	if err != nil {
		t.Fatal(err)
	}
	bid, err := ben.Join(ctx, key, JoinOptions{As: "ben"})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := ben.GroupVerifyCode(ctx, bid); err == nil {
		t.Fatal("a verification code before the admin let ben in")
	}
	if err := ana.GroupSync(ctx); err != nil {
		t.Fatal(err)
	}
	if err := ben.GroupSync(ctx); err != nil {
		t.Fatal(err)
	}
	ac, ae, err := ana.GroupVerifyCode(ctx, gid)
	if err != nil {
		t.Fatal(err)
	}
	bc, be, err := ben.GroupVerifyCode(ctx, bid)
	if err != nil || ac != bc || ae != be || ae != 2 {
		t.Fatalf("ana's code %q (epoch %d), ben's %q (epoch %d): %v", ac, ae, bc, be, err)
	}

	// cat asks to join as "ANA": the admin's client refuses and warns;
	// the invite stays open and cat keeps waiting.
	key, err = ana.GroupInvite(ctx, gid, 0)
	if err != nil {
		t.Fatal(err)
	}
	cid, err := cat.Join(ctx, key, JoinOptions{As: "ANA"})
	if err != nil {
		t.Fatal(err)
	}
	pendingEvents(anaEv)
	if err := ana.GroupSync(ctx); err != nil {
		t.Fatal(err)
	}
	if evs := pendingEvents(anaEv); !slices.ContainsFunc(evs, func(e Event) bool {
		return e.Type == EventWarning && strings.Contains(e.Err, "looks the same")
	}) {
		t.Fatalf("ana's events after a look-alike join request: %+v", evs)
	}
	if err := cat.GroupSync(ctx); err != nil {
		t.Fatal(err)
	}
	if _, _, err := cat.GroupMembers(ctx, cid); err == nil {
		t.Fatal("cat was let in under a look-alike nickname")
	}
	ms, epoch, err := ana.GroupMembers(ctx, gid)
	if err != nil || epoch != 2 || len(ms) != 2 || ms[1].Name != "ben" || len(ms[1].Key) != memberKeyDigits {
		t.Fatalf("ana's members %+v (epoch %d): %v", ms, epoch, err)
	}
	if c, _, _ := ana.GroupVerifyCode(ctx, gid); c != ac {
		t.Fatal("the code changed without a new epoch")
	}
}
