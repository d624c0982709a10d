package wire_test

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"veil/relay/wire"
)

// TestPasswordNeverPrints checks that no fmt verb and no JSON encoding
// turns a password or a credentialed address into text holding it.
func TestPasswordNeverPrints(t *testing.T) {
	const pw = "pw-SENTINEL-3f9a"
	c, err := wire.ParseCredentialed("veil://relay.example.org:443#c7QpKm5gj4EIsyO7rYGeTgrAh-rLImc1sR4l0pKFyrI~" + wire.Password(pw).Encode())
	if err != nil {
		t.Fatal(err)
	}
	enc := c.Password.Encode()
	holder := struct {
		C  wire.Credentialed
		P  wire.Password
		CP *wire.Credentialed
	}{c, c.Password, &c}
	for _, v := range []any{c, &c, c.Password, holder, &holder, []wire.Credentialed{c}, map[string]wire.Password{"a": c.Password}} {
		for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d", "%T"} {
			out := fmt.Sprintf(verb, v)
			if strings.Contains(out, pw) || strings.Contains(out, enc) || strings.Contains(out, fmt.Sprintf("%x", pw)) {
				t.Errorf("%s of %T prints the password: %s", verb, v, out)
			}
		}
		if b, err := json.Marshal(v); err == nil {
			t.Errorf("json.Marshal(%T) = %s, want an error", v, b)
		}
	}
	if c.String() != c.Address.String() || strings.Contains(c.String(), "~") {
		t.Fatalf("String = %s", c.String())
	}
	if !strings.HasSuffix(c.Secret(), "~"+enc) {
		t.Fatalf("Secret lacks the password")
	}
}

// TestParseAddressRefusesPassword checks that only ParseCredentialed
// accepts the credentialed form, so no path takes a password silently.
func TestParseAddressRefusesPassword(t *testing.T) {
	for _, s := range []string{
		"veil://relay.example.org:443#c7QpKm5gj4EIsyO7rYGeTgrAh-rLImc1sR4l0pKFyrI~cHc",
		"veil://relay.example.org~cHc:443#c7QpKm5gj4EIsyO7rYGeTgrAh-rLImc1sR4l0pKFyrI",
	} {
		if _, err := wire.ParseAddress(s); err == nil {
			t.Errorf("ParseAddress(%q) accepted a password", s)
		}
	}
}

func TestPasswordEqual(t *testing.T) {
	if !wire.Password("a").Equal(wire.Password("a")) || wire.Password("a").Equal(wire.Password("b")) || wire.Password("a").Equal(nil) {
		t.Fatal("Equal")
	}
}

// TestChunkPassword checks the chunk password of "correct horse" against
// the CPUT and CROOM of spec/vectors/relay/frames.json, that it is good
// for one relay only, and that a relay without a password gets all zero
// bytes.
func TestChunkPassword(t *testing.T) {
	a, err := wire.ParseAddress("veil://relay.example.org:443#c7QpKm5gj4EIsyO7rYGeTgrAh-rLImc1sR4l0pKFyrI")
	if err != nil {
		t.Fatal(err)
	}
	got := wire.ChunkPassword(a.Fingerprint, []byte("correct horse"))
	if hex.EncodeToString(got[:]) != "c1483546ecbf31c8abcd80218b31a75e990f0840a0f2d5475d980a81a1c4bd38" {
		t.Fatalf("chunk password %x", got)
	}
	other := a.Fingerprint
	other[0] ^= 1
	if wire.ChunkPassword(other, []byte("correct horse")) == got {
		t.Fatal("two relays with one password get the same chunk password")
	}
	if wire.ChunkPassword(a.Fingerprint, nil) != [wire.CapSize]byte{} {
		t.Fatal("no password gives a non-zero chunk password")
	}
}

// TestPutPassword: PUT's password is the chunk password's first
// PutPasswordSize bytes, the rest zero, and all zero without a password.
func TestPutPassword(t *testing.T) {
	fp := wire.Fingerprint{1, 2, 3}
	cp := wire.ChunkPassword(fp, []byte("correct horse"))
	pp := wire.PutPassword(fp, []byte("correct horse"))
	if !bytes.Equal(pp[:wire.PutPasswordSize], cp[:wire.PutPasswordSize]) || [wire.CapSize - wire.PutPasswordSize]byte(pp[wire.PutPasswordSize:]) != [wire.CapSize - wire.PutPasswordSize]byte{} {
		t.Fatalf("put password %x, chunk password %x", pp, cp)
	}
	if wire.PutPassword(fp, nil) != [wire.CapSize]byte{} {
		t.Fatal("no password gives a non-zero put password")
	}
}
