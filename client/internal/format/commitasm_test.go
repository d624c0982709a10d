package format

import (
	"bytes"
	"testing"

	"veil/crypto"
	"veil/ratchet"
)

func TestGroupEnvelopeRoundTrip(t *testing.T) {
	for _, g := range []*GroupEnvelope{
		{Conf: [ConfTagSize]byte{1, 2}, Type: GenvText, ID: WireID{1}, TTL: 60, Text: "hello group"},
		{Type: GenvLeave},
		{Type: GenvBurn},
		{Type: GenvNext, Next: [ConfTagSize]byte{5, 6}},
		{Type: GenvNext},
		{Type: GenvCommit, Hash: [32]byte{9}, Part: 1, Parts: 2, Bytes: []byte("xyz")},
	} {
		b, err := g.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		p, err := ParseGroupEnvelope(b)
		if err != nil {
			t.Fatal(err)
		}
		b2, _ := p.Marshal()
		if !bytes.Equal(b, b2) || p.Conf != g.Conf || p.Next != g.Next {
			t.Fatalf("type %d: round trip differs", g.Type)
		}
	}
	if _, err := (&GroupEnvelope{Type: GenvText, Text: string(make([]byte, MaxGroupText+1))}).Marshal(); err == nil {
		t.Fatal("a text over MaxGroupText was encoded")
	}
	if MaxGroupText != 15804 || CommitPartBytes != 15790 {
		t.Fatalf("limits %d, %d; spec/groups.md §11 says 15804, 15790", MaxGroupText, CommitPartBytes)
	}
}

// testCommit returns a commit-sized byte string of n parts and its parts.
func testCommit(t *testing.T, n int, seed byte) ([]byte, []*GroupEnvelope) {
	t.Helper()
	big := make([]byte, (n-1)*CommitPartBytes+5)
	for i := range big {
		big[i] = byte(i) ^ seed
	}
	parts, err := SplitCommit(big)
	if err != nil || len(parts) != n {
		t.Fatalf("%d parts, %v", len(parts), err)
	}
	for _, p := range parts {
		b, err := p.Marshal()
		if err != nil || len(b) > ratchet.MaxGroupPlaintext {
			t.Fatalf("part of %d bytes: %v", len(b), err)
		}
	}
	return big, parts
}

func TestCommitAssemblerOutOfOrderAndRepeats(t *testing.T) {
	admin := crypto.SignPublic{1}
	big, parts := testCommit(t, 4, 0)
	var a CommitAssembler
	for _, i := range []int{2, 0, 3, 0} { // a repeat changes nothing
		if res, _ := a.Add(admin, parts[i], 100, MaxCommitParts); res != PartKept {
			t.Fatalf("part %d: %v", i, res)
		}
	}
	res, got := a.Add(admin, parts[1], 101, MaxCommitParts)
	if res != PartComplete || !bytes.Equal(got, big) || len(a.List) != 0 {
		t.Fatalf("assembled: %v, equal %v, %d left", res, bytes.Equal(got, big), len(a.List))
	}
	if _, err := SplitCommit(make([]byte, MaxCommitParts*CommitPartBytes+1)); err == nil {
		t.Fatal("an oversized commit was split")
	}
}

// A malicious member's parts, even naming the genuine commit's hash and
// index, never reach the admin's assembly; a part that contradicts one
// already read from the same sender is dropped; parts whose bytes do not
// hash to their name are refused whole.
func TestCommitAssemblerResistsInjection(t *testing.T) {
	admin, mallory := crypto.SignPublic{1}, crypto.SignPublic{2}
	big, parts := testCommit(t, 3, 0)
	var a CommitAssembler
	a.Add(admin, parts[0], 1, MaxCommitParts)
	// mallory sends a part of the same commit hash with other bytes, a part
	// of another commit, and a part count that disagrees.
	forged := *parts[1]
	forged.Bytes = bytes.Repeat([]byte{0xee}, len(parts[1].Bytes))
	if res, _ := a.Add(mallory, &forged, 2, MaxCommitParts); res != PartKept {
		t.Fatalf("mallory's part: %v", res)
	}
	_, other := testCommit(t, 2, 9)
	for range 50 { // more commits than the assembler keeps
		a.Add(mallory, other[0], 3, MaxCommitParts)
		o := *other[0]
		o.Hash[0]++
		other[0] = &o
	}
	// The admin's own contradicting repeat of part 0 is dropped too.
	bad := *parts[0]
	bad.Bytes = []byte("other")
	if res, _ := a.Add(admin, &bad, 4, MaxCommitParts); res != PartDropped {
		t.Fatalf("a contradicting repeat: %v", res)
	}
	a.Add(admin, parts[1], 5, MaxCommitParts)
	res, got := a.Add(admin, parts[2], 6, MaxCommitParts)
	if res != PartComplete || !bytes.Equal(got, big) {
		t.Fatalf("the genuine commit after injection: %v", res)
	}
	if n := len(a.List); n > MaxAssembliesPerSender {
		t.Fatalf("mallory holds %d assemblies", n)
	}
	// A member who is not an admin may send no more parts than its update
	// needs.
	if res, _ := a.Add(mallory, parts[0], 7, 2); res != PartDropped {
		t.Fatalf("a 3-part commit from a sender allowed 2: %v", res)
	}
	// Bytes that do not hash to the commit's name.
	_, lie := testCommit(t, 1, 5)
	lie[0].Hash = parts[0].Hash
	if res, _ := a.Add(admin, lie[0], 8, MaxCommitParts); res != PartCorrupt {
		t.Fatalf("a commit not matching its hash: %v", res)
	}
}

func TestCommitAssemblerBounds(t *testing.T) {
	var a CommitAssembler
	for s := range 40 {
		_, parts := testCommit(t, 2, byte(s))
		a.Add(crypto.SignPublic{byte(s)}, parts[0], int64(s), MaxCommitParts)
	}
	if len(a.List) != MaxAssemblies {
		t.Fatalf("%d assemblies kept", len(a.List))
	}
	if a.List[0].First != 40-MaxAssemblies {
		t.Fatal("not the oldest evicted first")
	}
}

func TestConfirmChain(t *testing.T) {
	r1, r2, c := [32]byte{1}, [32]byte{2}, [32]byte{3}
	c1 := FirstConfirm(r1)
	if c1 == FirstConfirm(r2) || Confirm(c1, r2, c) == Confirm(c1, r2, [32]byte{4}) || Confirm(c1, r2, c) == Confirm(FirstConfirm(r2), r2, c) {
		t.Fatal("the confirmation value does not cover its inputs")
	}
}
