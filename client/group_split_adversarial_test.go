package client

import (
	"context"
	"strings"
	"testing"

	"veil/client/internal/format"
	"veil/relay/conn"
	"veil/relay/wire"
	"veil/vault"
)

// Adversarial tests of a group split into branches (spec/groups.md §3.4,
// §6.6; SECURITY.md "A malicious group member", "A hostile relay"), each
// attack built by hand against real relays on 127.0.0.1.

// TestUpdateCommitCutsMemberOff attacks spec/groups.md §3.4 ("every
// member walks the same chain of epochs"), §6.6 and SECURITY.md "A
// malicious group member ... Cannot make a roster change apply unless it
// is an admin (or, for its own keys, an update)". mal, who is not an
// admin, commits an update of its own keys whose share for ben holds
// another secret: the commit verifies for everyone, the admin moves to the
// new epoch and ben cannot. mal then commits a second, honest update for
// the same epoch, which only ben (still in the old epoch) could apply:
// ana and ben would both be in epoch 2 on different logs with different
// rosters. ben must mark itself cut off, naming mal, and refuse every
// later commit for epoch 2; the admin must learn of it from the old log.
func TestUpdateCommitCutsMemberOff(t *testing.T) {
	t.Parallel()
	ms := newTestGroup(t, 3)
	ana, ben, mal := ms[0], ms[1], ms[2]
	epoch1 := mal.g.cur
	maliciousUpdate(t, mal, &epoch1, 1)
	anaEvs := ana.poll(t)
	benEvs := ben.poll(t)
	if ana.g.cur.roster.Epoch != 2 {
		t.Fatalf("the admin did not apply the update: %+v", anaEvs)
	}
	// No client can follow a share it cannot open; what must not happen
	// is that the group goes on without ben and nobody else knows (ana
	// still drains epoch 1's log, where ben says so).
	anaEvs = append(anaEvs, ana.poll(t)...)
	if ben.g.cur.roster.Epoch != ana.g.cur.roster.Epoch && len(warnings(anaEvs)) == 0 {
		t.Errorf("a non-admin's update commit cut ben off: ben is in epoch %d, ana in %d; ben was told only %q, the admin nothing",
			ben.g.cur.roster.Epoch, ana.g.cur.roster.Epoch, warnings(benEvs))
	}
	if !ben.g.cutOff || !strings.Contains(strings.Join(warnings(benEvs), "\n"), "m2") {
		t.Errorf("ben is not marked cut off by m2: cut off %v, warnings %q", ben.g.cutOff, warnings(benEvs))
	}
	if w := strings.Join(warnings(anaEvs), "\n"); !strings.Contains(w, "m1 says it could not follow m2's change") {
		t.Errorf("the admin is not told that m1 says it could not follow m2's change: %q", w)
	}
	ben.reload(t) // the cut-off state is stored with the group

	// A second update of mal's, on epoch 1's roster, sealed honestly.
	maliciousUpdate(t, mal, &epoch1)
	anaEvs = ana.poll(t)
	benEvs = ben.poll(t)
	if ben.g.cur.roster.Epoch != 1 || !ben.g.cutOff {
		t.Errorf("ben, cut off in epoch 1, applied a later commit for epoch 2: epoch %d, cut off %v", ben.g.cur.roster.Epoch, ben.g.cutOff)
	}
	ana.send(t, "from ana")
	ben.send(t, "from ben")
	anaEvs = append(anaEvs, ana.poll(t)...)
	benEvs = append(benEvs, ben.poll(t)...)
	if ana.g.cur.roster.Epoch == ben.g.cur.roster.Epoch && ana.g.cur.conf != ben.g.cur.conf {
		if len(texts(anaEvs)) == 0 && len(texts(benEvs)) == 0 && !hasEventType(anaEvs, EventWarning) && !hasEventType(benEvs, EventWarning) {
			t.Errorf("ana and ben are both in epoch %d on different branches (logs %x and %x) and neither is warned: the group is silently split",
				ana.g.cur.roster.Epoch, ana.g.cur.id[:4], ben.g.cur.id[:4])
		}
	}
}

// TestRelayReorderSplitsWarned attacks SECURITY.md "A hostile relay" and
// spec/groups.md §6.6. Two admins commit at once; the relay answers one
// member's read with the second commit and not the first before it (as
// it may: it orders the log and answers each reader as it likes). That
// member applies the second, everyone else the first. Each branch has its
// own log, so no message ever carries a confirmation tag across branches:
// only the NEXT entries every member appends to the old log, which all
// read for drainGrace, show the split, and they must.
func TestRelayReorderSplitsWarned(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	ms := newTestGroup(t, 4)
	ana, ben, cat, dan := ms[0], ms[1], ms[2], ms[3]
	ana.change(t, format.ChangePromote, "m1")
	for _, m := range ms[1:] {
		m.poll(t)
	}
	before := logLen(t, ana.c, &ana.g.cur)
	x, y := cat.g.sign.Public(), dan.g.sign.Public()
	ana.g.propose(groupIntent{Change: format.ChangePromote, Target: x[:]})
	if _, err := ana.g.commitNext(ctx, ana.c); err != nil {
		t.Fatal(err)
	}
	ben.g.propose(groupIntent{Change: format.ChangePromote, Target: y[:]})
	if _, err := ben.g.commitNext(ctx, ben.c); err != nil {
		t.Fatal(err)
	}
	_, rc := ana.g.cur.epoch.Caps()
	var es []wire.Entry
	for after := uint64(0); ; {
		page, err := ana.c.ReadLog(ctx, ana.g.cur.id, (*[wire.CapSize]byte)(&rc), after, groupReadBatch)
		if err != nil {
			t.Fatal(err)
		}
		if len(page) == 0 {
			break
		}
		es, after = append(es, page...), page[len(page)-1].Seq
	}
	if len(es) != before+2 {
		t.Fatalf("the log holds %d entries, want the two commits after %d", len(es), before)
	}
	// The relay's reply to dan holds ben's commit and not ana's before it
	// (withheld, or listed after): dan's cursor then stands after both.
	dan.g.cur.cursor = es[before+1].Seq
	evs := dan.g.handle(&dan.g.cur, es[before+1].Body, false, true)
	if dan.g.cur.roster.Epoch != 3 {
		t.Fatalf("dan did not apply ben's commit: %+v", evs)
	}
	all := map[*member][]Event{dan: evs}
	for _, m := range ms {
		all[m] = append(all[m], m.poll(t)...)
	}
	for _, m := range ms {
		m.send(t, "from "+m.g.self().Nick)
	}
	for _, m := range ms {
		all[m] = append(all[m], m.poll(t)...)
	}
	if ana.g.cur.conf == dan.g.cur.conf {
		t.Fatal("ana and dan are on one branch: the reorder did not split them")
	}
	// Each side of the split is warned about the other: the relay showed
	// dan's NEXT to the members on ana's branch and theirs to dan.
	for _, m := range ms {
		var on string
		if m.g.cur.conf == dan.g.cur.conf {
			on = "m0"
		} else {
			on = "m3"
		}
		if w := strings.Join(warnings(all[m]), "\n"); !strings.Contains(w, on+" is on a different branch") {
			t.Errorf("%s (epoch %d, log %x) is not warned that %s is on another branch: %q",
				m.g.self().Nick, m.g.cur.roster.Epoch, m.g.cur.id[:4], on, w)
		}
	}
}

// TestRelayWithheldCommitWarned: the relay hides an admin's commit from
// one member (its reply skips the commit's entry) and shows it the rest
// of the log. The member stays in the old epoch while the others move;
// the NEXT entries they leave in the old log tell it so.
func TestRelayWithheldCommitWarned(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	ms := newTestGroup(t, 3)
	ana, ben, cat := ms[0], ms[1], ms[2]
	before := logLen(t, ana.c, &ana.g.cur)
	k := ben.g.sign.Public()
	ana.g.propose(groupIntent{Change: format.ChangePromote, Target: k[:]})
	if _, err := ana.g.commitNext(ctx, ana.c); err != nil {
		t.Fatal(err)
	}
	_, rc := ana.g.cur.epoch.Caps()
	es, err := ana.c.ReadLog(ctx, ana.g.cur.id, (*[wire.CapSize]byte)(&rc), 0, groupReadBatch)
	if err != nil || len(es) != before+1 {
		t.Fatalf("the log holds %d entries (%v), want the commit after %d", len(es), err, before)
	}
	// cat's reply from the relay skips the commit: its cursor stands
	// after it, as if the relay had listed it with a lower number.
	cat.g.cur.cursor = es[before].Seq
	ana.poll(t)
	ben.poll(t)
	if ana.g.cur.roster.Epoch != 2 || ben.g.cur.roster.Epoch != 2 {
		t.Fatalf("ana and ben did not move: epochs %d, %d", ana.g.cur.roster.Epoch, ben.g.cur.roster.Epoch)
	}
	evs := cat.poll(t)
	if cat.g.cur.roster.Epoch != 1 {
		t.Fatalf("cat read the withheld commit: epoch %d", cat.g.cur.roster.Epoch)
	}
	if w := strings.Join(warnings(evs), "\n"); !strings.Contains(w, "moved to epoch 2 by a change this device has not read") {
		t.Errorf("cat, kept in epoch 1 by the relay, is not warned: %q", w)
	}
}

// TestGroupCutOffShown: the cut-off state is stored with the group and
// the chat's info says so, naming the committer, after a sync.
func TestGroupCutOffShown(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	addr := startGroupRelay(t).String()
	ana, _ := groupEngine(t, addr)
	gid, err := ana.GroupCreate(ctx, GroupOptions{Name: "river", As: "ana"})
	if err != nil {
		t.Fatal(err)
	}
	if info, _ := ana.Chat(ctx, gid); info.Notice != "" {
		t.Fatalf("a new group's notice: %q", info.Notice)
	}
	err = ana.withGroup(ctx, gid, func(g *groupState, _ *groupRecord, _ *conn.Conn, _ *vault.Chat) ([]Event, error) {
		g.cutOff, g.cutOffBy = true, "mal"
		return nil, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	groupSync(t, ana)
	info, err := ana.Chat(ctx, gid)
	if err != nil || info.Removed || !strings.Contains(info.Notice, "cut off: a change by mal") {
		t.Fatalf("the cut-off member's chat: %+v, %v", info, err)
	}
}
