package ratchet

import (
	"bytes"
	"errors"
	"math"
	"testing"
	"time"
)

// TestGroupSilentSenderKeysExpire: the skipped keys of a sender who never
// sends again still expire after SkippedKeyTTL, when the group is used
// through any other chain (spec/groups.md §4.3).
func TestGroupSilentSenderKeysExpire(t *testing.T) {
	g := newTestGroup(t, 31, 3, 1)
	silent, talker, rcv := g.members[0], g.members[1], g.members[2]
	var last []byte
	for range 3 {
		last = groupEncrypt(t, silent, "x")
	}
	if _, _, err := rcv.Decrypt(last); err != nil {
		t.Fatal(err)
	}
	p := &rcv.peers[rcv.peer(silent.Self())]
	if len(p.skipped) != 2 {
		t.Fatalf("%d skipped keys, want 2", len(p.skipped))
	}
	// Just before the TTL, another member's message keeps them.
	*g.now = g.now.Add(SkippedKeyTTL - time.Hour)
	if _, _, err := rcv.Decrypt(groupEncrypt(t, talker, "a")); err != nil {
		t.Fatal(err)
	}
	if len(p.skipped) != 2 {
		t.Fatal("skipped keys dropped before their TTL")
	}
	// Past it, the next message of any other member drops them.
	*g.now = g.now.Add(2 * time.Hour)
	if _, _, err := rcv.Decrypt(groupEncrypt(t, talker, "b")); err != nil {
		t.Fatal(err)
	}
	if len(p.skipped) != 0 {
		t.Fatalf("%d skipped keys of a silent sender survived their TTL", len(p.skipped))
	}
	if _, _, err := rcv.Decrypt(groupEncrypt(t, silent, "late")); err != nil {
		t.Fatal(err)
	}
}

// TestGroupExpireSkipped: sending, and ExpireSkipped on its own, expire
// skipped keys too.
func TestGroupExpireSkipped(t *testing.T) {
	g := newTestGroup(t, 32, 3, 1)
	a, b := g.members[0], g.members[1]
	groupEncrypt(t, a, "skipped")
	if _, _, err := b.Decrypt(groupEncrypt(t, a, "read")); err != nil {
		t.Fatal(err)
	}
	p := &b.peers[b.peer(a.Self())]
	b.ExpireSkipped(g.now.Add(SkippedKeyTTL - time.Second))
	if len(p.skipped) != 1 {
		t.Fatal("ExpireSkipped dropped a key before its TTL")
	}
	b.ExpireSkipped(g.now.Add(SkippedKeyTTL + time.Second))
	if len(p.skipped) != 0 {
		t.Fatal("ExpireSkipped kept a key past its TTL")
	}
	groupEncrypt(t, a, "skipped again")
	if _, _, err := b.Decrypt(groupEncrypt(t, a, "read again")); err != nil {
		t.Fatal(err)
	}
	*g.now = g.now.Add(SkippedKeyTTL + time.Hour)
	groupEncrypt(t, b, "b speaks")
	if len(p.skipped) != 0 {
		t.Fatal("Encrypt kept a skipped key past its TTL")
	}
}

// TestGroupMessageNumberLimit: number 2^32-1 is never sent and never
// accepted, as in the 1:1 ratchet (spec/session.md §4.5), so no chain
// position wraps to 0.
func TestGroupMessageNumberLimit(t *testing.T) {
	g := newTestGroup(t, 33, 2, 1)
	a, b := g.members[0], g.members[1]
	// Move a's sending chain and b's view of it to just before the end.
	p := &b.peers[b.peer(a.Self())]
	a.n, p.n = math.MaxUint32-1, math.MaxUint32-1
	p.ck = a.ck
	if pt, _, err := b.Decrypt(groupEncrypt(t, a, "last")); err != nil || string(pt) != "last" {
		t.Fatalf("message 2^32-2: %q, %v", pt, err)
	}
	before := a.Marshal()
	if _, err := a.Encrypt([]byte("one too many")); err == nil {
		t.Fatal("Encrypt sent message number 2^32-1")
	}
	if !bytes.Equal(before, a.Marshal()) {
		t.Fatal("a refused Encrypt changed the state")
	}
	forged, err := a.encrypt([]byte("forged"))
	if err != nil {
		t.Fatal(err)
	}
	before = b.Marshal()
	if _, _, err := b.Decrypt(forged); !errors.Is(err, ErrAuth) {
		t.Fatalf("message number 2^32-1: got %v, want ErrAuth", err)
	}
	if !bytes.Equal(before, b.Marshal()) || p.n != math.MaxUint32 {
		t.Fatal("a refused Decrypt changed the state")
	}
}
