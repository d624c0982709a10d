package client

import (
	"testing"

	"veil/client/internal/format"
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

// updateWithLogID has member m commit, by hand, an honest update of its
// own keys for the epoch after l, except that mangle changes its sealed
// log ID.
func updateWithLogID(t *testing.T, m *member, l *groupLog, mangle func([]byte)) {
	t.Helper()
	handUpdate(t, m, l, nil, mangle)
}
