package client

import (
	"context"
	"testing"

	"veil/client/internal/format"
	"veil/crypto"
	"veil/ratchet"
)

// TestBadLogIDCommitIgnored attacks SECURITY.md "A malicious group member
// ... Cannot make a roster change apply unless it is an admin" and
// spec/groups.md §6.3. mal, who is not an admin, commits an update whose
// shares are all honest and match the commitment, but whose sealed log ID
// does not open. The commitment makes every member open the same secret,
// so the log ID fails alike for all: a fault of the commit, not of one
// member's share. Were it taken for a bad share, every member, the admin
// too, would mark itself cut off and the admin could not even remove mal;
// instead every member ignores the commit, and the admin removes mal.
func TestBadLogIDCommitIgnored(t *testing.T) {
	t.Parallel()
	ms := newTestGroup(t, 3)
	ana, ben, mal := ms[0], ms[1], ms[2]
	updateWithLogID(t, mal, &mal.g.cur, func(id []byte) { id[len(id)-1] ^= 1 })
	evs := ana.poll(t)
	ben.poll(t)
	if ana.g.cutOff && ben.g.cutOff {
		t.Errorf("one member's update with a sealed log ID that opens for no one cut off every member, the admin too: %q", warnings(evs))
	}
	k := mal.g.sign.Public()
	ana.g.propose(groupIntent{Change: format.ChangeRemove, Target: k[:]})
	ana.settle(t)
	ben.poll(t)
	if ana.g.cur.roster.Index(mal.g.sign.Public()) >= 0 && ana.g.cur.roster.Epoch < 3 {
		t.Errorf("the admin cannot remove the member who sent a commit no one can follow: ana in epoch %d, cut off %v", ana.g.cur.roster.Epoch, ana.g.cutOff)
	}
}

func updateWithLogID(t *testing.T, m *member, l *groupLog, mangle func([]byte)) {
	t.Helper()
	ctx := context.Background()
	nk, err := newMemberKeys(ratchet.Config{})
	if err != nil {
		t.Fatal(err)
	}
	self := l.roster.Index(m.g.sign.Public())
	e := l.roster.Members[self]
	e.Sign, e.Seal, e.Kem = nk.sign.Public(), nk.seal.Public(), nk.kem.Public()
	op, err := format.UpdateOperand(self, &e)
	if err != nil {
		t.Fatal(err)
	}
	cm, next, err := format.MakeCommit(l.roster, format.ChangeUpdate, op)
	if err != nil {
		t.Fatal(err)
	}
	secret, err := crypto.NewSymKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	seals := make([]ratchet.SealRecipient, len(next.Members))
	for i, mm := range next.Members {
		seals[i] = ratchet.SealRecipient{DH: mm.Seal, KEM: mm.Kem}
	}
	if cm.Sealed, err = ratchet.SealEpochSecret(&secret, ratchet.EpochContext(next.GroupID, next.Epoch), seals, nil); err != nil {
		t.Fatal(err)
	}
	cm.CommitSecret(&secret, next)
	nl, err := m.g.newLog(ctx, m.c, next, &secret, nk.sign)
	if err != nil {
		t.Fatal(err)
	}
	if cm.LogID, err = nl.epoch.SealLogID(nl.id); err != nil {
		t.Fatal(err)
	}
	mangle(cm.LogID)
	cm.Sign(m.g.sign, l.epoch.Context())
	parts, err := format.SplitCommit(cm.Marshal())
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range parts {
		p.Conf = format.ConfTag(l.conf)
		m.inject(t, p)
	}
}

// TestReview2BadShareForAdminsLeavesGroupWithoutAdmin: the stealthy form
// of TestReview2AllBadSharesFreezesGroup. mal's update gives only the
// admin a bad share: the others move on with mal, the admin is cut off and
// commits nothing, so the group goes on with no admin who can remove mal.
