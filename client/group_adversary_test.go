package client

import (
	"context"
	mrand "math/rand/v2"
	"testing"

	"veil/client/internal/format"
	"veil/crypto"
	"veil/ratchet"
)

// Helpers of the adversarial group tests: attacks built by hand against
// real relays on 127.0.0.1.

// maliciousUpdate has member m commit, by hand, an update of its own keys
// for the epoch after l (a roster m is in), whose sealed list gives the
// members at the indexes in other a share of another secret than the one
// the commit's log is sealed under. The commit is signed correctly and
// verifies for every member. It returns the epoch the honest shares make.
func maliciousUpdate(t *testing.T, m *member, l *groupLog, other ...int) *groupLog {
	t.Helper()
	return handUpdate(t, m, l, other, nil)
}

// handUpdate is maliciousUpdate, and when mangle is set it also changes
// the commit's sealed log ID before the commit is signed.
func handUpdate(t *testing.T, m *member, l *groupLog, other []int, mangle func([]byte)) *groupLog {
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
	good, err := crypto.NewSymKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	bad, err := crypto.NewSymKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	seals := make([]ratchet.SealRecipient, len(next.Members))
	for i, mm := range next.Members {
		seals[i] = ratchet.SealRecipient{DH: mm.Seal, KEM: mm.Kem}
	}
	ectx := ratchet.EpochContext(next.GroupID, next.Epoch)
	// The same randomness for both lists: the same ephemeral key E and
	// encapsulations, so a share of one list fits into the other.
	var seed [32]byte
	if err := crypto.RandomBytes(nil, seed[:]); err != nil {
		t.Fatal(err)
	}
	sealed, err := ratchet.SealEpochSecret(&good, ectx, seals, mrand.NewChaCha8(seed))
	if err != nil {
		t.Fatal(err)
	}
	other2, err := ratchet.SealEpochSecret(&bad, ectx, seals, mrand.NewChaCha8(seed))
	if err != nil {
		t.Fatal(err)
	}
	w := ratchet.SealedEpochSize(1) - crypto.KeySize
	for _, i := range other {
		off := crypto.KeySize + i*w
		copy(sealed[off:off+w], other2[off:off+w])
	}
	cm.Sealed = sealed
	cm.CommitSecret(&good, next)
	nl, err := m.g.newLog(ctx, m.c, next, &good, nk.sign)
	if err != nil {
		t.Fatal(err)
	}
	if cm.LogID, err = nl.epoch.SealLogID(nl.id); err != nil {
		t.Fatal(err)
	}
	if mangle != nil {
		mangle(cm.LogID)
	}
	cm.Sign(m.g.sign, l.epoch.Context())
	parts, err := format.SplitCommit(cm.Marshal())
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range parts {
		p.Conf = format.ConfTag(l.conf)
		m.inject(t, p)
	}
	return nl
}

func warnings(evs []Event) (out []string) {
	for _, e := range evs {
		if e.Type == EventWarning {
			out = append(out, e.Err)
		}
	}
	return out
}
