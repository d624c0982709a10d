package ratchet

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"

	"veil/crypto"
)

func TestConversation(t *testing.T) {
	alice, bob := pair(t, 1)
	// A few rounds with several messages each way, so every message kind
	// (initial, symmetric step, DH step) is exercised.
	for round := range 5 {
		for i := range 3 {
			msg := fmt.Sprintf("b->a %d.%d", round, i)
			mustDecrypt(t, alice, mustEncrypt(t, bob, msg), msg)
		}
		for i := range 3 {
			msg := fmt.Sprintf("a->b %d.%d", round, i)
			mustDecrypt(t, bob, mustEncrypt(t, alice, msg), msg)
		}
	}
	if alice.SafetyCode() != bob.SafetyCode() {
		t.Fatalf("safety codes differ: %s / %s", alice.SafetyCode(), bob.SafetyCode())
	}
}

func TestInitialPrefixUntilReply(t *testing.T) {
	alice, bob := pair(t, 2)
	m1 := mustEncrypt(t, alice, "still initial")
	if !IsInitial(m1) {
		t.Fatal("joiner stopped sending the initial prefix before any reply")
	}
	mustDecrypt(t, bob, m1, "still initial")
	mustDecrypt(t, alice, mustEncrypt(t, bob, "reply"), "reply")
	m2 := mustEncrypt(t, alice, "normal now")
	if IsInitial(m2) {
		t.Fatal("joiner still sends the initial prefix after a reply")
	}
	mustDecrypt(t, bob, m2, "normal now")
	if len(m2) != crypto.Buckets()[0] || len(m1) != crypto.Buckets()[1] {
		t.Fatalf("sizes %d and %d: want smallest buckets", len(m2), len(m1))
	}
}

// TestInitialPrefixOfAnotherSessionRejected is also the regression test of
// review finding L3: a second, different initial message at an inviter
// whose session exists is ErrConflictingInitial, not a generic ErrAuth.
func TestInitialPrefixOfAnotherSessionRejected(t *testing.T) {
	alice, bob := pair(t, 3)
	other, _ := pair(t, 4)
	m := mustEncrypt(t, other, "x")
	expectFail(t, bob, m, ErrConflictingInitial)
	if errors.Is(func() error { _, err := bob.Decrypt(m); return err }(), ErrAuth) {
		t.Fatal("ErrConflictingInitial must not also be ErrAuth")
	}
	// Someone who joined first through an intercepted invite, then the
	// real joiner: the inviter sees the real joiner's attempt as conflicting.
	cfgB, _ := seeded(77)
	bp, err := NewBundle(cfgB)
	if err != nil {
		t.Fatal(err)
	}
	mallory, err := Initiate(func() Config { c, _ := seeded(78); return c }(), bp.Bundle())
	if err != nil {
		t.Fatal(err)
	}
	real, err := Initiate(func() Config { c, _ := seeded(79); return c }(), bp.Bundle())
	if err != nil {
		t.Fatal(err)
	}
	inviter, _, err := Respond(cfgB, bp, mustEncrypt(t, mallory, "first"))
	if err != nil {
		t.Fatal(err)
	}
	expectFail(t, inviter, mustEncrypt(t, real, "too late"), ErrConflictingInitial)
	mustDecrypt(t, inviter, mustEncrypt(t, mallory, "second"), "second")
	// A normal message to a session that never saw an initial one.
	alice2, bob2 := pair(t, 5)
	mustDecrypt(t, alice2, mustEncrypt(t, bob2, "r"), "r")
	expectFail(t, alice2, mustEncrypt(t, alice, "initial"), ErrAuth)
}

func TestPaddingBuckets(t *testing.T) {
	alice, bob := pair(t, 6)
	mustDecrypt(t, alice, mustEncrypt(t, bob, "r"), "r")
	for _, n := range []int{0, 1, 1024 - messageOverhead - 1, 1024 - messageOverhead, 4000, MaxPlaintext} {
		pt := strings.Repeat("x", n)
		m := mustEncrypt(t, alice, pt)
		want, _ := crypto.PaddedLen(n+messageOverhead, crypto.Buckets())
		if len(m) != want {
			t.Errorf("plaintext %d: message %d bytes, want %d", n, len(m), want)
		}
		mustDecrypt(t, bob, m, pt)
	}
	before := alice.Marshal()
	if _, err := alice.Encrypt(make([]byte, MaxPlaintext+1)); !errors.Is(err, ErrTooLong) || !errors.Is(err, crypto.ErrTooLong) {
		t.Fatalf("oversized plaintext: %v", err)
	}
	if !bytes.Equal(before, alice.Marshal()) {
		t.Fatal("failed encrypt changed the state")
	}
	// The joiner's limit before any reply.
	a2, _ := pair(t, 7)
	if a2.MaxPlaintext() != MaxInitialPlaintext {
		t.Fatal("MaxPlaintext before reply")
	}
	if _, err := a2.Encrypt(make([]byte, MaxInitialPlaintext+1)); !errors.Is(err, ErrTooLong) {
		t.Fatalf("oversized initial plaintext: %v", err)
	}
	if m := mustEncrypt(t, a2, strings.Repeat("y", MaxInitialPlaintext)); len(m) != crypto.MaxBody {
		t.Fatalf("largest initial message is %d bytes", len(m))
	}
}

func TestOutOfOrder(t *testing.T) {
	alice, bob := pair(t, 8)
	var ms [][]byte
	for i := range 10 {
		ms = append(ms, mustEncrypt(t, bob, fmt.Sprint("m", i)))
	}
	for _, i := range []int{9, 0, 5, 3, 1, 2, 8, 4, 7, 6} {
		mustDecrypt(t, alice, ms[i], fmt.Sprint("m", i))
	}
	if len(alice.skipped) != 0 {
		t.Fatalf("%d skipped keys left after all messages arrived", len(alice.skipped))
	}
	// Across a DH step: messages of the old chain arrive after the new one.
	a1 := mustEncrypt(t, alice, "a1")
	a2 := mustEncrypt(t, alice, "a2")
	mustDecrypt(t, bob, mustEncrypt(t, alice, "a3"), "a3")
	mustDecrypt(t, alice, mustEncrypt(t, bob, "step"), "step")
	newer := mustEncrypt(t, alice, "new chain")
	mustDecrypt(t, bob, newer, "new chain")
	mustDecrypt(t, bob, a2, "a2")
	mustDecrypt(t, bob, a1, "a1")
	if len(bob.skipped) != 0 {
		t.Fatalf("%d skipped keys left", len(bob.skipped))
	}
}

func TestReplay(t *testing.T) {
	alice, bob := pair(t, 9)
	m1 := mustEncrypt(t, bob, "one")
	m2 := mustEncrypt(t, bob, "two")
	mustDecrypt(t, alice, m2, "two")
	expectFail(t, alice, m2, ErrDuplicate) // current chain, latest
	mustDecrypt(t, alice, m1, "one")
	expectFail(t, alice, m1, ErrDuplicate) // current chain, was skipped
	// After DH steps the chain is retired, replays are still recognised.
	for range 3 {
		mustDecrypt(t, bob, mustEncrypt(t, alice, "ping"), "ping")
		mustDecrypt(t, alice, mustEncrypt(t, bob, "pong"), "pong")
		expectFail(t, alice, m1, ErrDuplicate)
		expectFail(t, alice, m2, ErrDuplicate)
	}
	// A replay of a step message after the step.
	first := mustEncrypt(t, alice, "first of a chain")
	mustDecrypt(t, bob, first, "first of a chain")
	expectFail(t, bob, first, ErrDuplicate)
	// Past MaxRetiredChains the replay no longer authenticates at all.
	for range MaxRetiredChains + 1 {
		mustDecrypt(t, bob, mustEncrypt(t, alice, "ping"), "ping")
		mustDecrypt(t, alice, mustEncrypt(t, bob, "pong"), "pong")
	}
	expectFail(t, alice, m1, ErrAuth)
}

func TestEveryByteFlipped(t *testing.T) {
	alice, bob := pair(t, 10)
	initial := mustEncrypt(t, alice, "initial again")
	mustDecrypt(t, alice, mustEncrypt(t, bob, "reply"), "reply")
	normal := mustEncrypt(t, alice, "normal")
	for name, m := range map[string][]byte{"initial": initial, "normal": normal} {
		t.Run(name, func(t *testing.T) {
			for i := range m {
				c := bytes.Clone(m)
				c[i] ^= 0x01 << (i % 8)
				expectFail(t, bob, c, tamperErr(bob, c))
			}
			for _, n := range []int{0, 1, len(m) - 1, 1023, 1025} {
				if n < len(m) {
					expectFail(t, bob, m[:n], ErrAuth)
				}
			}
			expectFail(t, bob, append(bytes.Clone(m), 0), ErrAuth)
		})
	}
	mustDecrypt(t, bob, initial, "initial again")
	mustDecrypt(t, bob, normal, "normal")
	// A message of the receiver's current chain (the HKr path), and one
	// that will need a stored skipped key.
	skippedMsg := mustEncrypt(t, alice, "skipped")
	current := mustEncrypt(t, alice, "current chain")
	for name, m := range map[string][]byte{"current": current} {
		t.Run(name, func(t *testing.T) {
			for i := range m {
				c := bytes.Clone(m)
				c[i] ^= 0x01 << (i % 8)
				expectFail(t, bob, c, ErrAuth)
			}
		})
	}
	mustDecrypt(t, bob, current, "current chain")
	for i := range skippedMsg {
		c := bytes.Clone(skippedMsg)
		c[i] ^= 0x20
		expectFail(t, bob, c, ErrAuth)
	}
	mustDecrypt(t, bob, skippedMsg, "skipped")
}

func TestRespondRejectsTampering(t *testing.T) {
	cfgA, _ := seeded(11)
	cfgB, _ := seeded(12)
	bp, _ := NewBundle(cfgB)
	alice, err := Initiate(cfgA, bp.Bundle())
	if err != nil {
		t.Fatal(err)
	}
	m := mustEncrypt(t, alice, "hi")
	// Every byte of the prefix and header, and a sample of the body.
	for i := 0; i < len(m); i++ {
		if i > initialOverhead && i%97 != 0 {
			continue
		}
		c := bytes.Clone(m)
		c[i] ^= 0x80
		if _, _, err := Respond(cfgB, bp, c); !errors.Is(err, ErrAuth) {
			t.Fatalf("byte %d flipped: %v", i, err)
		}
	}
	if _, _, err := Respond(cfgB, bp, m[:1024]); !errors.Is(err, ErrAuth) {
		t.Fatalf("truncated: %v", err)
	}
	if _, pt, err := Respond(cfgB, bp, m); err != nil || string(pt) != "hi" {
		t.Fatalf("untampered message after failed attempts: %q, %v", pt, err)
	}
}
