package ratchet

import (
	"errors"
	"math"
	"testing"
	"time"
)

// Regression tests for the findings of the protocol review of the session
// layer (L1–L5, N1); each names its finding.

// TestReviewL1NoNrWrap: a header with N = 2^32-1, which Encrypt never
// sends, is refused instead of wrapping Nr to 0 (spec/session.md §4.5).
func TestReviewL1NoNrWrap(t *testing.T) {
	alice, bob := pair(t, 200)
	// Both ends of alice's chain move to the end of the number space
	// together, so the chain keys still agree.
	alice.ns, bob.nr = math.MaxUint32-1, math.MaxUint32-1
	last := mustEncrypt(t, alice, "last")
	mustDecrypt(t, bob, last, "last")
	if _, err := alice.Encrypt([]byte("over")); err == nil {
		t.Fatal("Encrypt sent number 2^32-1")
	}
	forged, err := alice.encrypt([]byte("wrap"))
	if err != nil {
		t.Fatal(err)
	}
	expectFail(t, bob, forged, ErrAuth)
	if bob.nr != math.MaxUint32 {
		t.Fatalf("Nr = %d after the refused message", bob.nr)
	}
	expectFail(t, bob, last, ErrDuplicate)
}

// TestReviewL2InitiateVerifiesBundle: Initiate checks the bundle signature
// itself, so a Bundle assembled from exported fields cannot be used.
func TestReviewL2InitiateVerifiesBundle(t *testing.T) {
	cfgB, _ := seeded(201)
	bp, err := NewBundle(cfgB)
	if err != nil {
		t.Fatal(err)
	}
	good := bp.Bundle()
	cfgA, _ := seeded(202)
	unsigned := &Bundle{Identity: good.Identity, Prekey: good.Prekey, KEM: good.KEM}
	if _, err := Initiate(cfgA, unsigned); !errors.Is(err, errBundle) {
		t.Fatalf("unsigned bundle: %v", err)
	}
	other, err := NewBundle(cfgB)
	if err != nil {
		t.Fatal(err)
	}
	swapped := *good
	swapped.Prekey = other.Prekey.Public()
	if _, err := Initiate(cfgA, &swapped); !errors.Is(err, errBundle) {
		t.Fatalf("bundle with a swapped prekey: %v", err)
	}
	if _, err := Initiate(cfgA, nil); !errors.Is(err, errBundle) {
		t.Fatalf("nil bundle: %v", err)
	}
	if _, err := Initiate(cfgA, good); err != nil {
		t.Fatalf("signed bundle: %v", err)
	}
}

// TestReviewL4NoJoinerSignature: the initial prefix is IK_A || EK_A || CT
// with no signature (deniability, spec/session.md §3.1), and the joiner's
// Ed25519 key is still bound: changing it makes the first message fail.
func TestReviewL4NoJoinerSignature(t *testing.T) {
	if initialPrefixSize != 64+32+1568 {
		t.Fatalf("initial prefix is %d bytes", initialPrefixSize)
	}
	cfgB, _ := seeded(203)
	bp, err := NewBundle(cfgB)
	if err != nil {
		t.Fatal(err)
	}
	cfgA, _ := seeded(204)
	alice, err := Initiate(cfgA, bp.Bundle())
	if err != nil {
		t.Fatal(err)
	}
	m := mustEncrypt(t, alice, "hi")
	for _, i := range []int{1, 16, 32, 33, 64, 65, 97, 1 + initialPrefixSize - 1} {
		c := append([]byte(nil), m...)
		c[i] ^= 0x40
		if _, _, err := Respond(cfgB, bp, c); !errors.Is(err, ErrAuth) {
			t.Fatalf("prefix byte %d changed: %v", i, err)
		}
	}
	if _, pt, err := Respond(cfgB, bp, m); err != nil || string(pt) != "hi" {
		t.Fatalf("intact message: %q, %v", pt, err)
	}
}

// skippedOne leaves alice holding one skipped key of bob's chain.
func skippedOne(t *testing.T, alice, bob *Session) {
	t.Helper()
	mustEncrypt(t, bob, "lost")
	mustDecrypt(t, alice, mustEncrypt(t, bob, "kept"), "kept")
	if len(alice.skipped) != 1 {
		t.Fatalf("%d skipped keys, want 1", len(alice.skipped))
	}
}

// TestReviewL5ExpireOnEncryptAndMarshal: skipped keys past their TTL go on
// Encrypt and on Marshal, not only on the next successful decrypt.
func TestReviewL5ExpireOnEncryptAndMarshal(t *testing.T) {
	now := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	clock := Config{Now: func() time.Time { return now }}

	alice, bob := pair(t, 205)
	alice.SetConfig(clock)
	skippedOne(t, alice, bob)
	now = now.Add(SkippedKeyTTL)
	mustEncrypt(t, alice, "not yet")
	if len(alice.skipped) != 1 {
		t.Fatal("a key was dropped before its TTL")
	}
	now = now.Add(time.Second)
	mustEncrypt(t, alice, "silent peer")
	if len(alice.skipped) != 0 {
		t.Fatalf("Encrypt kept %d expired keys", len(alice.skipped))
	}

	alice, bob = pair(t, 206)
	now = time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	alice.SetConfig(clock)
	skippedOne(t, alice, bob)
	now = now.Add(SkippedKeyTTL + time.Second)
	stored, err := ParseSession(clock, alice.Marshal())
	if err != nil {
		t.Fatal(err)
	}
	if len(stored.skipped) != 0 || len(alice.skipped) != 0 {
		t.Fatalf("Marshal kept expired keys: %d stored, %d in memory", len(stored.skipped), len(alice.skipped))
	}
}

// TestReviewN1PastEndOfOldChain: a header under an old chain that still
// has skipped keys, numbered at or past that chain's end, is an
// authentication failure, not a duplicate (spec/session.md §8).
func TestReviewN1PastEndOfOldChain(t *testing.T) {
	alice, bob := pair(t, 207)
	mustDecrypt(t, alice, mustEncrypt(t, bob, "r1"), "r1")
	c0 := mustEncrypt(t, alice, "c0")
	mustEncrypt(t, alice, "c1") // lost: bob keeps its key
	c2 := mustEncrypt(t, alice, "c2")
	mustDecrypt(t, bob, c0, "c0")
	mustDecrypt(t, bob, c2, "c2")
	old, err := ParseSession(Config{}, alice.Marshal())
	if err != nil {
		t.Fatal(err)
	}
	mustDecrypt(t, alice, mustEncrypt(t, bob, "r2"), "r2")
	mustDecrypt(t, bob, mustEncrypt(t, alice, "d0"), "d0") // closes chain c at 3

	old.ns = 50
	expectFail(t, bob, mustEncrypt(t, old, "past the end"), ErrAuth)
	old.ns = 2
	expectFail(t, bob, mustEncrypt(t, old, "c2 again"), ErrDuplicate)
}

// TestScratchWiped: the Session's scratch buffers (a copy of CKr, an
// opened header) hold nothing after any decrypt, successful or not.
func TestScratchWiped(t *testing.T) {
	alice, bob := pair(t, 208)
	check := func(what string) {
		t.Helper()
		for _, s := range []*Session{alice, bob} {
			if !s.tmpCK.IsZero() || s.tmpHdr != [headerSize]byte{} {
				t.Fatalf("scratch not wiped after %s", what)
			}
		}
	}
	check("handshake")
	lost := mustEncrypt(t, bob, "lost")
	mustDecrypt(t, alice, mustEncrypt(t, bob, "step"), "step")
	check("DH step with a skipped key")
	m := mustEncrypt(t, bob, "current")
	bad := append([]byte(nil), m...)
	bad[len(bad)-1] ^= 1
	expectFail(t, alice, bad, ErrAuth)
	check("failed decrypt")
	mustDecrypt(t, alice, m, "current")
	mustDecrypt(t, alice, lost, "lost")
	check("current-chain and skipped decrypts")
	expectFail(t, alice, m, ErrDuplicate)
	check("duplicate")
}
