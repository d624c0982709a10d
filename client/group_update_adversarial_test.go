package client

import (
	"context"
	"testing"

	"veil/client/internal/format"
)

// TestTextAfterOwnUpdateIsRead checks spec/groups.md §6.2 ("Its text is
// never lost") and §7.2 against the window after a member's own update:
// a member whose update commit is out but not yet read back is still in
// epoch e and sends there, after its commit, under its old signing key.
// Every member who already applied the update drains log e; the entry
// must be read, though the old key is not in the new roster. No adversary
// is needed: the window is any delay between the commit's upload and its
// read-back.
func TestTextAfterOwnUpdateIsRead(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	ms := newTestGroup(t, 3)
	ana, ben := ms[0], ms[1]
	ben.g.propose(groupIntent{Change: format.ChangeUpdate})
	if _, err := ben.g.commitNext(ctx, ben.c); err != nil {
		t.Fatal(err)
	}
	if ben.g.pending == nil {
		t.Fatal("ben's update is not pending")
	}
	ben.send(t, "sent while my update is out")
	evs := ana.poll(t)
	ben.poll(t) // reads its update back and moves
	evs = append(evs, ana.poll(t)...)
	if ana.g.cur.roster.Epoch != 2 || ben.g.cur.id != ana.g.cur.id {
		t.Fatalf("ana is in epoch %d, ben in %d", ana.g.cur.roster.Epoch, ben.g.cur.roster.Epoch)
	}
	if len(ben.g.out) != 0 {
		t.Fatalf("ben still queues %d entries", len(ben.g.out))
	}
	if got := texts(evs); len(got) != 1 {
		t.Fatalf("ana read %q of ben's message sent after its update commit (warnings %q): lost", got, warnings(evs))
	}
}

// TestLeaveAfterOwnUpdateIsCommitted: a member whose update is out leaves
// before reading it back; an admin who applied the update reads the LEAVE
// under the member's old key while draining the old log and commits the
// member's leave under its new key (spec/groups.md §7.2, §7.3).
func TestLeaveAfterOwnUpdateIsCommitted(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	ms := newTestGroup(t, 3)
	ana, ben := ms[0], ms[1]
	ben.g.propose(groupIntent{Change: format.ChangeUpdate})
	if _, err := ben.g.commitNext(ctx, ben.c); err != nil {
		t.Fatal(err)
	}
	if err := ben.g.append(ctx, ben.c, &format.GroupEnvelope{Type: format.GenvLeave}); err != nil {
		t.Fatal(err)
	}
	ben.g.gone = true
	evs := ana.settle(t)
	evs = append(evs, ana.settle(t)...)
	for _, m := range ana.g.cur.roster.Members {
		if m.Nick == "m1" {
			t.Fatalf("ben is still a member of epoch %d (warnings %q)", ana.g.cur.roster.Epoch, warnings(evs))
		}
	}
}
