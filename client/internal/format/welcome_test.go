package format

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"veil/crypto"
	"veil/ratchet"
)

// bigRoster is a roster of n members with the longest nicknames.
func bigRoster(t testing.TB, n int) *Roster {
	t.Helper()
	r := &Roster{Epoch: 1, Settings: Settings{Name: strings.Repeat("g", MaxGroupName)}}
	for i := range n {
		s, err := crypto.GenerateSign(nil)
		if err != nil {
			t.Fatal(err)
		}
		d, err := crypto.GenerateDH(nil)
		if err != nil {
			t.Fatal(err)
		}
		q, err := crypto.GenerateKEM768(nil)
		if err != nil {
			t.Fatal(err)
		}
		nick := fmt.Sprintf("%0*d", MaxGroupNick, i)
		r.Members = append(r.Members, Member{Sign: s.Public(), Seal: d.Public(), Kem: q.Public(), Role: RoleMember, Nick: nick})
	}
	r.Members[0].Role = RoleAdmin
	return r
}

// TestWelcomeSizeAt1000 records the welcome of a full group (1,000
// members, every nickname 32 bytes) and checks it fits the part limit.
func TestWelcomeSizeAt1000(t *testing.T) {
	rb, err := bigRoster(t, ratchet.MaxGroupMembers).Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if len(rb) != maxRosterSize {
		t.Fatalf("roster of 1,000 longest entries is %d bytes, maxRosterSize says %d", len(rb), maxRosterSize)
	}
	w := (&GroupWelcome{Roster: rb}).Marshal()
	parts, err := SplitWelcome([WelcomeIDSize]byte{1}, w)
	if err != nil {
		t.Fatal(err)
	}
	if len(w) != maxWelcomeSize || len(parts) != MaxWelcomeParts || MaxWelcomeParts != 81 {
		t.Fatalf("welcome %d bytes in %d parts (limit %d)", len(w), len(parts), MaxWelcomeParts)
	}
	var key crypto.SymKey
	stored := 0
	for _, pt := range parts {
		body, err := SealBlob(&key, crypto.ID{}, pt, LabelGroupWelcomeAD, nil)
		if err != nil {
			t.Fatal(err)
		}
		stored += len(body)
	}
	if stored != 81*crypto.MaxBody {
		t.Fatalf("the welcome takes %d bytes on the relay", stored)
	}
	t.Logf("welcome at 1,000 members: %d bytes, %d parts of at most %d bytes, %d bytes on the relay",
		len(w), len(parts), WelcomePartBytes, stored)
	if _, err := SplitWelcome([WelcomeIDSize]byte{1}, make([]byte, MaxWelcomeParts*WelcomePartBytes+1)); err == nil {
		t.Fatal("a welcome past the part limit was split")
	}
}

func TestWelcomeAssembler(t *testing.T) {
	w := make([]byte, 3*WelcomePartBytes-5)
	for i := range w {
		w[i] = byte(i * 7)
	}
	split := func(id byte) []*WelcomePart {
		pts, err := SplitWelcome([WelcomeIDSize]byte{id}, w)
		if err != nil {
			t.Fatal(err)
		}
		var out []*WelcomePart
		for _, pt := range pts {
			p, err := ParseWelcomePart(pt)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, p)
		}
		return out
	}
	a, b := split(1), split(2)
	if len(a) != 3 {
		t.Fatalf("%d parts", len(a))
	}

	// Out of order, with a duplicate: complete only with the last part.
	var asm WelcomeAssembler
	for _, p := range []*WelcomePart{a[2], a[0], a[2]} {
		if got, _ := asm.Add(p); got != nil {
			t.Fatal("a welcome came out before every part was in")
		}
	}
	if got, _ := asm.Add(a[1]); !bytes.Equal(got, w) {
		t.Fatal("reassembled welcome differs")
	}

	// A missing part: nothing, ever.
	asm = WelcomeAssembler{}
	for _, p := range []*WelcomePart{a[0], a[1], a[0], a[1]} {
		if got, _ := asm.Add(p); got != nil {
			t.Fatal("a welcome with a part missing came out")
		}
	}

	// Parts of two welcomes interleaved never mix.
	asm = WelcomeAssembler{}
	for _, p := range []*WelcomePart{a[0], a[1], b[2], a[2], b[0], b[1]} {
		if got, _ := asm.Add(p); got != nil {
			t.Fatal("parts of two welcomes were mixed into one")
		}
	}

	// A second, different part under the same index drops what was held.
	asm = WelcomeAssembler{}
	forged := &WelcomePart{ID: a[1].ID, Part: 1, Parts: 3, Bytes: bytes.Repeat([]byte{9}, len(a[1].Bytes))}
	asm.Add(a[0])
	asm.Add(a[1])
	if _, restarted := asm.Add(forged); !restarted {
		t.Fatal("a conflicting part was accepted silently")
	}
	if got, _ := asm.Add(a[2]); got != nil {
		t.Fatal("a welcome with a conflicting part came out")
	}

	// Malformed parts are refused.
	good, _ := a[0].Marshal()
	for _, bad := range [][]byte{nil, good[:welcomePartHdr], append([]byte{1}, good[1:]...), append([]byte{3}, good[1:]...)} {
		if _, err := ParseWelcomePart(bad); err == nil {
			t.Fatalf("parsed a bad part %x", bad[:min(len(bad), 12)])
		}
	}
	bad := bytes.Clone(good)
	bad[1+WelcomeIDSize], bad[2+WelcomeIDSize] = 3, 3
	if _, err := ParseWelcomePart(bad); err == nil {
		t.Fatal("parsed a part whose index is not below its count")
	}
	bad[1+WelcomeIDSize], bad[2+WelcomeIDSize] = 0, MaxWelcomeParts+1
	if _, err := ParseWelcomePart(bad); err == nil {
		t.Fatal("parsed a part whose count is above the limit")
	}
}

func FuzzWelcomePart(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0xaa})
	f.Add([]byte{1, 1, 2, 3, 4, 5, 6, 7, 8, 6, 7, 0xaa, 0xbb})
	f.Fuzz(func(t *testing.T, in []byte) {
		p, err := ParseWelcomePart(in)
		if err != nil {
			if p != nil {
				t.Fatal("a part and an error")
			}
			return
		}
		out, err := p.Marshal()
		if err != nil || !bytes.Equal(out, in) {
			t.Fatalf("round trip: %v", err)
		}
	})
}

// TestWelcomeKey: the welcome key entry opens only with the joiner's
// private key; the exchange key alone (what an invite key's copier holds)
// opens nothing, and every flipped byte is refused.
func TestWelcomeKey(t *testing.T) {
	var k crypto.SymKey
	k[0] = 1
	me, _ := crypto.GenerateDH(nil)
	other, _ := crypto.GenerateDH(nil)
	q, _ := crypto.GenerateKEM768(nil)
	otherQ, _ := crypto.GenerateKEM768(nil)
	logID := crypto.ID{9}
	entry, parts, err := SealWelcomeKey(&k, logID, [WelcomeIDSize]byte{5}, &Member{Seal: me.Public(), Kem: q.Public()}, nil)
	if err != nil {
		t.Fatal(err)
	}
	wid, got, err := OpenWelcomeKey(&k, logID, entry, me, &q)
	if err != nil || got != parts || wid != [WelcomeIDSize]byte{5} {
		t.Fatalf("open: %v", err)
	}
	if parts == k || parts == (crypto.SymKey{}) {
		t.Fatal("the parts key is the exchange key")
	}
	if _, _, err := OpenWelcomeKey(&k, logID, entry, other, &q); err == nil {
		t.Fatal("opened with another member's X25519 key")
	}
	if _, _, err := OpenWelcomeKey(&k, logID, entry, me, &otherQ); err == nil {
		t.Fatal("opened with another member's ML-KEM key")
	}
	if _, _, err := OpenWelcomeKey(&k, crypto.ID{8}, entry, me, &q); err == nil {
		t.Fatal("opened under another invite's log")
	}
	for i := WelcomeIDSize; i < len(entry); i++ {
		bad := bytes.Clone(entry)
		bad[i] ^= 1
		if _, _, err := OpenWelcomeKey(&k, logID, bad, me, &q); err == nil {
			t.Fatalf("opened with byte %d flipped", i)
		}
	}
	for n := range len(entry) {
		if _, _, err := OpenWelcomeKey(&k, logID, entry[:n], me, &q); err == nil {
			t.Fatalf("opened truncated to %d", n)
		}
	}
}
