package client

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"veil/client/internal/format"
	"veil/crypto"
	"veil/relay/wire"
)

// Adversarial tests of what a member can make another member's client
// do by writing to the group's log (spec/groups.md §6.2, §6.3, §12).

// floodUnreadable has member m append n entries its readers cannot use,
// in turn: an entry whose signature does not verify, a signed entry that
// is no envelope, a BURN from a member who is not an admin, a one-part
// commit whose bytes do not match its hash, and one whose bytes hash
// right but are no commit. It returns how many of them are signed by m
// (the others are signed by nobody).
func floodUnreadable(t *testing.T, m *member, n int) (signed int) {
	t.Helper()
	ctx := context.Background()
	w, _ := m.g.cur.epoch.Caps()
	conf := format.ConfTag(m.g.cur.conf)
	junk := []byte("not a commit")
	for i := range n {
		var pt []byte
		var err error
		switch i % 5 {
		case 0, 1:
			pt = []byte{0xff, byte(i)}
		case 2:
			pt, err = (&format.GroupEnvelope{Conf: conf, Type: format.GenvBurn}).Marshal()
		case 3:
			pt, err = (&format.GroupEnvelope{Conf: conf, Type: format.GenvCommit, Hash: [32]byte{byte(i), byte(i >> 8)}, Parts: 1, Bytes: junk}).Marshal()
		case 4:
			pt, err = (&format.GroupEnvelope{Conf: conf, Type: format.GenvCommit, Hash: format.CommitHash(junk), Parts: 1, Bytes: junk}).Marshal()
		}
		if err != nil {
			t.Fatal(err)
		}
		body, err := m.g.cur.epoch.Encrypt(pt)
		if err != nil {
			t.Fatal(err)
		}
		if i%5 == 0 {
			body[len(body)-1] ^= 1 // the signature no longer verifies
		} else {
			signed++
		}
		if _, err := m.c.Append(ctx, m.g.cur.id, (*[wire.CapSize]byte)(&w), body); err != nil {
			t.Fatal(err)
		}
	}
	return signed
}

// TestGroupWarningFloodIsBounded attacks spec/groups.md §6.2 ("at most
// one warning per sender per read for the entries it cannot use"): a
// member writes thousands of entries the victim cannot use, around an
// honest member's messages. The victim reads every message, in order,
// and is told once, with the count, per sender (and once for the entries
// nobody signed), not once per entry; a second read finds nothing more.
func TestGroupWarningFloodIsBounded(t *testing.T) {
	t.Parallel()
	ms := newTestGroup(t, 3)
	ana, ben, mal := ms[0], ms[1], ms[2]
	const n = 1500 // more than one LREAD's worth (groupReadBatch)
	ana.send(t, "one")
	signed := floodUnreadable(t, mal, n)
	ana.send(t, "two")
	signed += floodUnreadable(t, mal, n)
	ana.send(t, "three")

	evs := ben.poll(t)
	if got := texts(evs); len(got) != 3 || got[0] != "m0: one" || got[1] != "m0: two" || got[2] != "m0: three" {
		t.Fatalf("ben read %q around the garbage", got)
	}
	ws := warnings(evs)
	if len(ws) > 2 {
		t.Fatalf("%d entries nobody can read made %d warnings; the first: %q", 2*n, len(ws), ws[:3])
	}
	all := strings.Join(ws, "\n")
	for _, want := range []string{
		fmt.Sprint(signed) + " entries from m2 could not be read",
		fmt.Sprint(2*n-signed) + " entries that do not authenticate",
	} {
		if !strings.Contains(all, want) {
			t.Errorf("no warning says %q: %q", want, ws)
		}
	}
	if ben.g.cur.roster.Epoch != 1 || len(ben.g.asm.List) != 0 {
		t.Errorf("the garbage left ben in epoch %d with %d commits in progress", ben.g.cur.roster.Epoch, len(ben.g.asm.List))
	}
	if again := ben.poll(t); len(again) != 0 {
		t.Errorf("a second read found %+v", again)
	}
	ana.send(t, "four")
	if got := texts(ben.poll(t)); len(got) != 1 || got[0] != "m0: four" {
		t.Errorf("after the flood ben read %q", got)
	}
}

// openAssemblies has each of the members ms start k commits of its own in
// the current log, each as long as a member's update may be and each
// with only its first part sent: assemblies its readers hold until the
// epoch ends.
func openAssemblies(t *testing.T, ms []*member, k int) {
	t.Helper()
	for i, m := range ms {
		parts := maxUpdateParts(m.g.cur.roster)
		for j := range k {
			m.inject(t, &format.GroupEnvelope{Conf: format.ConfTag(m.g.cur.conf), Type: format.GenvCommit,
				Hash: [32]byte{0xaa, byte(i), byte(j)}, Part: 0, Parts: byte(parts), Bytes: bytes.Repeat([]byte{0xcc}, format.CommitPartBytes)})
		}
	}
}

// assemblyBytes is how many commit bytes a member holds in assembly.
func assemblyBytes(g *groupState) (n int) {
	for _, a := range g.asm.List {
		for _, p := range a.Parts {
			n += len(p)
		}
	}
	return n
}

// TestGroupAssemblyFloodCannotEvictAdmin attacks spec/groups.md §6.3 ("no
// member can disturb another member's commit in progress"): while an
// admin's removal is read in parts, ten members who are not admins start
// as many commits as they can. Every honest member still assembles the
// removal and applies it, and the assemblies the colluders left are
// within the stated bound.
func TestGroupAssemblyFloodCannotEvictAdmin(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	ms := newTestGroup(t, 24)
	admin, victim, honest, colluders := ms[0], ms[1], ms[2:14], ms[14:]
	admin.g.deferUploads = true // parts wait in g.out; the test uploads them
	vk := victim.g.sign.Public()
	admin.g.propose(groupIntent{Change: format.ChangeRemove, Target: vk[:]})
	if _, err := admin.g.commitNext(ctx, admin.c); err != nil {
		t.Fatal(err)
	}
	parts := append([]pendingAppend(nil), admin.g.out...)
	admin.g.out = nil
	if len(parts) < 2 {
		t.Fatalf("the removal went in %d parts", len(parts))
	}
	for i, p := range parts {
		id, _ := crypto.ParseID(p.Log)
		if _, err := admin.c.Append(ctx, id, (*[wire.CapSize]byte)(p.Cap), p.Body); err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			openAssemblies(t, colluders, 3)
			for _, m := range honest {
				m.poll(t) // the admin's first part and the flood, read before the rest
			}
		}
	}
	admin.g.deferUploads = false
	admin.settle(t)
	if admin.g.cur.roster.Epoch != 2 {
		t.Fatalf("the admin is in epoch %d", admin.g.cur.roster.Epoch)
	}
	for _, m := range append(honest, colluders...) {
		m.poll(t)
		if m.g.cur.roster.Epoch != 2 || m.g.cur.conf != admin.g.cur.conf || m.g.cur.roster.Index(vk) >= 0 {
			t.Fatalf("%s is in epoch %d after the admin's removal (%d commits in progress)", m.g.self().Nick, m.g.cur.roster.Epoch, len(m.g.asm.List))
		}
	}

	// In the new epoch the colluders hold no more than the bound.
	openAssemblies(t, colluders, 3)
	m := honest[0]
	m.poll(t)
	if n := len(m.g.asm.List); n > format.MaxMemberAssemblies {
		t.Errorf("members who are not admins hold %d commits in progress, over %d", n, format.MaxMemberAssemblies)
	}
	if b, max := assemblyBytes(m.g), format.MaxMemberAssemblies*maxUpdateParts(m.g.cur.roster)*format.CommitPartBytes; b > max {
		t.Errorf("the colluders' assemblies hold %d bytes, over %d", b, max)
	}
	if rec, err := json.Marshal(m.g.asm); err == nil {
		t.Logf("%d colluders × 3 commits: %d assemblies, %d bytes of parts, %d bytes in the record", len(colluders), len(m.g.asm.List), assemblyBytes(m.g), len(rec))
	}
}

// TestGroupUpdateRefusedStaysInStep: members who are not admins fill the
// members' slots for commits in progress (spec/groups.md §6.3), then an
// honest member commits an update of its keys. No reader can assemble it,
// and its committer, reading it back, sees what they see: it does not
// move on alone, does not commit again in the same epoch, and makes its
// update once an admin's change has started the next.
func TestGroupUpdateRefusedStaysInStep(t *testing.T) {
	t.Parallel()
	ms := newTestGroup(t, 16) // an update in two parts
	admin, ben, colluders := ms[0], ms[1], ms[16-format.MaxMemberAssemblies:]
	if maxUpdateParts(ben.g.cur.roster) < 2 {
		t.Fatal("an update fits one part: nothing holds a slot")
	}
	openAssemblies(t, colluders, 1)
	old := ben.g.sign.Public()
	ben.g.propose(groupIntent{Change: format.ChangeUpdate})
	ben.settle(t)
	sent := len(ben.g.mine)
	ben.settle(t)
	if ben.g.cur.roster.Epoch != 1 || ben.g.pending != nil || len(ben.g.intents) != 1 || len(ben.g.mine) != sent {
		t.Fatalf("ben's refused update: epoch %d, pending %v, %d intents, %d entries sent again",
			ben.g.cur.roster.Epoch, ben.g.pending != nil, len(ben.g.intents), len(ben.g.mine)-sent)
	}
	for _, m := range ms[2:4] {
		m.poll(t)
		if m.g.cur.roster.Epoch != 1 {
			t.Fatalf("%s applied ben's update", m.g.self().Nick)
		}
	}
	admin.change(t, format.ChangePromote, "m2")
	ben.settle(t)
	ben.settle(t)
	if ben.g.cur.roster.Epoch != 3 || ben.g.sign.Public() == old {
		t.Fatalf("after the admin's change ben is in epoch %d, its keys replaced: %v", ben.g.cur.roster.Epoch, ben.g.sign.Public() != old)
	}
	// The colluders wrote their parts without keeping them as theirs, as
	// a copy of their keys would have (spec/groups.md §6.3): only the
	// honest members' views are the group's.
	for _, m := range append([]*member{admin}, ms[2:16-format.MaxMemberAssemblies]...) {
		evs := m.poll(t)
		if m.g.cur.roster.Epoch != 3 || m.g.cur.conf != ben.g.cur.conf {
			t.Fatalf("%s is in epoch %d, not with ben: %+v", m.g.self().Nick, m.g.cur.roster.Epoch, evs)
		}
	}
}
