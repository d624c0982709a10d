package client

import (
	"bytes"
	"testing"
)

// FuzzParseRoster: a roster that parses marshals back to the input.
func FuzzParseRoster(f *testing.F) {
	ro, _ := testRoster(f, 3)
	b, _ := ro.marshal()
	f.Add(b)
	f.Add(b[:40])
	f.Fuzz(func(t *testing.T, in []byte) {
		r, err := parseRoster(in)
		if err != nil {
			if r != nil {
				t.Fatal("roster returned with an error")
			}
			return
		}
		out, err := r.marshal()
		if err != nil || !bytes.Equal(out, in) {
			t.Fatalf("round trip: %v", err)
		}
	})
}

// FuzzParseCommit: a commit that parses marshals back to the input, and
// verifying it against a fixed roster never panics.
func FuzzParseCommit(f *testing.F) {
	ro, keys := testRoster(f, 3)
	c, _ := signedCommit(f, ro, keys[0].sign, changeRemove, indexOperand(1))
	f.Add(c.marshal())
	f.Fuzz(func(t *testing.T, in []byte) {
		c, err := parseCommit(in)
		if err != nil {
			if c != nil {
				t.Fatal("commit returned with an error")
			}
			return
		}
		if !bytes.Equal(c.marshal(), in) {
			t.Fatal("round trip differs")
		}
		_, _ = c.verify(ro, ctxOf(ro))
	})
}

// FuzzParseGroupEnvelope: an envelope that parses marshals back to the input.
func FuzzParseGroupEnvelope(f *testing.F) {
	for _, g := range []*groupEnvelope{
		{Type: genvText, Text: "hi"}, {Type: genvLeave}, {Type: genvBurn},
		{Type: genvCommit, Part: 0, Parts: 1, Bytes: []byte{1, 2}},
	} {
		b, _ := g.marshal()
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		g, err := parseGroupEnvelope(in)
		if err != nil {
			if g != nil {
				t.Fatal("envelope returned with an error")
			}
			return
		}
		out, err := g.marshal()
		if err != nil || !bytes.Equal(out, in) {
			t.Fatalf("round trip: %v", err)
		}
	})
}
