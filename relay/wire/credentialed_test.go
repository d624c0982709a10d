package wire_test

import (
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
// the CPUT and CROOM of spec/vectors/relay/frames.json, and that a relay
// without a password gets all zero bytes.
func TestChunkPassword(t *testing.T) {
	got := wire.ChunkPassword([]byte("correct horse"))
	if hex.EncodeToString(got[:]) != "08fd9c2e86a8e2f52aa9646056c85117da371d761b29987603025b97980c29d6" {
		t.Fatalf("chunk password %x", got)
	}
	if wire.ChunkPassword(nil) != [wire.CapSize]byte{} {
		t.Fatal("no password gives a non-zero chunk password")
	}
}
