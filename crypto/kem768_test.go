package crypto

import (
	"bytes"
	"testing"
)

func TestKEM768RoundTrip(t *testing.T) {
	k, err := GenerateKEM768(bytes.NewReader(bytes.Repeat([]byte{7}, KEM768SeedSize)))
	if err != nil {
		t.Fatal(err)
	}
	if len(k.Public().Bytes()) != 1184 || KEM768CiphertextSize != 1088 {
		t.Fatal("ML-KEM-768 sizes")
	}
	ct, ss, err := Encapsulate768(k.Public(), bytes.NewReader(make([]byte, 32)))
	if err != nil {
		t.Fatal(err)
	}
	got, err := Decapsulate768(&k, ct)
	if err != nil || got != ss {
		t.Fatal("decapsulation differs")
	}
	ct[0] ^= 1
	if got, _ := Decapsulate768(&k, ct); got == ss {
		t.Fatal("tampered ciphertext gave the same secret")
	}
	if _, err := Decapsulate768(&k, ct[:1]); err == nil {
		t.Fatal("short ciphertext accepted")
	}
	p, err := ParseKEM768Public(k.Public().Bytes())
	if err != nil || p.Raw() != k.Public().Raw() {
		t.Fatal("public key round trip")
	}
	pk := k.Public().Bytes()
	for _, b := range [][]byte{pk[:1], pk[:len(pk)-1], append(bytes.Clone(pk), 0)} {
		if _, err := ParseKEM768Public(b); err == nil {
			t.Fatalf("KEM-768 public key of %d bytes accepted", len(b))
		}
	}
	bad := bytes.Clone(pk)
	bad[0], bad[1] = 0xff, 0xff
	if _, err := ParseKEM768Public(bad); err == nil {
		t.Fatal("KEM-768 public key failing the modulus check accepted")
	}
	if _, err := ParseKEM768Private(make([]byte, 63)); err == nil {
		t.Fatal("short seed accepted")
	}
}

// FuzzKEM768Public: a parsed encapsulation key re-encodes to the input.
func FuzzKEM768Public(f *testing.F) {
	k, _ := GenerateKEM768(bytes.NewReader(bytes.Repeat([]byte{3}, KEM768SeedSize)))
	f.Add(k.Public().Bytes())
	f.Add(make([]byte, KEM768PublicSize))
	f.Fuzz(func(t *testing.T, in []byte) {
		p, err := ParseKEM768Public(in)
		if err != nil {
			return
		}
		if !bytes.Equal(p.Bytes(), in) {
			t.Fatal("round trip")
		}
	})
}
