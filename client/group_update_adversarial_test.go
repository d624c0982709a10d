package client

import (
	"context"
	"strings"
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

// TestUpdateCannotEscapeRemoval checks SECURITY.md "A malicious group
// member ... Cannot ... disturb an admin's commit in progress" and
// spec/groups.md §3.4 ("so a change is made exactly once") and §12. The
// admin's remove intent names the member by its signing key; a member who
// commits an update of its own keys just before the admin's remove (every
// member may, at any time, and can keep one at the head of every new log)
// makes the admin's commit lose. The re-queued intent must then follow the
// member to its new key, not be dropped as moot with the member staying.
// The same would happen to an honest member whose weekly update crosses an
// admin's removal.
func TestUpdateCannotEscapeRemoval(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	ms := newTestGroup(t, 3)
	ana, ben, mal := ms[0], ms[1], ms[2]
	// mal's update of its keys goes out first...
	mal.g.propose(groupIntent{Change: format.ChangeUpdate})
	if _, err := mal.g.commitNext(ctx, mal.c); err != nil {
		t.Fatal(err)
	}
	// ...and the admin's removal of mal, made on the roster it has read,
	// right after it.
	k := mal.g.sign.Public()
	ana.g.propose(groupIntent{Change: format.ChangeRemove, Target: k[:]})
	if _, err := ana.g.commitNext(ctx, ana.c); err != nil {
		t.Fatal(err)
	}
	evs := ana.settle(t)
	ben.poll(t)
	if i := ana.g.cur.roster.Index(k); i >= 0 {
		t.Fatalf("the old key is still in the roster at %d", i)
	}
	for i, m := range ana.g.cur.roster.Members {
		if m.Nick == "m2" {
			var types []EventType
			for _, e := range evs {
				types = append(types, e.Type)
			}
			t.Fatalf("m2 escaped its removal by updating its keys: it is member %d of epoch %d; the admin has %d intents queued, a commit pending: %v; its events %v",
				i, ana.g.cur.roster.Epoch, len(ana.g.intents), ana.g.pending != nil, types)
		}
	}
}

// TestPromoteFollowsUpdate: an admin's promote made on the roster before
// a member's update of its keys lost to that update; queued again, it
// names the member's new key and is made (spec/groups.md §3.4).
func TestPromoteFollowsUpdate(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	ms := newTestGroup(t, 3)
	ana, ben := ms[0], ms[1]
	ben.g.propose(groupIntent{Change: format.ChangeUpdate})
	if _, err := ben.g.commitNext(ctx, ben.c); err != nil {
		t.Fatal(err)
	}
	k := ben.g.sign.Public()
	ana.g.propose(groupIntent{Change: format.ChangePromote, Target: k[:]})
	if _, err := ana.g.commitNext(ctx, ana.c); err != nil {
		t.Fatal(err)
	}
	evs := ana.settle(t)
	ben.poll(t)
	if ana.g.cur.roster.Epoch != 3 || !ben.g.isAdmin() || ben.g.sign.Public() == k {
		t.Fatalf("epoch %d, ben an admin: %v, under its old key: %v (warnings %q)",
			ana.g.cur.roster.Epoch, ben.g.isAdmin(), ben.g.sign.Public() == k, warnings(evs))
	}
}

// TestRemovalMootIsTold: two admins remove the same member at once; the
// one whose commit lost is told its removal was not made rather than
// dropping it without a word (spec/groups.md §3.4).
func TestRemovalMootIsTold(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	ms := newTestGroup(t, 3)
	ana, ben, cat := ms[0], ms[1], ms[2]
	ana.change(t, format.ChangePromote, "m1")
	ben.poll(t)
	cat.poll(t)
	k := cat.g.sign.Public()
	for _, m := range []*member{ana, ben} {
		m.g.propose(groupIntent{Change: format.ChangeRemove, Target: k[:]})
		if _, err := m.g.commitNext(ctx, m.c); err != nil {
			t.Fatal(err)
		}
	}
	ana.settle(t)
	evs := ben.settle(t)
	if ana.g.cur.roster.Index(k) >= 0 || ben.g.cur.id != ana.g.cur.id {
		t.Fatal("cat was not removed once")
	}
	w := warnings(evs)
	if len(w) != 1 || !strings.Contains(w[0], "removal of m2 was not made") {
		t.Fatalf("ben's warnings %q", w)
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

// TestUpdateCannotFollowOwnUpdate: a member that would keep an update of
// its own keys at the head of every new log, so that an admin's removal of
// it always loses, has its second update in a row refused by everyone, and
// the removal is made on top of its first (spec/groups.md §3.6). Its own
// client, restarted, keeps a second one queued rather than commit it.
func TestUpdateCannotFollowOwnUpdate(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	ms := newTestGroup(t, 3)
	ana, ben, mal := ms[0], ms[1], ms[2]
	mal.g.propose(groupIntent{Change: format.ChangeUpdate})
	if _, err := mal.g.commitNext(ctx, mal.c); err != nil {
		t.Fatal(err)
	}
	k := mal.g.sign.Public()
	ana.g.propose(groupIntent{Change: format.ChangeRemove, Target: k[:]})
	if _, err := ana.g.commitNext(ctx, ana.c); err != nil {
		t.Fatal(err)
	}
	mal.poll(t) // its update won: epoch 2
	if mal.g.cur.roster.Epoch != 2 {
		t.Fatalf("mal is in epoch %d", mal.g.cur.roster.Epoch)
	}
	mal.reload(t)
	mal.poll(t)
	mal.g.propose(groupIntent{Change: format.ChangeUpdate})
	if _, err := mal.g.commitNext(ctx, mal.c); err != nil {
		t.Fatal(err)
	}
	if mal.g.pending != nil || len(mal.g.intents) != 1 {
		t.Fatalf("mal's client committed a second update in a row (%d intents queued)", len(mal.g.intents))
	}
	// A malicious client makes one anyway, at the head of epoch 2's log.
	maliciousUpdate(t, mal, &mal.g.cur)
	evs := ana.settle(t)
	ben.poll(t)
	if ana.g.cur.roster.Epoch != 3 || ben.g.cur.id != ana.g.cur.id {
		t.Fatalf("ana is in epoch %d, ben in %d (ana's warnings %q)", ana.g.cur.roster.Epoch, ben.g.cur.roster.Epoch, warnings(evs))
	}
	for _, m := range ana.g.cur.roster.Members {
		if m.Nick == "m2" {
			t.Fatalf("m2 is still a member (warnings %q)", warnings(evs))
		}
	}
	if w := warnings(evs); len(w) != 1 || !strings.Contains(w[0], "ignored a group update commit") {
		t.Fatalf("ana's warnings %q", w)
	}
}

// TestUpdateWaitsForAnotherChange: an update asked for while the current
// epoch is our own update's stays queued, other changes go first, and it
// is made once another change lands (spec/groups.md §3.6).
func TestUpdateWaitsForAnotherChange(t *testing.T) {
	t.Parallel()
	ms := newTestGroup(t, 3)
	ana, ben := ms[0], ms[1]
	ana.g.propose(groupIntent{Change: format.ChangeUpdate})
	ana.settle(t)
	if ana.g.cur.roster.Epoch != 2 || !ana.g.updateWaits() {
		t.Fatalf("ana's update did not apply: epoch %d", ana.g.cur.roster.Epoch)
	}
	k := ana.g.sign.Public()
	ana.g.propose(groupIntent{Change: format.ChangeUpdate})
	ana.settle(t)
	if ana.g.cur.roster.Epoch != 2 || len(ana.g.intents) != 1 {
		t.Fatalf("ana is in epoch %d with %d intents queued", ana.g.cur.roster.Epoch, len(ana.g.intents))
	}
	bk := ben.g.sign.Public()
	ana.g.propose(groupIntent{Change: format.ChangePromote, Target: bk[:]})
	ana.settle(t)
	ana.settle(t)
	if ana.g.cur.roster.Epoch != 4 || ana.g.sign.Public() == k || len(ana.g.intents) != 0 {
		t.Fatalf("ana is in epoch %d, under the same key: %v, %d intents queued", ana.g.cur.roster.Epoch, ana.g.sign.Public() == k, len(ana.g.intents))
	}
	ben.poll(t)
	if !ben.g.isAdmin() || ben.g.cur.id != ana.g.cur.id {
		t.Fatal("ben did not follow")
	}
}
