package ratchet

import (
	"bytes"
	"errors"
	"testing"
)

// identPair runs a handshake keeping both identity keys and returns the
// joiner's and the inviter's sessions and identities.
func identPair(t testing.TB, seed uint64) (alice, bob *Session, ida, idb *Identity) {
	t.Helper()
	cfgA, _ := seeded(seed)
	cfgB, _ := seeded(seed + 1<<32)
	bp, err := NewBundle(cfgB)
	if err != nil {
		t.Fatal(err)
	}
	alice, ida, err = InitiateKeep(cfgA, bp.Bundle())
	if err != nil {
		t.Fatal(err)
	}
	bob, _, err = Respond(cfgB, bp, mustEncrypt(t, alice, "hello"))
	if err != nil {
		t.Fatal(err)
	}
	if alice.Local() != ida.Public() {
		t.Fatal("kept identity is not the session's")
	}
	return alice, bob, ida, &bp.Identity
}

func TestResetRoundTrip(t *testing.T) {
	alice, bob, ida, idb := identPair(t, 900)
	code := alice.SafetyCode()
	// Bob restored an old copy: he offers a reset.
	cfgB, _ := seeded(901)
	rp, err := NewReset(cfgB, 1_700_000_000_000, true)
	if err != nil {
		t.Fatal(err)
	}
	msg := rp.Message(idb, ida.Public())
	if len(msg) != ResetMessageSize || !IsReset(msg) {
		t.Fatalf("reset message: %d bytes", len(msg))
	}
	if !bytes.Equal(msg, rp.Message(idb, ida.Public())) {
		t.Fatal("a resend differs")
	}
	o, err := ParseReset(msg, alice.Remote(), alice.Local())
	if err != nil {
		t.Fatal(err)
	}
	if o.ID != rp.ID || o.Time != rp.Time {
		t.Fatal("offer fields")
	}
	cfgA, _ := seeded(902)
	na, err := AcceptReset(cfgA, ida, alice.Remote(), o)
	if err != nil {
		t.Fatal(err)
	}
	answer := mustEncrypt(t, na, "answer")
	rp2, err := ParseResetPrivate(rp.Marshal())
	if err != nil {
		t.Fatal(err)
	}
	nb, pt, err := CompleteReset(cfgB, idb, bob.Remote(), rp2, answer)
	if err != nil {
		t.Fatal(err)
	}
	if string(pt) != "answer" {
		t.Fatalf("answer: %q", pt)
	}
	if na.SafetyCode() != code || nb.SafetyCode() != code {
		t.Fatal("safety code changed")
	}
	mustDecrypt(t, na, mustEncrypt(t, nb, "reply"), "reply")
	mustDecrypt(t, nb, mustEncrypt(t, na, "again"), "again")
	// The old sessions' messages do not open the new ones.
	if _, err := na.Decrypt(mustEncrypt(t, bob, "stale")); !errors.Is(err, ErrAuth) {
		t.Fatalf("stale message at the new session: %v", err)
	}
}

func TestResetForged(t *testing.T) {
	alice, _, ida, idb := identPair(t, 910)
	cfgX, _ := seeded(911)
	rp, _ := NewReset(cfgX, 5, true)
	// A third party signs with its own key.
	cfgM, _ := seeded(912)
	mallory, _ := NewBundle(cfgM)
	forged := rp.Message(&mallory.Identity, ida.Public())
	if _, err := ParseReset(forged, alice.Remote(), alice.Local()); !errors.Is(err, ErrReset) || !errors.Is(err, ErrAuth) {
		t.Fatalf("forged offer: %v", err)
	}
	// The peer's genuine offer, for another chat (another identity of ours).
	other := rp.Message(idb, mallory.Identity.Public())
	if _, err := ParseReset(other, alice.Remote(), alice.Local()); !errors.Is(err, ErrReset) {
		t.Fatalf("offer for another chat: %v", err)
	}
	good := rp.Message(idb, ida.Public())
	if _, err := ParseReset(good, alice.Remote(), alice.Local()); err != nil {
		t.Fatal(err)
	}
	// Every byte of every field (type, version, ID, time, SPK, PQPK,
	// signature), then some of the padding.
	offs := []int{1 + resetBodySize, 1 + resetBodySize + 1, 3000, ResetMessageSize - 1}
	for off := range 1 + resetBodySize {
		offs = append(offs, off)
	}
	for _, off := range offs {
		bad := bytes.Clone(good)
		bad[off] ^= 1
		if _, err := ParseReset(bad, alice.Remote(), alice.Local()); !errors.Is(err, ErrReset) {
			t.Fatalf("flipped byte %d: %v", off, err)
		}
	}
	if _, err := ParseReset(good[:ResetMessageSize-1], alice.Remote(), alice.Local()); !errors.Is(err, ErrReset) {
		t.Fatal("short offer accepted")
	}
}

func TestResetAnswerFromAnotherIdentity(t *testing.T) {
	_, bob, ida, idb := identPair(t, 920)
	cfgB, _ := seeded(921)
	rp, _ := NewReset(cfgB, 7, true)
	o, err := ParseReset(rp.Message(idb, ida.Public()), idb.Public(), ida.Public())
	if err != nil {
		t.Fatal(err)
	}
	// The offer is public: a relay answers it with an identity of its own.
	cfgM, _ := seeded(922)
	mb, _ := NewBundle(cfgM)
	ms, err := AcceptReset(cfgM, &mb.Identity, idb.Public(), o)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := CompleteReset(cfgB, idb, bob.Remote(), rp, mustEncrypt(t, ms, "mitm")); !errors.Is(err, ErrAuth) {
		t.Fatalf("answer from another identity: %v", err)
	}
	// Or it claims the peer's identity without its private key: a session
	// whose prefix and associated data name IK_A, as the peer's would,
	// but whose DH1 used the attacker's own IKdh. Only DH1 tells them
	// apart.
	fs, err := AcceptReset(cfgM, &mb.Identity, idb.Public(), o)
	if err != nil {
		t.Fatal(err)
	}
	fs.local = ida.Public()
	fs.ad = makeAD(fs.local, fs.remote)
	copy(fs.prefix[:IdentitySize], ida.Public().Bytes())
	if _, _, err := CompleteReset(cfgB, idb, bob.Remote(), rp, mustEncrypt(t, fs, "mitm")); !errors.Is(err, ErrAuth) {
		t.Fatalf("answer under the peer's identity: %v", err)
	}
}

// TestResetByOriginalJoiner: the joiner of the first handshake restored
// its copy and offers; the inviter answers. Roles in a reset do not
// depend on roles in the first handshake (spec/session.md §13).
func TestResetByOriginalJoiner(t *testing.T) {
	alice, bob, ida, idb := identPair(t, 940)
	code := bob.SafetyCode()
	cfgA, _ := seeded(941)
	rp, err := NewReset(cfgA, 1_700_000_000_000, true)
	if err != nil {
		t.Fatal(err)
	}
	o, err := ParseReset(rp.Message(ida, idb.Public()), bob.Remote(), bob.Local())
	if err != nil {
		t.Fatal(err)
	}
	cfgB, _ := seeded(942)
	nb, err := AcceptReset(cfgB, idb, bob.Remote(), o)
	if err != nil {
		t.Fatal(err)
	}
	na, pt, err := CompleteReset(cfgA, ida, alice.Remote(), rp, mustEncrypt(t, nb, "answer"))
	if err != nil || string(pt) != "answer" {
		t.Fatalf("complete reset: %v", err)
	}
	mustDecrypt(t, nb, mustEncrypt(t, na, "reply"), "reply")
	if na.SafetyCode() != code || nb.SafetyCode() != code {
		t.Fatal("safety code changed")
	}
}

func TestIdentityMarshal(t *testing.T) {
	_, _, ida, _ := identPair(t, 930)
	got, err := ParseIdentity(ida.Marshal())
	if err != nil {
		t.Fatal(err)
	}
	if got.Public() != ida.Public() {
		t.Fatal("identity round trip")
	}
	if _, err := ParseIdentity(ida.Marshal()[1:]); err == nil {
		t.Fatal("short identity accepted")
	}
}
