package ratchet

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"testing"
	"time"

	"veil/crypto"
)

// seeded returns a deterministic Config: ChaCha8 randomness from seed and
// a clock fixed at a known instant that tests may move.
func seeded(seed uint64) (Config, *time.Time) {
	var s [32]byte
	for i := range 8 {
		s[i] = byte(seed >> (8 * i))
	}
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	return Config{Rand: rand.NewChaCha8(s), Now: func() time.Time { return now }}, &now
}

// pair runs a handshake and returns the joiner (alice), the inviter (bob)
// and the first message alice sent, already decrypted by bob.
func pair(t testing.TB, seed uint64) (alice, bob *Session) {
	t.Helper()
	cfgA, _ := seeded(seed)
	cfgB, _ := seeded(seed + 1<<32)
	bp, err := NewBundle(cfgB)
	if err != nil {
		t.Fatal(err)
	}
	b, err := ParseBundle(bp.Bundle().Marshal())
	if err != nil {
		t.Fatal(err)
	}
	alice, err = Initiate(cfgA, b)
	if err != nil {
		t.Fatal(err)
	}
	m0, err := alice.Encrypt([]byte("hello bob"))
	if err != nil {
		t.Fatal(err)
	}
	bob, pt, err := Respond(cfgB, bp, m0)
	if err != nil {
		t.Fatal(err)
	}
	if string(pt) != "hello bob" {
		t.Fatalf("first message: got %q", pt)
	}
	return alice, bob
}

func mustEncrypt(t testing.TB, s *Session, pt string) []byte {
	t.Helper()
	m, err := s.Encrypt([]byte(pt))
	if err != nil {
		t.Fatal(err)
	}
	if !crypto.IsBucket(len(m)) {
		t.Fatalf("message of %d bytes is not a bucket", len(m))
	}
	return m
}

func mustDecrypt(t testing.TB, s *Session, m []byte, want string) {
	t.Helper()
	pt, err := s.Decrypt(m)
	if err != nil {
		t.Fatalf("decrypt %q: %v", want, err)
	}
	if string(pt) != want {
		t.Fatalf("decrypt: got %q, want %q", pt, want)
	}
}

// expectFail checks that Decrypt fails with target and leaves the
// serialised state byte for byte unchanged.
func expectFail(t testing.TB, s *Session, m []byte, target error) {
	t.Helper()
	before := s.Marshal()
	pt, err := s.Decrypt(m)
	if !errors.Is(err, target) {
		t.Fatalf("decrypt: got (%q, %v), want %v", pt, err, target)
	}
	if pt != nil {
		t.Fatalf("decrypt failed but returned plaintext %q", pt)
	}
	if after := s.Marshal(); !bytes.Equal(before, after) {
		t.Fatalf("failed decrypt (%v) changed the state", err)
	}
}

// tamperErr is the error a tampered message c must give at s: an initial
// message whose prefix is not the one s's session started from is
// ErrConflictingInitial at an inviter (spec/session.md §8); everything
// else is ErrAuth.
func tamperErr(s *Session, c []byte) error {
	if s.hasInit && crypto.IsBucket(len(c)) && c[0] == typeInitial && len(c) >= initialOverhead+1 {
		if crypto.Hash(c[1:1+initialPrefixSize]) != s.initHash {
			return ErrConflictingInitial
		}
	}
	return ErrAuth
}
