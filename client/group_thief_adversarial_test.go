package client

import (
	"strings"
	"testing"

	"veil/client/internal/format"
)

// TestThiefLeaveAfterUpdateRemovesVictim attacks spec/groups.md §12
// ("After the victim's next update commit ... the stolen s signs nothing
// anyone accepts in the new epoch") through the old-key credit of §7.2.
// The victim updates its keys, reads its commit back and appends its NEXT
// to the old log: from then on its client writes nothing more there. The
// thief, holding the old keys, appends a text and a LEAVE to the old log
// after that NEXT. The admin, draining the old log, must not credit them
// to the victim's new key: an entry under the old key that follows the
// updater's own NEXT cannot be the updater's.
func TestThiefLeaveAfterUpdateRemovesVictim(t *testing.T) {
	t.Parallel()
	ms := newTestGroup(t, 4)
	admin, victim := ms[0], ms[1]
	thief := victim.copyOf(t, ms[3])
	victim.g.propose(groupIntent{Change: format.ChangeUpdate})
	victim.settle(t)
	if victim.g.cur.roster.Epoch != 2 {
		t.Fatal("the update did not apply")
	}
	// After the victim's NEXT, in epoch 1's log, under the stolen key, at
	// message numbers past the victim's own (its commit and its NEXT).
	for range 8 {
		if _, err := thief.g.cur.epoch.Encrypt([]byte("skip")); err != nil {
			t.Fatal(err)
		}
	}
	thief.inject(t, &format.GroupEnvelope{Conf: format.ConfTag(thief.g.cur.conf), Type: format.GenvText, Text: "thief speaking"})
	thief.inject(t, &format.GroupEnvelope{Conf: format.ConfTag(thief.g.cur.conf), Type: format.GenvLeave})
	evs := admin.settle(t)
	evs = append(evs, admin.settle(t)...)
	for _, e := range evs {
		if e.Type == EventMessage && e.Text == "thief speaking" {
			t.Errorf("the admin shows the thief's text, written in the old log after the victim's own NEXT, as %s's", e.From)
		}
	}
	if admin.g.cur.roster.Index(victim.g.sign.Public()) < 0 {
		t.Errorf("the thief's LEAVE under the old key, after the victim's update and NEXT, removed the healed victim (epoch %d)", admin.g.cur.roster.Epoch)
	}
	warned := false
	for _, w := range warnings(evs) {
		if strings.Contains(w, "old keys") {
			warned = true
		}
	}
	if !warned {
		t.Errorf("the admin dropped the thief's entries without a warning: %q", warnings(evs))
	}
}

// TestZeroNextFromMemberThatFollowed: a zero NEXT is the word of its
// writer alone. mal applies ana's honest commit and writes in the new
// epoch with the right confirmation tag, and also appends a zero NEXT to
// the old log. A reader that reads the NEXT first shows it as mal's claim,
// never as a fact; one that has already read mal in the new epoch with its
// own tag holds the proof that the claim is false and does not show it.
func TestZeroNextFromMemberThatFollowed(t *testing.T) {
	t.Parallel()
	ms := newTestGroup(t, 4)
	ana, ben, cat, mal := ms[0], ms[1], ms[2], ms[3]
	ana.change(t, format.ChangePromote, "m1")
	old := mal.g.cur
	mal.poll(t)
	if mal.g.cur.roster.Epoch != 2 {
		t.Fatalf("mal did not move: epoch %d", mal.g.cur.roster.Epoch)
	}
	mal.send(t, "I followed")
	// cat reads mal in epoch 2 before the claim.
	cevs := cat.poll(t)
	cevs = append(cevs, cat.poll(t)...)
	// A zero NEXT in epoch 1's log, sealed under mal's epoch-1 key.
	cur := mal.g.cur
	mal.g.cur = old
	mal.inject(t, &format.GroupEnvelope{Conf: format.ConfTag(old.conf), Type: format.GenvNext})
	mal.g.cur = cur
	evs := ben.poll(t)
	evs = append(evs, ben.poll(t)...)
	if ben.g.cur.roster.Epoch != 2 {
		t.Fatalf("ben did not move: epoch %d", ben.g.cur.roster.Epoch)
	}
	got := false
	for _, e := range evs {
		if e.Type == EventMessage && e.Text == "I followed" {
			got = true
		}
	}
	if !got {
		t.Fatalf("ben did not read mal's text in epoch 2: %+v", evs)
	}
	w := strings.Join(warnings(evs), "\n")
	if strings.Contains(w, "m3 could not follow") {
		t.Errorf("ben shows mal's claim that it could not follow m0's change as a fact: %q", w)
	}
	if !strings.Contains(w, "m3 says it could not follow m0's change") {
		t.Errorf("ben does not show mal's zero NEXT as its claim: %q", w)
	}
	cevs = append(cevs, cat.poll(t)...)
	if w := strings.Join(warnings(cevs), "\n"); strings.Contains(w, "could not follow") {
		t.Errorf("cat, which read mal in epoch 2 with its own tag, still shows mal's claim: %q", w)
	}
}
