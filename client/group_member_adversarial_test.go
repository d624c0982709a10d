package client

import (
	"context"
	"strings"
	"testing"

	"veil/client/internal/format"
	"veil/crypto"
	"veil/ratchet"
	"veil/relay/wire"
)

// Adversarial tests of what a group promises against its own members and
// against a copier of its invite key: each builds its attack by hand
// against real relays on 127.0.0.1.

// TestForgedHeaderRaisesTheftAlarm attacks spec/groups.md §4.2 ("the
// signature is what makes a message the sender's") and §3.6/§12 (an entry
// under our signing key that we never wrote means a copy of our keys): any
// member holds the epoch's header key and can write a header naming
// another member's key over a signature that does not verify. The victim's
// client must not take it for its own message and tell its user that its
// group keys were stolen.
func TestForgedHeaderRaisesTheftAlarm(t *testing.T) {
	t.Parallel()
	ms := newTestGroup(t, 3)
	ana, mal := ms[0], ms[2]
	pt, err := (&format.GroupEnvelope{Type: format.GenvText, Conf: format.ConfTag(mal.g.cur.conf), Text: "x"}).Marshal()
	if err != nil {
		t.Fatal(err)
	}
	body, err := mal.g.cur.epoch.Encrypt(pt)
	if err != nil {
		t.Fatal(err)
	}
	// The header key from mal's own state (spec/groups.md §4.4: 0x01 ||
	// ctx || hk || …): every member holds it.
	st := mal.g.cur.epoch.Marshal()
	var hk crypto.SymKey
	copy(hk[:], st[1+ratchet.EpochContextSize:])
	gctx := mal.g.cur.epoch.Context()
	anaKey := ana.g.sign.Public()
	hdr, err := crypto.SealX(nil, &hk, append(anaKey[:], 0, 0, 0, 0), gctx[:], nil)
	if err != nil {
		t.Fatal(err)
	}
	copy(body[1:], hdr)
	w, _ := mal.g.cur.epoch.Caps()
	if _, err := mal.c.Append(context.Background(), mal.g.cur.id, (*[wire.CapSize]byte)(&w), body); err != nil {
		t.Fatal(err)
	}
	ws := warnings(ana.poll(t))
	for _, s := range ws {
		if strings.Contains(s, "with your keys") {
			t.Fatalf("a member's unsigned header made the victim's client say its keys were stolen: %q", s)
		}
	}
	if len(ws) == 0 {
		t.Error("the forged entry was dropped without the warning every unauthenticated entry gets")
	}
}

// TestNickImitatesKeySuffix attacks spec/groups.md §14.1 ("an admin's
// client lets no one join under a nickname that reads as a member's") and
// §14.2 (look-alike nicknames are told apart by "nick#key"): a joiner may
// call itself "m0#<m0's key suffix>", the very string m0 is shown as once
// its name is ambiguous, and is then shown bare under it.
func TestNickImitatesKeySuffix(t *testing.T) {
	t.Parallel()
	ms := newTestGroup(t, 2)
	r := ms[0].g.cur.roster
	fake := r.Members[0].Nick + "#" + memberKey(r.Members[0].Sign)
	if why := ms[0].g.joinNickRefusal(fake); why == "" {
		t.Errorf("the admin admits a joiner as %q, the name member %q is shown as with its key", fake, r.Members[0].Nick)
	}
	// Where m0's name is ambiguous (a look-alike added by a concurrent
	// admin, which §14.1 allows for), two members show the same name.
	rr := r.Clone()
	for _, nick := range []string{"M0", fake} {
		s, d, q, err := newGroupKeys(ratchet.Config{})
		if err != nil {
			t.Fatal(err)
		}
		rr.Members = append(rr.Members, format.Member{Sign: s.Public(), Seal: d.Public(), Kem: q.Public(), Role: format.RoleMember, Nick: nick})
	}
	names := memberNames(rr)
	seen := map[string]int{}
	for i, n := range names {
		if j, ok := seen[n]; ok {
			t.Errorf("members %d and %d are both shown as %q", j, i, n)
		}
		seen[n] = i
	}
}
