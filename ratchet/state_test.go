package ratchet

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"

	"veil/crypto"
)

// fullSession returns a session in which every serialised field holds a
// non-zero value: real chains, skipped keys and retired chains from a
// conversation, plus the fields only one role has (the joiner's prefix,
// the inviter's initial hash) filled in by hand.
func fullSession(t *testing.T) *Session {
	alice, bob := primed(t, 40)
	for range 3 {
		mustEncrypt(t, bob, "lost") // leaves skipped keys at alice
		mustDecrypt(t, alice, mustEncrypt(t, bob, "b"), "b")
		mustDecrypt(t, bob, mustEncrypt(t, alice, "a"), "a")
	}
	mustDecrypt(t, alice, mustEncrypt(t, bob, "b"), "b")
	mustEncrypt(t, alice, "a") // Ns > 0
	s := alice
	r := rand.New(rand.NewPCG(1, 2))
	s.prefix = make([]byte, initialPrefixSize)
	for i := range s.prefix {
		s.prefix[i] = byte(r.Uint32())
	}
	s.initHash = crypto.Hash([]byte("initial"))
	s.hasInit = true
	s.pn = 7
	for i := range s.skipped {
		s.skipped[i].created += int64(i) // distinct times survive too
	}
	s.skipped[0].n = 1 // a non-zero number in the first entry
	return s
}

// TestStateRoundTripEveryField fails when a field of Session is added
// without being serialised: every field must be non-zero in fullSession
// and equal after Marshal and ParseSession.
func TestStateRoundTripEveryField(t *testing.T) {
	s := fullSession(t)
	v := reflect.ValueOf(s).Elem()
	for i := range v.NumField() {
		name := v.Type().Field(i).Name
		if name == "cfg" {
			continue // not state: randomness and clock are the caller's
		}
		if strings.HasPrefix(name, "tmp") {
			// Scratch space, not state: it must be wiped between calls.
			if !v.Field(i).IsZero() {
				t.Errorf("scratch field %s is not wiped", name)
			}
			continue
		}
		if v.Field(i).IsZero() {
			t.Errorf("field %s is zero in the test session: extend fullSession", name)
		}
	}
	for _, k := range s.skipped {
		if k.hk.IsZero() || k.mk.IsZero() || k.created == 0 {
			t.Fatal("a skipped key has a zero field")
		}
	}
	b := s.Marshal()
	p, err := ParseSession(s.cfg, b)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(p.dhs.Bytes(), s.dhs.Bytes()) {
		t.Fatal("DHs differs")
	}
	a, c := *s, *p
	a.dhs, c.dhs = crypto.DHPrivate{}, crypto.DHPrivate{}
	a.cfg, c.cfg = Config{}, Config{}   // funcs are never DeepEqual
	if !reflect.DeepEqual(a.pq, c.pq) { // its %#v is redacted
		t.Error("field pq differs after the round trip")
	}
	if !reflect.DeepEqual(a, c) {
		av, cv := reflect.ValueOf(a), reflect.ValueOf(c)
		for i := range av.NumField() {
			if fmt.Sprintf("%#v", av.Field(i)) != fmt.Sprintf("%#v", cv.Field(i)) {
				t.Errorf("field %s differs after the round trip", av.Type().Field(i).Name)
			}
		}
	}
	if !bytes.Equal(p.Marshal(), b) {
		t.Fatal("marshal of the parsed state differs")
	}
}

func TestStateRoundTripBothRoles(t *testing.T) {
	alice, bob := pair(t, 41)
	for _, s := range []*Session{alice, bob} {
		p, err := ParseSession(s.cfg, s.Marshal())
		if err != nil {
			t.Fatal(err)
		}
		if p.ad != s.ad || p.initiator != s.initiator {
			t.Fatal("associated data not rebuilt")
		}
	}
	// Restored sessions keep talking.
	a2, _ := ParseSession(alice.cfg, alice.Marshal())
	b2, _ := ParseSession(bob.cfg, bob.Marshal())
	mustDecrypt(t, a2, mustEncrypt(t, b2, "x"), "x")
	mustDecrypt(t, b2, mustEncrypt(t, a2, "y"), "y")
}

func TestParseSessionRejects(t *testing.T) {
	s := fullSession(t)
	b := s.Marshal()
	pqSec := s.pq.appendTo(nil)
	bad := map[string][]byte{
		"empty":         nil,
		"version":       append([]byte{3}, b[1:]...),
		"version 1":     append([]byte{1}, b[1:]...), // a KEM ratchet section left over
		"truncated":     b[:len(b)-1],
		"extended":      append(bytes.Clone(b), 0),
		"fixed part":    b[:stateFixedSize],
		"too many kept": append(append(bytes.Clone(b[:len(b)-len(pqSec)-2-len(s.skipped)*skippedSize]), 0xff, 0xff), pqSec...),
	}
	for name, in := range bad {
		if _, err := ParseSession(Config{}, in); err == nil {
			t.Errorf("%s: parsed", name)
		}
	}
	for n := range len(b) {
		if _, err := ParseSession(Config{}, b[:n]); err == nil {
			t.Fatalf("prefix of %d bytes parsed", n)
		}
	}
}

func TestBundleRoundTripAndRejects(t *testing.T) {
	cfg, _ := seeded(42)
	bp, err := NewBundle(cfg)
	if err != nil {
		t.Fatal(err)
	}
	raw := bp.Bundle().Marshal()
	if len(raw) != BundleSize {
		t.Fatalf("bundle is %d bytes", len(raw))
	}
	b, err := ParseBundle(raw)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b.Marshal(), raw) {
		t.Fatal("bundle round trip")
	}
	for i := range raw {
		c := bytes.Clone(raw)
		c[i] ^= 0x04
		if _, err := ParseBundle(c); err == nil {
			t.Fatalf("bundle with byte %d flipped parsed", i)
		}
	}
	for _, n := range []int{0, 1, BundleSize - 1, BundleSize + 1} {
		in := make([]byte, n)
		copy(in, raw)
		if _, err := ParseBundle(in); err == nil {
			t.Fatalf("bundle of %d bytes parsed", n)
		}
	}
	priv := bp.Marshal()
	p2, err := ParseBundlePrivate(priv)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(p2.Marshal(), priv) || !bytes.Equal(p2.Bundle().Marshal(), raw) {
		t.Fatal("bundle private round trip")
	}
	for _, in := range [][]byte{nil, priv[:len(priv)-1], append(bytes.Clone(priv), 0), append([]byte{9}, priv[1:]...)} {
		if _, err := ParseBundlePrivate(in); err == nil {
			t.Fatalf("bad private bundle of %d bytes parsed", len(in))
		}
	}
	// A low-order prekey in an otherwise valid, signed bundle is refused
	// by Initiate.
	evil := *bp.Bundle()
	evil.Prekey = crypto.DHPublic{} // the all-zero point has order 4
	copy(evil.sig[:], bp.Identity.Sign.Sign(evil.signedPart()))
	if _, err := Initiate(cfg, &evil); err == nil {
		t.Fatal("Initiate accepted a low-order prekey")
	}
	p2.Wipe()
}
