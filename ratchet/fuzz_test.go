package ratchet

import (
	"bytes"
	"errors"
	"testing"
	"time"
)

// Fuzz targets next to every decoder (issue 2, item 6). Each checks that
// garbage is an error, never a panic, and that whatever parses marshals
// back to the same bytes.

func FuzzBundle(f *testing.F) {
	cfg, _ := seeded(50)
	bp, _ := NewBundle(cfg)
	raw := bp.Bundle().Marshal()
	f.Add(raw)
	f.Add(raw[:100])
	f.Add([]byte{1})
	v1, _ := newBundleVersion(cfg, bundleVersion1)
	f.Add(v1.Bundle().Marshal())
	f.Fuzz(func(t *testing.T, in []byte) {
		b, err := ParseBundle(in)
		if err != nil {
			if b != nil {
				t.Fatal("error with a bundle")
			}
			return
		}
		if !bytes.Equal(b.Marshal(), in) {
			t.Fatal("round trip")
		}
	})
}

func FuzzBundlePrivate(f *testing.F) {
	cfg, _ := seeded(51)
	bp, _ := NewBundle(cfg)
	f.Add(bp.Marshal())
	f.Add([]byte{1, 2, 3})
	v1, _ := newBundleVersion(cfg, bundleVersion1)
	f.Add(v1.Marshal())
	f.Fuzz(func(t *testing.T, in []byte) {
		p, err := ParseBundlePrivate(in)
		if err != nil {
			return
		}
		if !bytes.Equal(p.Marshal(), in) {
			t.Fatal("round trip")
		}
	})
}

func FuzzHeader(f *testing.F) {
	h := header{pn: 3, n: 9}
	h.dh[0] = 9
	var b [headerSize]byte
	h.marshal(&b)
	f.Add(b[:])
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, in []byte) {
		h, ok := parseHeader(in)
		if !ok {
			return
		}
		var out [headerSize]byte
		h.marshal(&out)
		if !bytes.Equal(out[:], in) {
			t.Fatal("round trip")
		}
	})
}

func FuzzState(f *testing.F) {
	alice, bob := pair(f, 52)
	f.Add(alice.Marshal())
	f.Add(bob.Marshal())
	mustDecrypt(f, alice, mustEncrypt(f, bob, "x"), "x")
	mustEncrypt(f, alice, "lost")
	mustDecrypt(f, bob, mustEncrypt(f, alice, "y"), "y")
	f.Add(bob.Marshal())
	// A state whose skipped key is a year old at the fuzz clock: Marshal
	// drops it (spec/session.md §7.2).
	old, peer := pair(f, 55)
	old.SetConfig(Config{Now: func() time.Time { return time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC) }})
	mustEncrypt(f, peer, "lost")
	mustDecrypt(f, old, mustEncrypt(f, peer, "kept"), "kept")
	f.Add(old.Marshal())
	f.Add([]byte{1, 0})
	// Version 0x01 (the KEM ratchet off) and version 0x02 states in the
	// phases with a partly filled decoder.
	la, lb := legacyPair(f, 56)
	f.Add(la.Marshal())
	f.Add(lb.Marshal())
	if la.EnablePQ() == nil {
		mustDecrypt(f, lb, mustEncrypt(f, la, "ek"), "ek")
		f.Add(lb.Marshal()) // RecvEK with chunks
		mustDecrypt(f, la, mustEncrypt(f, lb, "hello"), "hello")
		f.Add(la.Marshal())
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		cfg := Config{Now: func() time.Time { return time.Unix(1767225600, 0) }}
		s, err := ParseSession(cfg, in)
		if err != nil {
			return
		}
		out := s.Marshal()
		if bytes.Equal(out, in) {
			return
		}
		// Marshal drops expired skipped keys (§7.2); the rest must survive.
		if len(out) >= len(in) || (len(in)-len(out))%skippedSize != 0 {
			t.Fatal("round trip")
		}
		again, err := ParseSession(cfg, out)
		if err != nil {
			t.Fatalf("marshalled state does not parse: %v", err)
		}
		if !bytes.Equal(again.Marshal(), out) {
			t.Fatal("round trip after expiry")
		}
	})
}

// FuzzMessage feeds arbitrary messages to a live session: every input is
// an error or a plaintext, never a panic, and an error leaves the state
// unchanged.
func FuzzMessage(f *testing.F) {
	alice, bob := pair(f, 53)
	f.Add(mustEncrypt(f, alice, "initial"))
	mustDecrypt(f, alice, mustEncrypt(f, bob, "r"), "r")
	m := mustEncrypt(f, alice, "normal")
	f.Add(m)
	f.Add(m[:100])
	f.Add(make([]byte, 1024))
	f.Add(mustEncrypt(f, alice, string(make([]byte, 1500)))) // ek or ct chunks
	state := bob.Marshal()
	f.Fuzz(func(t *testing.T, in []byte) {
		s, err := ParseSession(Config{}, state)
		if err != nil {
			t.Fatal(err)
		}
		pt, err := s.Decrypt(in)
		if err != nil {
			if pt != nil {
				t.Fatal("plaintext with an error")
			}
			if !errors.Is(err, ErrAuth) && !errors.Is(err, ErrDuplicate) && !errors.Is(err, ErrTooFarAhead) && !errors.Is(err, ErrConflictingInitial) {
				t.Fatalf("unexpected error kind: %v", err)
			}
			if !bytes.Equal(s.Marshal(), state) {
				t.Fatal("failed decrypt changed the state")
			}
		}
		// Respond on arbitrary input never panics either.
		cfg, _ := seeded(54)
		bp, _ := NewBundle(cfg)
		if _, _, err := Respond(cfg, bp, in); err == nil && !IsInitial(in) {
			t.Fatal("Respond accepted a non-initial message")
		}
	})
}

func FuzzReset(f *testing.F) {
	_, _, ida, idb := identPair(f, 60)
	cfg, _ := seeded(61)
	rp, _ := NewReset(cfg, 1, true)
	good := rp.Message(idb, ida.Public())
	f.Add(good)
	f.Add(good[:100])
	f.Add([]byte{3})
	v1, _ := newResetVersion(cfg, 1, resetVersion1)
	good1 := v1.Message(idb, ida.Public())
	f.Add(good1)
	// The same offer under the other version byte must not verify.
	f.Add(append([]byte{typeReset, resetVersionPQ}, good1[2:]...))
	f.Fuzz(func(t *testing.T, in []byte) {
		o, sig, err := parseResetFrame(in)
		if err != nil {
			return
		}
		re := append([]byte{typeReset, o.version}, o.appendTo(nil)...)
		re = append(re, sig...)
		if !bytes.Equal(append(re, make([]byte, ResetMessageSize-len(re))...), in) {
			t.Fatal("round trip")
		}
		if _, err := ParseReset(in, idb.Public(), ida.Public()); err == nil && !bytes.Equal(in, good) && !bytes.Equal(in, good1) {
			t.Fatal("a changed offer verified")
		}
	})
}

func FuzzResetPrivate(f *testing.F) {
	cfg, _ := seeded(62)
	rp, _ := NewReset(cfg, 1, true)
	f.Add(rp.Marshal())
	f.Add([]byte{1, 2})
	v1, _ := newResetVersion(cfg, 1, resetVersion1)
	f.Add(v1.Marshal())
	f.Fuzz(func(t *testing.T, in []byte) {
		p, err := ParseResetPrivate(in)
		if err != nil {
			return
		}
		if !bytes.Equal(p.Marshal(), in) {
			t.Fatal("round trip")
		}
	})
}

func FuzzIdentity(f *testing.F) {
	cfg, _ := seeded(63)
	bp, _ := NewBundle(cfg)
	f.Add(bp.Identity.Marshal())
	f.Add([]byte{1})
	f.Fuzz(func(t *testing.T, in []byte) {
		id, err := ParseIdentity(in)
		if err != nil {
			return
		}
		if !bytes.Equal(id.Marshal(), in) {
			t.Fatal("round trip")
		}
	})
}

// FuzzPQState parses arbitrary KEM ratchet sections of a version 0x02
// state (spec/session.md §10): an error or an exact round trip.
func FuzzPQState(f *testing.F) {
	alice, bob := pair(f, 57)
	for range 4 {
		f.Add(alice.pq.appendTo(nil))
		f.Add(bob.pq.appendTo(nil))
		mustDecrypt(f, alice, mustEncrypt(f, bob, "b"), "b")
		mustDecrypt(f, bob, mustEncrypt(f, alice, "a"), "a")
	}
	f.Add([]byte{byte(pqMixPending), 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0})
	f.Add(append([]byte{byte(pqMixPending), pqFlagHeard, 0, 0, 0, 2, 0, 0, 0, 1, 0, 0, 0}, make([]byte, 32)...))
	// A decoder holding chunks carries their digest.
	p := bob.pq.clone()
	if err := p.startRecvEK(3, bytes.NewReader(make([]byte, pqEncapsSeedSize))); err != nil {
		f.Fatal(err)
	}
	p.done, p.heard, p.held = 2, true, [pqDigestSize]byte{1, 2, 3, 4, 5, 6, 7, 8}
	p.dec.got = append(p.dec.got, pqChunk{x: 4}, pqChunk{x: 9})
	f.Add(p.appendTo(nil))
	f.Fuzz(func(t *testing.T, in []byte) {
		p, err := parsePQState(in)
		if err != nil {
			return
		}
		if !bytes.Equal(p.appendTo(nil), in) {
			t.Fatal("round trip")
		}
		if len(in) > pqStateMaxSize {
			t.Fatal("section past its bound")
		}
	})
}
