package client

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"veil/client/internal/format"
	"veil/crypto"
	"veil/ratchet"
	"veil/relay/wire"
	"veil/vault"
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

// TestCopierForgesWelcome attacks SECURITY.md "A copier of a group invite
// key who does not take the blob ... even told [the exchange log's ID], it
// cannot get itself admitted" and spec/groups.md §9.2 ("cannot forge,
// alter or splice one"): the copier tries to read the joiner's request
// with the exchange key its copy derives, and, given the joiner's public
// keys anyway, seals a welcome key to them and a welcome of a group of its
// own; the joiner must not enter that group instead of the admin's.
func TestCopierForgesWelcome(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	a := startGroupRelay(t)
	ana, _ := groupEngine(t, a.String())
	ben, _ := groupEngine(t, a.String())
	gid, err := ana.GroupCreate(ctx, GroupOptions{Name: "river", As: "ana"})
	if err != nil {
		t.Fatal(err)
	}
	key, err := ana.GroupInvite(ctx, gid, 0)
	if err != nil {
		t.Fatal(err)
	}
	// As TestGroupInviteCopierWithoutBlob, the copier is told the
	// exchange log's ID (the relay sees it).
	var logID crypto.ID
	if err := ana.v.View(ctx, func(tx *vault.Tx) error {
		grp, err := tx.Group(gid)
		if err != nil {
			return err
		}
		_, rec, err := ana.loadGroup(tx, gid, &grp)
		if err != nil {
			return err
		}
		logID = crypto.ID(rec.Invites[0].LogID)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	cp := newCopier(t, a, key)
	gk := format.DeriveGroupInvite(cp.k.Secret[:], cp.k.Relay.Fingerprint[:], logID, nil)

	bid, err := ben.Join(ctx, key, JoinOptions{As: "ben"})
	if err != nil {
		t.Fatal(err)
	}
	es, err := cp.c.ReadLog(ctx, logID, &gk.Read, 0, groupReadBatch)
	if err != nil || len(es) == 0 {
		t.Fatalf("reading the exchange log: %d entries, %v", len(es), err)
	}
	for _, en := range es {
		if _, err := format.OpenBlob(&gk.Key, logID, en.Body, format.LabelGroupRequestAD); err == nil {
			t.Error("the copier read the join request")
		}
	}
	// The joiner's public keys, as if the copier learned them elsewhere.
	var joiner *format.Member
	if err := ben.withGroupOffline(ctx, bid, func(g *groupState) error {
		joiner = &format.Member{Sign: g.sign.Public(), Seal: g.seal.Public(), Kem: g.kem.Public(), Role: format.RoleMember, Nick: "ben"}
		return nil
	}); err != nil {
		t.Fatal(err)
	}

	// mallory's own group, named as ana's, with ben in it.
	ms, d, q, err := newGroupKeys(ratchet.Config{})
	if err != nil {
		t.Fatal(err)
	}
	r := &format.Roster{Epoch: 1, Settings: format.Settings{Name: "river"}, Members: []format.Member{
		{Sign: ms.Public(), Seal: d.Public(), Kem: q.Public(), Role: format.RoleAdmin, Nick: "ana"}, *joiner}}
	if err := crypto.RandomBytes(nil, r.GroupID[:]); err != nil {
		t.Fatal(err)
	}
	secret, err := crypto.NewSymKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	ep, err := newEpoch(ratchet.Config{}, &secret, r, ms)
	if err != nil {
		t.Fatal(err)
	}
	fakeLog, err := createLog(ctx, cp.c, ep, defaultGroupLogTTL, nil)
	if err != nil {
		t.Fatal(err)
	}
	rb, err := r.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	rh, err := r.Hash()
	if err != nil {
		t.Fatal(err)
	}
	conf := format.FirstConfirm(rh)
	bodies, err := buildWelcome(&gk, logID, joiner, &format.GroupWelcome{Roster: rb, Secret: secret, LogID: fakeLog, Conf: conf}, conf, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range bodies {
		if _, err := cp.c.Append(ctx, logID, &gk.Write, b); err != nil {
			t.Fatal(err)
		}
	}

	if err := ben.GroupSync(ctx); err != nil {
		t.Fatal(err)
	}
	if err := ana.GroupSync(ctx); err != nil {
		t.Fatal(err)
	}
	if err := ben.GroupSync(ctx); err != nil {
		t.Fatal(err)
	}
	var benLog crypto.ID
	if err := ben.withGroupOffline(ctx, bid, func(g *groupState) error {
		benLog = g.cur.id
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(benLog[:], fakeLog[:]) {
		t.Fatalf("the joiner entered the copier's group (its log %x) instead of the admin's", fakeLog[:4])
	}
}
