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
	"veil/ratchet"
	"veil/relay"
	"veil/relay/wire"
)

// These tests attack the ordering and assembly of roster changes
// (spec/groups.md §3.4, §6.3): commits read part by part across polls and
// restarts, parts injected by a malicious member, and admins who commit
// at the same moment. Every member is a real groupState reading a real
// relay on 127.0.0.1.

// newTestGroup makes a group of n members in epoch 1, member 0 its admin,
// every member's state derived from one secret as a welcome would give
// it. Members share connections: admin and the last member have their
// own, the others one between them.
func newTestGroup(t testing.TB, n int) []*member {
	t.Helper()
	ctx := context.Background()
	a := startGroupRelay(t, func(c *relay.Config) { c.Limits.Rate, c.Limits.Burst = 1e6, 1e6 })
	shared := dialGroupRelay(t, a)
	r := &format.Roster{Epoch: 1, Settings: format.Settings{Name: "test"}}
	if err := crypto.RandomBytes(nil, r.GroupID[:]); err != nil {
		t.Fatal(err)
	}
	ms := make([]*member, n)
	for i := range n {
		s, d, q, err := newGroupKeys(ratchet.Config{})
		if err != nil {
			t.Fatal(err)
		}
		ms[i] = &member{g: &groupState{sign: s, seal: d, kem: q, ttl: defaultGroupLogTTL}, c: shared}
		r.Members = append(r.Members, format.Member{Sign: s.Public(), Seal: d.Public(), Kem: q.Public(), Role: format.RoleMember, Nick: fmt.Sprint("m", i)})
	}
	r.Members[0].Role = format.RoleAdmin
	ms[0].c, ms[n-1].c = dialGroupRelay(t, a), dialGroupRelay(t, a)
	secret, err := crypto.NewSymKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	rh, err := r.Hash()
	if err != nil {
		t.Fatal(err)
	}
	var logID crypto.ID
	for i, m := range ms {
		ep, err := newEpoch(ratchet.Config{}, &secret, r, m.g.sign)
		if err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			if logID, err = createLog(ctx, m.c, ep, defaultGroupLogTTL, nil); err != nil {
				t.Fatal(err)
			}
		}
		m.g.cur = groupLog{epoch: ep, roster: r, id: logID, conf: format.FirstConfirm(rh)}
	}
	return ms
}

// reload stores m's state as the engine does and loads it again: a
// restart between two polls.
func (m *member) reload(t testing.TB) {
	t.Helper()
	rec := &groupRecord{Relay: "test", Nick: "x"}
	b, err := m.g.save(rec)
	if err != nil {
		t.Fatal(err)
	}
	var back groupRecord
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	g, _, err := loadGroup(ratchet.Config{}, b)
	if err != nil {
		t.Fatal(err)
	}
	m.g = g
}

// inject appends a group envelope from m to its current log, built by hand.
func (m *member) inject(t testing.TB, env *format.GroupEnvelope) {
	t.Helper()
	pt, err := env.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	body, err := m.g.cur.epoch.Encrypt(pt)
	if err != nil {
		t.Fatal(err)
	}
	w, _ := m.g.cur.epoch.Caps()
	if _, err := m.c.Append(context.Background(), m.g.cur.id, (*[wire.CapSize]byte)(&w), body); err != nil {
		t.Fatal(err)
	}
}

// TestGroupRemovalUnderPollingAndInjection: in a group of 1,000 an admin
// removes a member with a commit of many parts, uploaded one at a time.
// Between every two parts the members read the log, one of them restarts
// from its stored state, and a malicious member injects commit parts: one
// naming the genuine commit's hash and index with other bytes, one of a
// commit claiming the most parts, a whole commit of its own signed by a
// member who is not an admin, and a copy of the admin's real part. Every
// remaining member reaches the new epoch with the admin's confirmation
// value; the removed member reads nothing sent after.
func TestGroupRemovalUnderPollingAndInjection(t *testing.T) {
	t.Parallel()
	n, pollers := ratchet.MaxGroupMembers, 1000
	if testing.Short() {
		// A removal in several parts all the same (.ci/full runs the
		// largest group); the rest read once, after the commit.
		n, pollers = 100, 12
	}
	ctx := context.Background()
	ms := newTestGroup(t, n)
	admin, mallory, victim := ms[0], ms[n-1], ms[1]
	admin.send(t, "before")
	for _, m := range ms[1:pollers] {
		m.poll(t)
	}

	admin.g.deferUploads = true // parts wait in g.out; the test uploads them one by one
	vk := victim.g.sign.Public()
	admin.g.propose(groupIntent{Change: format.ChangeRemove, Target: vk[:]})
	if _, err := admin.g.commitNext(ctx, admin.c); err != nil {
		t.Fatal(err)
	}
	parts := append([]pendingAppend(nil), admin.g.out...)
	if len(parts) < 2 || admin.g.pending == nil {
		t.Fatalf("the removal went in %d parts", len(parts))
	}
	admin.g.out = nil
	hash := [32]byte(admin.g.pending.Hash)
	for i, p := range parts {
		id, _ := crypto.ParseID(p.Log)
		if _, err := admin.c.Append(ctx, id, (*[wire.CapSize]byte)(p.Cap), p.Body); err != nil {
			t.Fatal(err)
		}
		switch i {
		case 0:
			forged := &format.GroupEnvelope{Conf: format.ConfTag(mallory.g.cur.conf), Type: format.GenvCommit, Hash: hash, Part: 1, Parts: byte(len(parts)), Bytes: bytes.Repeat([]byte{0xee}, 100)}
			mallory.inject(t, forged)
			mallory.inject(t, &format.GroupEnvelope{Conf: format.ConfTag(mallory.g.cur.conf), Type: format.GenvCommit, Hash: [32]byte{1}, Part: 0, Parts: format.MaxCommitParts, Bytes: []byte{1}})
		case 1:
			// A whole commit from a member who is not an admin: it
			// removes another member.
			cm, _, err := format.MakeCommit(mallory.g.cur.roster, format.ChangeRemove, format.IndexOperand(2))
			if err != nil {
				t.Fatal(err)
			}
			cm.Sign(mallory.g.sign, mallory.g.cur.epoch.Context())
			fparts, err := format.SplitCommit(cm.Marshal())
			if err != nil {
				t.Fatal(err)
			}
			for _, fp := range fparts {
				fp.Conf = format.ConfTag(mallory.g.cur.conf)
				mallory.inject(t, fp)
			}
			// and a copy of the admin's first part, appended again.
			p0, _ := crypto.ParseID(parts[0].Log)
			if _, err := mallory.c.Append(ctx, p0, (*[wire.CapSize]byte)(parts[0].Cap), parts[0].Body); err != nil {
				t.Fatal(err)
			}
		}
		for j, m := range ms[1:pollers] {
			if m == mallory {
				continue
			}
			if j == 3 {
				m.reload(t)
			}
			m.poll(t)
			if i < len(parts)-1 && m.g.cur.roster.Epoch != 1 {
				t.Fatalf("member %d moved before the last part", j+1)
			}
		}
	}
	admin.g.deferUploads = false
	admin.settle(t)
	if admin.g.cur.roster.Epoch != 2 || admin.g.cur.roster.Index(victim.g.sign.Public()) >= 0 {
		t.Fatalf("the admin is in epoch %d", admin.g.cur.roster.Epoch)
	}
	admin.send(t, "after")
	for j, m := range ms[1:] {
		if m == victim {
			continue
		}
		if j+1 >= pollers && testing.Short() && j%10 != 0 {
			continue
		}
		evs := m.poll(t)
		if m.g.cur.roster.Epoch == 1 {
			evs = append(evs, m.poll(t)...) // the read bound stopped the first
		}
		if m.g.cur.roster.Epoch != 2 || m.g.cur.conf != admin.g.cur.conf || m.g.cur.id != admin.g.cur.id {
			for _, a := range m.g.asm.List {
				t.Logf("assembly from %x: %d of %d", a.Sender[:4], a.Have(), len(a.Parts))
			}
			t.Fatalf("member %d is in epoch %d (%+v)", j+1, m.g.cur.roster.Epoch, evs)
		}
		if m == mallory {
			continue
		}
		if got := append(texts(evs), texts(m.poll(t))...); j+1 < pollers && (len(got) != 1 || got[0] != "m0: after") {
			t.Fatalf("member %d read %q in epoch 2 (%+v)", j+1, got, evs)
		}
	}
	evs := victim.poll(t)
	if !victim.g.removed || len(texts(evs)) != 0 {
		t.Fatalf("the removed member: removed %v, read %q", victim.g.removed, texts(evs))
	}
}

// TestGroupConcurrentAdmins: two admins commit for the same epoch at the
// same moment, each after reading the same LEAVE and each with a change
// of its own; messages go out in between. One chain of epochs results for
// everyone, the LEAVE is committed once, both changes apply, and nothing
// sent is lost.
func TestGroupConcurrentAdmins(t *testing.T) {
	t.Parallel()
	ms := newTestGroup(t, 6)
	ana, ben, cat, dan, eve := ms[0], ms[1], ms[2], ms[3], ms[4]
	ana.change(t, format.ChangePromote, "m1")
	for _, m := range ms[1:] {
		m.poll(t)
	}
	if !ben.g.isAdmin() {
		t.Fatal("ben is not an admin")
	}
	start := ana.g.cur.roster.Epoch
	// cat leaves; both admins read the LEAVE.
	if err := cat.g.append(context.Background(), cat.c, &format.GroupEnvelope{Type: format.GenvLeave}); err != nil {
		t.Fatal(err)
	}
	cat.g.gone = true
	ana.poll(t)
	ben.poll(t)
	// Each also wants a change of its own: ana promotes dan, ben removes eve.
	dk, ek := dan.g.sign.Public(), eve.g.sign.Public()
	ana.g.propose(groupIntent{Change: format.ChangePromote, Target: dk[:]})
	ben.g.propose(groupIntent{Change: format.ChangeRemove, Target: ek[:]})
	ctx := context.Background()
	for _, m := range []*member{ana, ben} {
		if _, err := m.g.commitNext(ctx, m.c); err != nil {
			t.Fatal(err)
		}
	}
	ana.send(t, "ana while pending")
	ben.send(t, "ben while pending")
	var read []string
	for range 6 {
		for _, m := range []*member{ana, ben, dan, ms[5]} {
			evs := m.settle(t)
			if m == dan {
				read = append(read, texts(evs)...)
			}
		}
	}
	if len(read) != 2 {
		t.Fatalf("dan read %q of the two messages sent while the commits were pending", read)
	}
	for _, m := range []*member{ana, ben, dan, ms[5]} {
		if m.g.pending != nil || len(m.g.intents) != 0 {
			t.Fatalf("%s still has changes waiting", m.g.self().Nick)
		}
		if m.g.cur.conf != ana.g.cur.conf || m.g.cur.id != ana.g.cur.id {
			t.Fatalf("%s is on another branch (epoch %d, ana %d)", m.g.self().Nick, m.g.cur.roster.Epoch, ana.g.cur.roster.Epoch)
		}
	}
	r := ana.g.cur.roster
	if got := r.Epoch - start; got != 3 {
		t.Fatalf("%d commits for a leave and two changes", got)
	}
	if r.Index(cat.g.sign.Public()) >= 0 || r.Index(eve.g.sign.Public()) >= 0 || r.Members[r.Index(dan.g.sign.Public())].Role != format.RoleAdmin {
		t.Fatal("a change is missing from the final roster")
	}
}

// copyOf returns a member holding a copy of m's stored state, on its own
// connection: a thief who copied an unlocked vault.
func (m *member) copyOf(t testing.TB, c *member) *member {
	t.Helper()
	b, err := m.g.save(&groupRecord{Relay: "test", Nick: "x"})
	if err != nil {
		t.Fatal(err)
	}
	g, _, err := loadGroup(ratchet.Config{}, b)
	if err != nil {
		t.Fatal(err)
	}
	return &member{g: g, c: c.c}
}

// TestGroupStolenStateHealsAfterUpdate: a thief with a copy of a member's
// group state reads the group until that member's next update commit and
// nothing sent after it; a member who is not an admin may update.
func TestGroupStolenStateHealsAfterUpdate(t *testing.T) {
	t.Parallel()
	ms := newTestGroup(t, 4)
	admin, victim := ms[0], ms[1]
	thief := victim.copyOf(t, ms[3])
	admin.send(t, "one")
	if got := texts(thief.poll(t)); len(got) != 1 {
		t.Fatalf("the thief read %q before the update", got)
	}
	victim.poll(t)
	old := victim.g.sign.Public()
	victim.g.propose(groupIntent{Change: format.ChangeUpdate})
	victim.settle(t)
	if victim.g.cur.roster.Epoch != 2 || victim.g.sign.Public() == old || victim.g.cur.roster.Index(victim.g.sign.Public()) != 1 {
		t.Fatal("the update did not apply")
	}
	admin.poll(t) // reads the update first, as a send does
	admin.send(t, "two")
	for _, m := range ms[2:] {
		m.poll(t)
	}
	if got := texts(admin.poll(t)); admin.g.cur.conf != victim.g.cur.conf {
		t.Fatalf("the admin is on another branch (%q)", got)
	}
	if got := texts(victim.poll(t)); len(got) != 1 || got[0] != "m0: two" {
		t.Fatalf("the victim read %q after its update", got)
	}
	evs := thief.poll(t)
	if got := texts(evs); len(got) != 0 || thief.g.cur.roster.Epoch != 1 {
		t.Fatalf("the thief read %q after the update (epoch %d)", got, thief.g.cur.roster.Epoch)
	}
	// The thief's copy holds the old epoch's capabilities only: the new
	// log's entries do not open with them.
	_, rc := victim.g.cur.epoch.Caps()
	es, err := ms[2].c.ReadLog(context.Background(), victim.g.cur.id, (*[wire.CapSize]byte)(&rc), 0, 10)
	if err != nil || len(es) == 0 {
		t.Fatal(err)
	}
	for _, en := range es {
		if _, _, err := thief.g.cur.epoch.Decrypt(en.Body); err == nil {
			t.Fatal("the thief's state opened an entry of the new epoch")
		}
	}
}

// TestGroupThiefUpdatesFirst: a thief who uses the copy to update the
// victim's keys first takes its place; the victim reads entries under its
// own key that it never wrote, and is told.
func TestGroupThiefUpdatesFirst(t *testing.T) {
	t.Parallel()
	ms := newTestGroup(t, 3)
	victim := ms[1]
	thief := victim.copyOf(t, ms[2])
	thief.g.propose(groupIntent{Change: format.ChangeUpdate})
	thief.settle(t)
	evs := victim.poll(t)
	if !hasEventType(evs, EventWarning) {
		t.Fatalf("the victim after the thief's update: %+v", evs)
	}
	// Its own entries read back raise nothing.
	victim.send(t, "mine")
	if evs := victim.poll(t); len(evs) != 0 {
		t.Fatalf("the victim's own entry: %+v", evs)
	}
}

// TestGroupQueuedTextFollowsTheEpoch: a message queued in one epoch that
// goes out after the member read a removal is sealed again in the new
// epoch: the others read it there, the removed member cannot.
func TestGroupQueuedTextFollowsTheEpoch(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	ms := newTestGroup(t, 4)
	admin, victim, ben := ms[0], ms[1], ms[2]
	ben.g.deferUploads = true
	if err := ben.g.append(ctx, ben.c, &format.GroupEnvelope{Type: format.GenvText, Text: "queued"}); err != nil {
		t.Fatal(err)
	}
	admin.change(t, format.ChangeRemove, "m1")
	ben.poll(t) // reads the removal: the queued entry is now of the old epoch
	if ben.g.cur.id != admin.g.cur.id {
		t.Fatalf("ben is in epoch %d, the admin in %d", ben.g.cur.roster.Epoch, admin.g.cur.roster.Epoch)
	}
	if err := ben.g.reseal(); err != nil {
		t.Fatal(err)
	}
	if err := ben.g.flushOut(ctx, ben.c); err != nil {
		t.Fatal(err)
	}
	if got := texts(admin.poll(t)); len(got) != 1 || got[0] != "m2: queued" {
		t.Fatalf("the admin read %q", got)
	}
	evs := victim.poll(t)
	if got := texts(evs); len(got) != 0 || !victim.g.removed {
		t.Fatalf("the removed member read %q", got)
	}
	// Nothing of it went to the old log either.
	for _, m := range []*member{victim} {
		if got := texts(m.poll(t)); len(got) != 0 {
			t.Fatalf("the removed member read %q later", got)
		}
	}
}

// TestGroupSenderNamesTellLookAlikesApart: where two members' nicknames
// look alike (a roster an honest admin would not have made), messages and
// warnings name each with its key suffix.
func TestGroupSenderNamesTellLookAlikesApart(t *testing.T) {
	t.Parallel()
	ms := newTestGroup(t, 3)
	r := ms[0].g.cur.roster.Clone()
	r.Members[1].Nick, r.Members[2].Nick = "ana", "\u0430na" // Latin, then Cyrillic a
	l := &groupLog{roster: r}
	a, b := l.name(1), l.name(2)
	if a == b || !strings.HasPrefix(a, "ana#") || !strings.Contains(b, "#") {
		t.Fatalf("look-alikes shown as %q and %q", a, b)
	}
	if got := l.name(0); got != "m0" {
		t.Fatalf("a distinct nickname shown as %q", got)
	}
}
