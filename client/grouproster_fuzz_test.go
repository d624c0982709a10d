package client

import (
	"bytes"
	"testing"

	"veil/crypto"
	"veil/ratchet"
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

// FuzzParseGroupBlob: a group invite blob that parses marshals back.
func FuzzParseGroupBlob(f *testing.F) {
	f.Add((&groupBlob{Name: "river"}).marshal())
	f.Add([]byte{groupBlobMarker, 1})
	f.Fuzz(func(t *testing.T, in []byte) {
		b, err := parseGroupBlob(in)
		if err != nil {
			if b != nil {
				t.Fatal("blob returned with an error")
			}
			return
		}
		if !bytes.Equal(b.marshal(), in) {
			t.Fatal("round trip differs")
		}
	})
}

// FuzzParseGroupWelcome: a welcome that parses marshals back.
func FuzzParseGroupWelcome(f *testing.F) {
	ro, _ := testRoster(f, 2)
	rb, _ := ro.marshal()
	f.Add((&groupWelcome{Roster: rb}).marshal())
	f.Fuzz(func(t *testing.T, in []byte) {
		w, err := parseGroupWelcome(in)
		if err != nil {
			if w != nil {
				t.Fatal("welcome returned with an error")
			}
			return
		}
		if !bytes.Equal(w.marshal(), in) {
			t.Fatal("round trip differs")
		}
	})
}

// FuzzLoadGroup: no stored record makes loading panic; a record that loads
// saves and loads again to the same state.
func FuzzLoadGroup(f *testing.F) {
	ro, keys := testRoster(f, 2)
	g := &groupState{sign: keys[0].sign, seal: keys[0].seal}
	secret := crypto.SymKey{1}
	pubs := []crypto.SignPublic{ro.Members[0].Sign, ro.Members[1].Sign}
	ep, err := ratchet.NewGroupEpoch(ratchet.Config{}, &secret, ro.GroupID, ro.Epoch, keys[0].sign, pubs)
	if err != nil {
		f.Fatal(err)
	}
	g.cur = groupLog{epoch: ep, roster: ro}
	rec := &groupRecord{Relay: "veil+ws://127.0.0.1:1#x", Nick: "nick0"}
	b, err := g.save(rec)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
	f.Add([]byte(`{"v":1}`))
	f.Fuzz(func(t *testing.T, in []byte) {
		g, rec, err := loadGroup(ratchet.Config{}, in)
		if err != nil {
			if g != nil || rec != nil {
				t.Fatal("state returned with an error")
			}
			return
		}
		out, err := g.save(rec)
		if err != nil {
			t.Fatal(err)
		}
		g2, rec2, err := loadGroup(ratchet.Config{}, out)
		if err != nil {
			t.Fatalf("a saved record does not load: %v", err)
		}
		out2, _ := g2.save(rec2)
		if !bytes.Equal(out, out2) {
			t.Fatal("save is not stable")
		}
	})
}
