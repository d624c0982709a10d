package ratchet

import (
	"bytes"
	"testing"

	"veil/crypto"
)

// FuzzUnmarshalGroupEpoch: any input either fails (nil state) or is the
// canonical encoding, which Marshal gives back byte for byte.
func FuzzUnmarshalGroupEpoch(f *testing.F) {
	g := newTestGroup(f, 20, 3, 1)
	a, b := g.members[0], g.members[1]
	var last []byte
	for range 3 {
		last = groupEncrypt(f, a, "seed")
	}
	if _, _, err := b.Decrypt(last); err != nil {
		f.Fatal(err)
	}
	f.Add(b.Marshal())
	f.Add(a.Marshal())
	f.Add([]byte{groupStateVersion})
	f.Fuzz(func(t *testing.T, in []byte) {
		s, err := UnmarshalGroupEpoch(Config{}, in)
		if err != nil {
			if s != nil {
				t.Fatal("state returned with an error")
			}
			return
		}
		if !bytes.Equal(s.Marshal(), in) {
			t.Fatal("marshal does not give back the input")
		}
	})
}

// FuzzGroupDecrypt: no input panics; a refused message leaves the state
// unchanged and returns no plaintext.
func FuzzGroupDecrypt(f *testing.F) {
	g := newTestGroup(f, 21, 2, 1)
	m := groupEncrypt(f, g.members[0], "hello")
	f.Add(m)
	f.Add(m[:crypto.Buckets()[0]-1])
	f.Add(make([]byte, crypto.Buckets()[0]))
	state := g.members[1].Marshal()
	f.Fuzz(func(t *testing.T, in []byte) {
		r, err := UnmarshalGroupEpoch(Config{}, state)
		if err != nil {
			t.Fatal(err)
		}
		pt, _, err := r.Decrypt(in)
		if err != nil {
			if pt != nil {
				t.Fatal("plaintext returned with an error")
			}
			if !bytes.Equal(r.Marshal(), state) {
				t.Fatal("a refused message changed the state")
			}
		}
	})
}

// FuzzOpenEpochSecret: no input panics; only the genuine record opens.
func FuzzOpenEpochSecret(f *testing.F) {
	r := groupRand(22)
	s, _ := crypto.NewSymKey(r)
	k := newTestSealKey(f, r)
	o := newTestSealKey(f, r)
	var id [GroupIDSize]byte
	ctx := EpochContext(id, 1)
	sealed, err := SealEpochSecret(&s, ctx, []SealRecipient{o.recipient(), k.recipient()}, r)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(sealed, 1)
	f.Add(sealed[:40], 0)
	f.Fuzz(func(t *testing.T, in []byte, i int) {
		got, err := k.open(in, ctx, i)
		if err != nil {
			if !got.IsZero() {
				t.Fatal("secret returned with an error")
			}
			return
		}
		if got != s {
			t.Fatal("opened to a different secret")
		}
	})
}
