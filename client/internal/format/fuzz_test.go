package format

import (
	"bytes"
	"testing"

	"veil/crypto"
)

// FuzzParseRoster: a roster that parses marshals back to the input.
func FuzzParseRoster(f *testing.F) {
	ro, _ := testRoster(f, 3)
	b, _ := ro.Marshal()
	f.Add(b)
	f.Add(b[:40])
	ro3, _ := testRosterV3(f, 2, relayA, relayB)
	b3, _ := ro3.Marshal()
	f.Add(b3)
	f.Fuzz(func(t *testing.T, in []byte) {
		r, err := ParseRoster(in)
		if err != nil {
			if r != nil {
				t.Fatal("roster returned with an error")
			}
			return
		}
		out, err := r.Marshal()
		if err != nil || !bytes.Equal(out, in) {
			t.Fatalf("round trip: %v", err)
		}
	})
}

// FuzzParseCommit: a commit that parses marshals back to the input, and
// verifying it against a fixed roster never panics.
func FuzzParseCommit(f *testing.F) {
	ro, keys := testRoster(f, 3)
	c, _ := signedCommit(f, ro, keys[0].sign, ChangeRemove, IndexOperand(1))
	f.Add(c.Marshal())
	fresh := updatedMember(f, ro.Members[1], 'f')
	op, _ := UpdateOperand(1, &fresh)
	u, _ := signedCommit(f, ro, keys[1].sign, ChangeUpdate, op)
	f.Add(u.Marshal())
	s := ro.Settings
	s.Relays = []string{relayA, relayB}
	sop, _ := SettingsOperand(s)
	m, _ := signedCommitV3(f, ro, keys[0].sign, ChangeSettings, sop)
	f.Add(m.Marshal())
	f.Fuzz(func(t *testing.T, in []byte) {
		c, err := ParseCommit(in)
		if err != nil {
			if c != nil {
				t.Fatal("commit returned with an error")
			}
			return
		}
		if !bytes.Equal(c.Marshal(), in) {
			t.Fatal("round trip differs")
		}
		_, _ = c.Verify(ro, ctxOf(ro))
	})
}

// FuzzParseGroupEnvelope: an envelope that parses marshals back to the input.
func FuzzParseGroupEnvelope(f *testing.F) {
	for _, g := range []*GroupEnvelope{
		{Type: GenvText, Text: "hi"}, {Type: GenvLeave}, {Type: GenvBurn}, {Type: GenvNext, Next: [ConfTagSize]byte{4}},
		{Type: GenvReply, ID: WireID{1}, TTL: 5, Target: WireID{2}, Text: "re"},
		{Type: GenvReact, ID: WireID{2}, Reaction: "👍"}, {Type: GenvReact, ID: WireID{2}},
		{Type: GenvCommit, Conf: [ConfTagSize]byte{7}, Hash: [32]byte{3}, Part: 0, Parts: 1, Bytes: []byte{1, 2}},
		{Type: GenvFile, ID: WireID{3}, TTL: 60, File: testFileDescriptor()},
		{Type: GenvFile, ID: WireID{3}, FileRaw: []byte{2}},
	} {
		b, _ := g.Marshal()
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		g, err := ParseGroupEnvelope(in)
		if err != nil {
			if g != nil {
				t.Fatal("envelope returned with an error")
			}
			return
		}
		out, err := g.Marshal()
		if err != nil || !bytes.Equal(out, in) {
			t.Fatalf("round trip: %v", err)
		}
	})
}

// FuzzParseGroupBlob: a group invite blob that parses marshals back.
func FuzzParseGroupBlob(f *testing.F) {
	f.Add((&GroupBlob{Name: "river", Token: JoinToken{7}}).Marshal())
	f.Add([]byte{GroupBlobMarker, 1})
	f.Add([]byte{GroupBlobMarker, 2})
	f.Add([]byte{GroupBlobMarker, 3})
	f.Fuzz(func(t *testing.T, in []byte) {
		b, err := ParseGroupBlob(in)
		if err != nil {
			if b != nil {
				t.Fatal("blob returned with an error")
			}
			return
		}
		if !bytes.Equal(b.Marshal(), in) {
			t.Fatal("round trip differs")
		}
	})
}

// FuzzParseGroupWelcome: a welcome that parses marshals back.
func FuzzParseGroupWelcome(f *testing.F) {
	ro, _ := testRoster(f, 2)
	rb, _ := ro.Marshal()
	f.Add((&GroupWelcome{Roster: rb, Conf: [32]byte{1}}).Marshal())
	ro3, _ := testRosterV3(f, 2, relayA, relayB)
	rb3, _ := ro3.Marshal()
	f.Add((&GroupWelcome{Roster: rb3, Logs: []crypto.ID{{1}, {2}}, Conf: [32]byte{1}}).Marshal())
	f.Fuzz(func(t *testing.T, in []byte) {
		w, err := ParseGroupWelcome(in)
		if err != nil {
			if w != nil {
				t.Fatal("welcome returned with an error")
			}
			return
		}
		if !bytes.Equal(w.Marshal(), in) {
			t.Fatal("round trip differs")
		}
	})
}

// FuzzParseJoinRequest: a join request that parses encodes back to the
// input.
func FuzzParseJoinRequest(f *testing.F) {
	ro, _ := testRoster(f, 1)
	b, _ := (&JoinRequest{Token: JoinToken{1, 2}, Member: ro.Members[0]}).Marshal()
	f.Add(b)
	f.Add(b[:JoinTokenSize])
	f.Fuzz(func(t *testing.T, in []byte) {
		q, err := ParseJoinRequest(in)
		if err != nil {
			if q != nil {
				t.Fatal("request returned with an error")
			}
			return
		}
		out, err := q.Marshal()
		if err != nil || !bytes.Equal(out, in) {
			t.Fatalf("round trip: %v", err)
		}
	})
}

// FuzzOpenWelcomeKey: a welcome key entry opens only for its recipient,
// and whatever the input, nothing panics.
func FuzzOpenWelcomeKey(f *testing.F) {
	var k crypto.SymKey
	me, err := crypto.GenerateDH(nil)
	if err != nil {
		f.Fatal(err)
	}
	q, err := crypto.GenerateKEM768(nil)
	if err != nil {
		f.Fatal(err)
	}
	entry, parts, err := SealWelcomeKey(&k, crypto.ID{1}, [WelcomeIDSize]byte{3}, &Member{Seal: me.Public(), Kem: q.Public()}, nil)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(entry)
	f.Add(entry[:WelcomeIDSize])
	f.Fuzz(func(t *testing.T, in []byte) {
		wid, got, err := OpenWelcomeKey(&k, crypto.ID{1}, in, me, &q)
		if err != nil {
			if got != (crypto.SymKey{}) || wid != ([WelcomeIDSize]byte{}) {
				t.Fatal("a key returned with an error")
			}
			return
		}
		if got != parts || !bytes.Equal(wid[:], in[:WelcomeIDSize]) || !bytes.Equal(in[WelcomeIDSize:], entry[WelcomeIDSize:]) {
			t.Fatal("a different entry opened")
		}
	})
}

// FuzzCheckGroupRelays: a relay list either passes or is refused, and one
// that passes round-trips through version-3 settings.
func FuzzCheckGroupRelays(f *testing.F) {
	f.Add(relayA, relayB)
	f.Add(relayA+"~c2VjcmV0", "")
	f.Fuzz(func(t *testing.T, a, b string) {
		relays := []string{a}
		if b != "" {
			relays = append(relays, b)
		}
		if CheckGroupRelays(relays) != nil {
			return
		}
		s := Settings{Name: "n", Relays: relays}
		enc, err := s.appendTo(nil)
		if err != nil {
			t.Fatal(err)
		}
		r := newRecordReader(enc)
		back, err := r.settings(groupRecordV3)
		if err != nil || !r.done() || !settingsEqualTest(back, s) {
			t.Fatalf("round trip: %v", err)
		}
	})
}

// FuzzParseMember: a roster entry that parses encodes back to the input.
func FuzzParseMember(f *testing.F) {
	ro, _ := testRoster(f, 1)
	b, _ := ro.Members[0].AppendTo(nil)
	f.Add(b)
	f.Add(b[:10])
	f.Fuzz(func(t *testing.T, in []byte) {
		m, err := ParseMember(in)
		if err != nil {
			return
		}
		out, err := m.AppendTo(nil)
		if err != nil || !bytes.Equal(out, in) {
			t.Fatalf("round trip: %v", err)
		}
	})
}
