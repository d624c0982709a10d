package format

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
	kem  crypto.KEM768Private
}

// testRoster returns a roster of n members (the first an admin) and their
// private keys, drawn from a fixed seed.
func testRoster(t testing.TB, n int) (*Roster, []testMember) {
	t.Helper()
	r := rand.NewChaCha8([32]byte{'r', 'o', 's', 't', 'e', 'r'})
	ro := &Roster{Epoch: 1, Settings: Settings{Name: "river", Timer: 3600}}
	crypto.RandomBytes(r, ro.GroupID[:])
	var keys []testMember
	for i := range n {
		s, _ := crypto.GenerateSign(r)
		d, _ := crypto.GenerateDH(r)
		q, _ := crypto.GenerateKEM768(r)
		keys = append(keys, testMember{s, d, q})
		role := RoleMember
		if i == 0 {
			role = RoleAdmin
		}
		ro.Members = append(ro.Members, Member{Sign: s.Public(), Seal: d.Public(), Kem: q.Public(), Role: role, Nick: fmt.Sprint("nick", i)})
	}
	return ro, keys
}

func ctxOf(r *Roster) [ratchet.EpochContextSize]byte { return ratchet.EpochContext(r.GroupID, r.Epoch) }

func signedCommit(t testing.TB, old *Roster, signer crypto.SignPrivate, change byte, operand []byte) (*Commit, *Roster) {
	t.Helper()
	c, next, err := MakeCommit(old, change, operand)
	if err != nil {
		t.Fatal(err)
	}
	c.Sealed = make([]byte, ratchet.SealedEpochSize(len(next.Members)))
	c.LogID = make([]byte, ratchet.SealedLogIDSize)
	c.Sign(signer, ctxOf(old))
	return c, next
}

func TestRosterRoundTrip(t *testing.T) {
	ro, _ := testRoster(t, 5)
	b, err := ro.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	p, err := ParseRoster(b)
	if err != nil {
		t.Fatal(err)
	}
	b2, _ := p.Marshal()
	if !bytes.Equal(b, b2) {
		t.Fatal("round trip differs")
	}
	for n := range len(b) {
		if _, err := ParseRoster(b[:n]); err == nil {
			t.Fatalf("truncated to %d: accepted", n)
		}
	}
	if _, err := ParseRoster(append(bytes.Clone(b), 0)); err == nil {
		t.Fatal("extended: accepted")
	}
	dup := ro.Clone()
	dup.Members = append(dup.Members, dup.Members[1])
	db, _ := dup.Marshal()
	if _, err := ParseRoster(db); err == nil {
		t.Fatal("a member twice: accepted")
	}
}

func TestCommitChanges(t *testing.T) {
	ro, keys := testRoster(t, 3)
	admin := keys[0].sign
	r := rand.NewChaCha8([32]byte{'n'})
	ns, _ := crypto.GenerateSign(r)
	nd, _ := crypto.GenerateDH(r)
	nq, _ := crypto.GenerateKEM768(r)
	joiner := Member{Sign: ns.Public(), Seal: nd.Public(), Kem: nq.Public(), Role: RoleMember, Nick: "newcomer"}
	addOp, _ := joiner.AppendTo(nil)
	setOp, _ := (&Settings{Name: "lake", Deadline: 99}).appendTo(nil)
	fresh := updatedMember(t, ro.Members[1], 'u')
	updOp, err := UpdateOperand(1, &fresh)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		change byte
		op     []byte
		check  func(*Roster) bool
	}{
		{"add", ChangeAdd, addOp, func(n *Roster) bool { return len(n.Members) == 4 && n.Members[3].Nick == "newcomer" }},
		{"remove", ChangeRemove, IndexOperand(1), func(n *Roster) bool { return len(n.Members) == 2 && n.Index(keys[1].sign.Public()) < 0 }},
		{"leave", ChangeLeave, IndexOperand(2), func(n *Roster) bool { return len(n.Members) == 2 && n.Index(keys[2].sign.Public()) < 0 }},
		{"promote", ChangePromote, IndexOperand(1), func(n *Roster) bool { return n.Members[1].Role == RoleAdmin }},
		{"settings", ChangeSettings, setOp, func(n *Roster) bool { return n.Settings.Name == "lake" && n.Settings.Deadline == 99 }},
		{"update", ChangeUpdate, updOp, func(n *Roster) bool {
			return len(n.Members) == 3 && n.Members[1].Sign == fresh.Sign && n.Index(keys[1].sign.Public()) < 0
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			signer := admin
			if tc.change == ChangeUpdate {
				signer = keys[1].sign // a member updates itself with its old key
			}
			c, want := signedCommit(t, ro, signer, tc.change, tc.op)
			p, err := ParseCommit(c.Marshal())
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(p.Marshal(), c.Marshal()) {
				t.Fatal("commit round trip differs")
			}
			got, err := p.Verify(ro, ctxOf(ro))
			if err != nil {
				t.Fatal(err)
			}
			if !tc.check(got) || got.Epoch != 2 {
				t.Fatal("change not applied")
			}
			wb, _ := want.Marshal()
			gb, _ := got.Marshal()
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
	good, _ := signedCommit(t, ro, admin, ChangeRemove, IndexOperand(2))
	refuse := func(name string, c *Commit, old *Roster, want string) {
		t.Helper()
		_, err := c.Verify(old, ctxOf(old))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: got %v, want %q", name, err, want)
		}
	}
	byMember, _ := signedCommit(t, ro, member, ChangeRemove, IndexOperand(2))
	refuse("signed by a non-admin", byMember, ro, "not signed by an admin")

	later := ro.Clone()
	later.Epoch = 2
	refuse("stale epoch", good, later, "expected 3")

	other := ro.Clone()
	other.Settings.Name = "other"
	refuse("another roster", good, other, "another roster")

	forged := *good
	forged.Operand = IndexOperand(1)
	refuse("operand changed after signing", &forged, ro, "signature")

	lying := *good
	lying.NewHash[0] ^= 1
	lying.Sign(admin, ctxOf(ro))
	refuse("new hash does not match", &lying, ro, "does not match")

	wrongCtx := *good
	wrongCtx.Sign(admin, ratchet.EpochContext(ro.GroupID, 7))
	refuse("signed for another epoch context", &wrongCtx, ro, "signature")

	if _, _, err := MakeCommit(ro, ChangeRemove, IndexOperand(0)); err == nil {
		t.Error("removing the only admin: accepted")
	}
	if _, _, err := MakeCommit(ro, ChangePromote, IndexOperand(0)); err == nil {
		t.Error("promoting an admin: accepted")
	}
	if _, _, err := MakeCommit(ro, ChangeRemove, IndexOperand(3)); err == nil {
		t.Error("removing a member out of range: accepted")
	}
	// Every flipped byte of the encoding is refused by the parser or the
	// verifier.
	enc := good.Marshal()
	for i := range enc {
		bad := bytes.Clone(enc)
		bad[i] ^= 0x10
		c, err := ParseCommit(bad)
		if err != nil {
			continue
		}
		if _, err := c.Verify(ro, ctxOf(ro)); err == nil {
			t.Fatalf("byte %d flipped: verified", i)
		}
	}
}

// updatedMember returns m with three fresh keys drawn from seed.
func updatedMember(t testing.TB, m Member, seed byte) Member {
	t.Helper()
	r := rand.NewChaCha8([32]byte{seed})
	s, _ := crypto.GenerateSign(r)
	d, _ := crypto.GenerateDH(r)
	q, _ := crypto.GenerateKEM768(r)
	m.Sign, m.Seal, m.Kem = s.Public(), d.Public(), q.Public()
	return m
}

// TestUpdateRefused: an update is made by the member it names, with three
// new keys and nothing else changed.
func TestUpdateRefused(t *testing.T) {
	ro, keys := testRoster(t, 3)
	fresh := updatedMember(t, ro.Members[2], 'u')
	op, _ := UpdateOperand(2, &fresh)
	for _, signer := range []crypto.SignPrivate{keys[0].sign, keys[1].sign} {
		c, _ := signedCommit(t, ro, signer, ChangeUpdate, op)
		if _, err := c.Verify(ro, ctxOf(ro)); err == nil || !strings.Contains(err.Error(), "not signed by the member it updates") {
			t.Errorf("update of member 2 signed by another member (an admin too): %v", err)
		}
	}
	good, _ := signedCommit(t, ro, keys[2].sign, ChangeUpdate, op)
	if _, err := good.Verify(ro, ctxOf(ro)); err != nil {
		t.Fatal(err)
	}
	signedByNew := *good
	signedByNew.Sig = [crypto.SignatureSize]byte{}
	signedByNew.Signer = fresh.Sign
	if _, err := signedByNew.Verify(ro, ctxOf(ro)); err == nil {
		t.Error("update signed by the new key: accepted")
	}
	for name, mod := range map[string]func(*Member){
		"nickname changed": func(m *Member) { m.Nick = "other" },
		"role changed":     func(m *Member) { m.Role = RoleAdmin },
		"old S kept":       func(m *Member) { m.Sign = ro.Members[2].Sign },
		"old P kept":       func(m *Member) { m.Seal = ro.Members[2].Seal },
		"old Q kept":       func(m *Member) { m.Kem = ro.Members[2].Kem },
		"another's Q":      func(m *Member) { m.Kem = ro.Members[0].Kem },
	} {
		m := fresh
		mod(&m)
		bad, _ := UpdateOperand(2, &m)
		if _, _, err := MakeCommit(ro, ChangeUpdate, bad); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if _, _, err := MakeCommit(ro, ChangeUpdate, append(bytes.Clone(op), 0)); err == nil {
		t.Error("trailing operand byte: accepted")
	}
	if _, _, err := MakeCommit(ro, ChangeUpdate, IndexOperand(2)); err == nil {
		t.Error("update without an entry: accepted")
	}
	oob, _ := UpdateOperand(3, &fresh)
	if _, _, err := MakeCommit(ro, ChangeUpdate, oob); err == nil {
		t.Error("update of a member out of range: accepted")
	}
}

func TestCommitHashAndSizes(t *testing.T) {
	ro, keys := testRoster(t, 2)
	c, _ := signedCommit(t, ro, keys[0].sign, ChangeRemove, IndexOperand(1))
	enc := c.Marshal()
	h := CommitHash(enc)
	if h != crypto.Hash([]byte("veil/group/v2/commit-hash"), enc) {
		t.Fatal("commit hash")
	}
	if len(enc) != commitFixedSize+2+ratchet.SealedEpochSize(1) {
		t.Fatalf("commit of %d bytes", len(enc))
	}
	if _, err := ParseCommit(make([]byte, MaxCommitSize+1)); err == nil {
		t.Fatal("oversized commit parsed")
	}
}
