package crypto

import (
	"bytes"
	"testing"
)

// FuzzUnpad: anything Unpad accepts is exactly message || 0x80 || zeros,
// and padding that message again gives it back.
func FuzzUnpad(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{0x80})
	f.Add([]byte{'h', 'i', 0x80, 0, 0})
	f.Add([]byte{'h', 'i', 0x80, 0, 1})
	f.Add(bytes.Repeat([]byte{0}, 100))
	f.Fuzz(func(t *testing.T, in []byte) {
		m, err := Unpad(in)
		if err != nil {
			if m != nil {
				t.Fatal("message with an error")
			}
			return
		}
		if len(m) >= len(in) || in[len(m)] != 0x80 || !bytes.Equal(in[:len(m)], m) {
			t.Fatal("Unpad result is not a prefix followed by the marker")
		}
		for _, b := range in[len(m)+1:] {
			if b != 0 {
				t.Fatal("non-zero byte after the marker")
			}
		}
		p, err := Pad(nil, m, []int{len(in)})
		if err != nil || !bytes.Equal(p, in) {
			t.Fatal("Pad(Unpad(x)) != x")
		}
	})
}

// FuzzParseKeys: every exact-length parser returns an error or a key
// whose encoding is the input.
func FuzzParseKeys(f *testing.F) {
	f.Add(make([]byte, 32))
	f.Add(make([]byte, 24))
	f.Add(make([]byte, 64))
	f.Add([]byte{1})
	f.Fuzz(func(t *testing.T, in []byte) {
		if k, err := ParseSymKey(in); err == nil && !bytes.Equal(k[:], in) {
			t.Fatal("SymKey")
		}
		if k, err := ParseDHPublic(in); err == nil && !bytes.Equal(k[:], in) {
			t.Fatal("DHPublic")
		}
		if k, err := ParseDHPrivate(in); err == nil && !bytes.Equal(k.Bytes(), in) {
			t.Fatal("DHPrivate")
		}
		if k, err := ParseSignPublic(in); err == nil && !bytes.Equal(k[:], in) {
			t.Fatal("SignPublic")
		}
		if k, err := ParseSignPrivate(in); err == nil && !bytes.Equal(k.Seed(), in) {
			t.Fatal("SignPrivate")
		}
		if k, err := ParseKEMPrivate(in); err == nil && !bytes.Equal(k.Seed(), in) {
			t.Fatal("KEMPrivate")
		}
		if id, err := ParseID(in); err == nil && !bytes.Equal(id[:], in) {
			t.Fatal("ID")
		}
	})
}

// FuzzKEMPublic: a parsed encapsulation key re-encodes to the input.
func FuzzKEMPublic(f *testing.F) {
	k, _ := GenerateKEM(bytes.NewReader(bytes.Repeat([]byte{3}, KEMSeedSize)))
	f.Add(k.Public().Bytes())
	f.Add(make([]byte, KEMPublicSize))
	f.Fuzz(func(t *testing.T, in []byte) {
		p, err := ParseKEMPublic(in)
		if err != nil {
			return
		}
		if !bytes.Equal(p.Bytes(), in) {
			t.Fatal("round trip")
		}
	})
}

// FuzzOpenX: arbitrary sealed input is ErrAuth, never a panic.
func FuzzOpenX(f *testing.F) {
	var key SymKey
	s, _ := SealX(nil, &key, []byte("x"), nil, bytes.NewReader(make([]byte, XNonceSize)))
	f.Add(s)
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, in []byte) {
		pt, err := OpenX(nil, &key, in, nil)
		if err != nil && pt != nil {
			t.Fatal("plaintext with an error")
		}
	})
}
