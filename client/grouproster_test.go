package client

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"veil/crypto"
	"veil/ratchet"
)

type testMember struct {
	sign crypto.SignPrivate
	seal crypto.DHPrivate
}

// testRoster returns a roster of n members (the first an admin) and their
// private keys, drawn from a fixed seed.
func testRoster(t testing.TB, n int) (*roster, []testMember) {
	t.Helper()
	r := rand.NewChaCha8([32]byte{'r', 'o', 's', 't', 'e', 'r'})
	ro := &roster{Epoch: 1, Settings: groupSettings{Name: "river", Timer: 3600}}
	crypto.RandomBytes(r, ro.GroupID[:])
	var keys []testMember
	for i := range n {
		s, _ := crypto.GenerateSign(r)
		d, _ := crypto.GenerateDH(r)
		keys = append(keys, testMember{s, d})
		role := roleMember
		if i == 0 {
			role = roleAdmin
		}
		ro.Members = append(ro.Members, groupMember{Sign: s.Public(), Seal: d.Public(), Role: role, Nick: fmt.Sprint("nick", i)})
	}
	return ro, keys
}

func ctxOf(r *roster) [ratchet.EpochContextSize]byte { return ratchet.EpochContext(r.GroupID, r.Epoch) }

func signedCommit(t testing.TB, old *roster, signer crypto.SignPrivate, change byte, operand []byte) (*commit, *roster) {
	t.Helper()
	c, next, err := makeCommit(old, change, operand)
	if err != nil {
		t.Fatal(err)
	}
	c.Sealed = []byte("sealed list")
	c.LogID = make([]byte, ratchet.SealedLogIDSize)
	c.sign(signer, ctxOf(old))
	return c, next
}

func TestRosterRoundTrip(t *testing.T) {
	ro, _ := testRoster(t, 5)
	b, err := ro.marshal()
	if err != nil {
		t.Fatal(err)
	}
	p, err := parseRoster(b)
	if err != nil {
		t.Fatal(err)
	}
	b2, _ := p.marshal()
	if !bytes.Equal(b, b2) {
		t.Fatal("round trip differs")
	}
	for n := range len(b) {
		if _, err := parseRoster(b[:n]); err == nil {
			t.Fatalf("truncated to %d: accepted", n)
		}
	}
	if _, err := parseRoster(append(bytes.Clone(b), 0)); err == nil {
		t.Fatal("extended: accepted")
	}
	dup := ro.clone()
	dup.Members = append(dup.Members, dup.Members[1])
	db, _ := dup.marshal()
	if _, err := parseRoster(db); err == nil {
		t.Fatal("a member twice: accepted")
	}
}

func TestCommitChanges(t *testing.T) {
	ro, keys := testRoster(t, 3)
	admin := keys[0].sign
	r := rand.NewChaCha8([32]byte{'n'})
	ns, _ := crypto.GenerateSign(r)
	nd, _ := crypto.GenerateDH(r)
	joiner := groupMember{Sign: ns.Public(), Seal: nd.Public(), Role: roleMember, Nick: "newcomer"}
	addOp, _ := joiner.appendTo(nil)
	setOp, _ := (&groupSettings{Name: "lake", Deadline: 99}).appendTo(nil)
	for _, tc := range []struct {
		name   string
		change byte
		op     []byte
		check  func(*roster) bool
	}{
		{"add", changeAdd, addOp, func(n *roster) bool { return len(n.Members) == 4 && n.Members[3].Nick == "newcomer" }},
		{"remove", changeRemove, indexOperand(1), func(n *roster) bool { return len(n.Members) == 2 && n.index(keys[1].sign.Public()) < 0 }},
		{"leave", changeLeave, indexOperand(2), func(n *roster) bool { return len(n.Members) == 2 && n.index(keys[2].sign.Public()) < 0 }},
		{"promote", changePromote, indexOperand(1), func(n *roster) bool { return n.Members[1].Role == roleAdmin }},
		{"settings", changeSettings, setOp, func(n *roster) bool { return n.Settings.Name == "lake" && n.Settings.Deadline == 99 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, want := signedCommit(t, ro, admin, tc.change, tc.op)
			p, err := parseCommit(c.marshal())
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(p.marshal(), c.marshal()) {
				t.Fatal("commit round trip differs")
			}
			got, err := p.verify(ro, ctxOf(ro))
			if err != nil {
				t.Fatal(err)
			}
			if !tc.check(got) || got.Epoch != 2 {
				t.Fatal("change not applied")
			}
			wb, _ := want.marshal()
			gb, _ := got.marshal()
			if !bytes.Equal(wb, gb) {
				t.Fatal("verifier and committer disagree on the new roster")
			}
		})
	}
}

// TestCommitRefused: commits a member must refuse, each for its own reason.
func TestCommitRefused(t *testing.T) {
	ro, keys := testRoster(t, 3)
	admin, member := keys[0].sign, keys[1].sign
	good, _ := signedCommit(t, ro, admin, changeRemove, indexOperand(2))
	refuse := func(name string, c *commit, old *roster, want string) {
		t.Helper()
		_, err := c.verify(old, ctxOf(old))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: got %v, want %q", name, err, want)
		}
	}
	byMember, _ := signedCommit(t, ro, member, changeRemove, indexOperand(2))
	refuse("signed by a non-admin", byMember, ro, "not signed by an admin")

	later := ro.clone()
	later.Epoch = 2
	refuse("stale epoch", good, later, "expected 3")

	other := ro.clone()
	other.Settings.Name = "other"
	refuse("another roster", good, other, "another roster")

	forged := *good
	forged.Operand = indexOperand(1)
	refuse("operand changed after signing", &forged, ro, "signature")

	lying := *good
	lying.NewHash[0] ^= 1
	lying.sign(admin, ctxOf(ro))
	refuse("new hash does not match", &lying, ro, "does not match")

	wrongCtx := *good
	wrongCtx.sign(admin, ratchet.EpochContext(ro.GroupID, 7))
	refuse("signed for another epoch context", &wrongCtx, ro, "signature")

	if _, _, err := makeCommit(ro, changeRemove, indexOperand(0)); err == nil {
		t.Error("removing the only admin: accepted")
	}
	if _, _, err := makeCommit(ro, changePromote, indexOperand(0)); err == nil {
		t.Error("promoting an admin: accepted")
	}
	if _, _, err := makeCommit(ro, changeRemove, indexOperand(3)); err == nil {
		t.Error("removing a member out of range: accepted")
	}
	// Every flipped byte of the encoding is refused by the parser or the
	// verifier.
	enc := good.marshal()
	for i := range enc {
		bad := bytes.Clone(enc)
		bad[i] ^= 0x10
		c, err := parseCommit(bad)
		if err != nil {
			continue
		}
		if _, err := c.verify(ro, ctxOf(ro)); err == nil {
			t.Fatalf("byte %d flipped: verified", i)
		}
	}
}

func TestGroupEnvelopeAndCommitParts(t *testing.T) {
	for _, g := range []*groupEnvelope{
		{Type: genvText, ID: wireID{1}, TTL: 60, Text: "hello group"},
		{Type: genvLeave},
		{Type: genvBurn},
		{Type: genvCommit, CommitID: [8]byte{9}, Part: 1, Parts: 2, Bytes: []byte("xyz")},
	} {
		b, err := g.marshal()
		if err != nil {
			t.Fatal(err)
		}
		p, err := parseGroupEnvelope(b)
		if err != nil {
			t.Fatal(err)
		}
		b2, _ := p.marshal()
		if !bytes.Equal(b, b2) {
			t.Fatalf("type %d: round trip differs", g.Type)
		}
	}
	big := make([]byte, 3*commitPartBytes+5)
	for i := range big {
		big[i] = byte(i)
	}
	parts, err := splitCommit([8]byte{1}, big)
	if err != nil || len(parts) != 4 {
		t.Fatalf("%d parts, %v", len(parts), err)
	}
	var a commitAssembler
	for _, i := range []int{2, 0, 3} {
		if a.add(parts[i]) != nil {
			t.Fatal("assembled before every part arrived")
		}
	}
	a.add(parts[0]) // a duplicate part changes nothing
	if got := a.add(parts[1]); !bytes.Equal(got, big) {
		t.Fatal("assembled commit differs")
	}
	for _, p := range parts {
		b, err := p.marshal()
		if err != nil || len(b) > ratchet.MaxGroupPlaintext {
			t.Fatalf("part of %d bytes: %v", len(b), err)
		}
	}
	if _, err := splitCommit([8]byte{}, make([]byte, maxCommitParts*commitPartBytes+1)); err == nil {
		t.Fatal("an oversized commit was split")
	}
}
