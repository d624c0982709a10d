package format

import (
	"bytes"
	"encoding/base64"
	"strings"
	"testing"

	"veil/crypto"
	"veil/ratchet"
)

var (
	relayA = "veil+ws://127.0.0.1:4000#" + strings.Repeat("A", 43)
	relayB = "veil://relay.example:443#" + strings.Repeat("B", 42) + "A"
	relayC = "veil+ws://127.0.0.1:4001#" + strings.Repeat("C", 42) + "A"
)

// testRosterV3 is testRoster on the relays given.
func testRosterV3(t testing.TB, n int, relays ...string) (*Roster, []testMember) {
	ro, keys := testRoster(t, n)
	ro.Settings.Relays = relays
	return ro, keys
}

// signedCommitV3 is signedCommit with one sealed log per relay of the
// new roster.
func signedCommitV3(t testing.TB, old *Roster, signer crypto.SignPrivate, change byte, operand []byte) (*Commit, *Roster) {
	t.Helper()
	c, next, err := MakeCommit(old, change, operand)
	if err != nil {
		t.Fatal(err)
	}
	c.Sealed = make([]byte, ratchet.SealedEpochSize(len(next.Members)))
	n := len(next.Settings.Relays)
	c.LogID = append([]byte{byte(n)}, make([]byte, n*ratchet.SealedLogIDSize)...)
	c.Sign(signer, ctxOf(old))
	return c, next
}

func TestRosterV3(t *testing.T) {
	v2, _ := testRoster(t, 2)
	b2, _ := v2.Marshal()
	ro, _ := testRosterV3(t, 2, relayA, relayB)
	b, err := ro.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if b[0] != 3 || b2[0] != 2 {
		t.Fatalf("versions %d and %d", b[0], b2[0])
	}
	// The relay list follows the deadline, before the member count.
	settingsEnd := 1 + 32 + 8 + 1 + len("river") + 4 + 8
	want := append([]byte{2, 0, byte(len(relayA))}, relayA...)
	want = append(append(want, 0, byte(len(relayB))), relayB...)
	if !bytes.Equal(b[settingsEnd:settingsEnd+len(want)], want) || len(b) != len(b2)+len(want) {
		t.Fatal("relay list not where spec/groups.md §3.3 puts it")
	}
	back, err := ParseRoster(b)
	if err != nil || !settingsEqualTest(back.Settings, ro.Settings) {
		t.Fatalf("round trip: %v", err)
	}
	// A version-3 record without relays, or a version-2 one with them.
	bad := bytes.Clone(b2)
	bad[0] = 3
	if _, err := ParseRoster(bad); err == nil {
		t.Fatal("version 3 without a relay list parsed")
	}
	bad = bytes.Clone(b)
	bad[0] = 2
	if _, err := ParseRoster(bad); err == nil {
		t.Fatal("version 2 with a relay list parsed")
	}
	bad = bytes.Clone(b)
	bad[settingsEnd] = 3
	if _, err := ParseRoster(bad); err == nil {
		t.Fatal("three relays parsed")
	}
}

func settingsEqualTest(a, b Settings) bool {
	return a.Name == b.Name && a.Timer == b.Timer && a.Deadline == b.Deadline && strings.Join(a.Relays, " ") == strings.Join(b.Relays, " ")
}

func TestCheckGroupRelays(t *testing.T) {
	pw := "~" + base64.RawURLEncoding.EncodeToString([]byte("secret"))
	for _, ok := range [][]string{{relayA}, {relayA, relayB}, {relayA + pw, relayB}} {
		if err := CheckGroupRelays(ok); err != nil {
			t.Errorf("%q: %v", ok, err)
		}
	}
	for _, bad := range [][]string{
		nil, {relayA, relayB, relayC}, {relayA, relayA}, {relayA, relayA + pw},
		{"veil+ws://127.0.0.1:04000#" + strings.Repeat("A", 43)}, // not canonical
		{strings.ToUpper(relayB)}, {""}, {relayA + "~"}, {relayA + "~a+b"},
		{relayA + "~" + base64.RawURLEncoding.EncodeToString(make([]byte, 256))},
	} {
		if err := CheckGroupRelays(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestCommitV3(t *testing.T) {
	// A version-2 group moves onto two relays by a settings commit.
	ro, keys := testRoster(t, 3)
	s := ro.Settings
	s.Relays = []string{relayA, relayB}
	op, err := SettingsOperand(s)
	if err != nil {
		t.Fatal(err)
	}
	c, next := signedCommitV3(t, ro, keys[0].sign, ChangeSettings, op)
	if c.Version != 3 {
		t.Fatalf("version %d", c.Version)
	}
	b := c.Marshal()
	back, err := ParseCommit(b)
	if err != nil || !bytes.Equal(back.Marshal(), b) {
		t.Fatalf("round trip: %v", err)
	}
	got, err := back.Verify(ro, ctxOf(ro))
	if err != nil || len(got.Settings.Relays) != 2 {
		t.Fatalf("verify: %v", err)
	}
	if len(b) != commitFixedSize+len(op)+len(c.Sealed)+SealedLogsExtra {
		t.Fatalf("size %d", len(b))
	}

	// On a version-3 roster every commit is version 3 and keeps the relays.
	rm, _ := signedCommitV3(t, next, keys[0].sign, ChangeRemove, IndexOperand(2))
	if rm.Version != 3 {
		t.Fatal("a remove on a version-3 roster is not version 3")
	}
	if _, err := rm.Verify(next, ctxOf(next)); err != nil {
		t.Fatal(err)
	}

	// One sealed log for a roster on two relays: refused.
	short := *rm
	short.LogID = append([]byte{1}, make([]byte, ratchet.SealedLogIDSize)...)
	short.Sign(keys[0].sign, ctxOf(next))
	if p, err := ParseCommit(short.Marshal()); err != nil {
		t.Fatal(err)
	} else if _, err := p.Verify(next, ctxOf(next)); err == nil {
		t.Fatal("a commit with one log for two relays verified")
	}

	// A version-2 commit on a version-3 roster (dropping the relays)
	// and a settings commit naming three relays are refused.
	down := *rm
	down.Version = 2
	down.LogID = make([]byte, ratchet.SealedLogIDSize)
	down.Sign(keys[0].sign, ctxOf(next))
	if p, err := ParseCommit(down.Marshal()); err == nil {
		if _, err := p.Verify(next, ctxOf(next)); err == nil {
			t.Fatal("a version-2 commit on a version-3 roster verified")
		}
	}
	v2op, _ := SettingsOperand(Settings{Name: "river"})
	if _, _, err := MakeCommit(next, ChangeSettings, v2op); err == nil {
		t.Fatal("a settings commit dropped the relay list")
	}

	// A hostile admin's commit whose roster hash names other relays than
	// its operand is refused.
	s.Relays = []string{relayA, relayC}
	op2, _ := SettingsOperand(s)
	lie, _ := signedCommitV3(t, ro, keys[0].sign, ChangeSettings, op2)
	lie.Operand = op
	lie.Sign(keys[0].sign, ctxOf(ro))
	if _, err := lie.Verify(ro, ctxOf(ro)); err == nil {
		t.Fatal("a commit whose roster hash names other relays verified")
	}

	// Bad counts do not parse.
	for _, n := range []byte{0, 3} {
		bad := bytes.Clone(b)
		bad[len(b)-96-1-2*ratchet.SealedLogIDSize] = n
		if _, err := ParseCommit(bad); err == nil {
			t.Errorf("log count %d parsed", n)
		}
	}
}

func TestSealLogIDs(t *testing.T) {
	ro, keys := testRosterV3(t, 2, relayA, relayB)
	var secret crypto.SymKey
	secret[0] = 1
	ep, err := ratchet.NewGroupEpoch(ratchet.Config{}, &secret, ro.GroupID, ro.Epoch, keys[0].sign, []crypto.SignPublic{ro.Members[0].Sign, ro.Members[1].Sign})
	if err != nil {
		t.Fatal(err)
	}
	ids := []crypto.ID{{1}, {2}}
	sealed, err := SealLogIDs(ep, ids)
	if err != nil || len(sealed) != 1+2*ratchet.SealedLogIDSize {
		t.Fatalf("%d bytes, %v", len(sealed), err)
	}
	got, err := (&Commit{Version: 3, LogID: sealed}).OpenLogIDs(ep)
	if err != nil || len(got) != 2 || got[0] != ids[0] || got[1] != ids[1] {
		t.Fatalf("open: %v", err)
	}
	sealed[len(sealed)-1] ^= 1
	if _, err := (&Commit{Version: 3, LogID: sealed}).OpenLogIDs(ep); err == nil {
		t.Fatal("a tampered log ID opened")
	}
}

func TestWelcomeV3(t *testing.T) {
	ro, _ := testRosterV3(t, 2, relayA, relayB)
	rb, _ := ro.Marshal()
	w := &GroupWelcome{Roster: rb, LogID: crypto.ID{1}, Logs: []crypto.ID{{1}, {2}}, Conf: [32]byte{3}}
	b := w.Marshal()
	if b[0] != 3 || len(b) != 1+4+len(rb)+32+1+2*24+32 {
		t.Fatalf("version %d, %d bytes", b[0], len(b))
	}
	back, err := ParseGroupWelcome(b)
	if err != nil || back.LogID != w.LogID || len(back.Logs) != 2 || back.Logs[1] != w.Logs[1] {
		t.Fatalf("round trip: %v", err)
	}
	for _, n := range []byte{0, 3} {
		bad := bytes.Clone(b)
		bad[1+4+len(rb)+32] = n
		if _, err := ParseGroupWelcome(bad); err == nil {
			t.Errorf("log count %d parsed", n)
		}
	}
	// The limits of spec/groups.md §11.
	if MaxWelcomeParts != 81 || maxWelcomeSizeV3 != 1284291 {
		t.Fatalf("MaxWelcomeParts %d, largest welcome %d", MaxWelcomeParts, maxWelcomeSizeV3)
	}
	if MaxCommitSizeV3 != 1138499 || CommitPartsFor(MaxCommitSizeV3) != 73 || SealedLogsExtra != 65 {
		t.Fatalf("MaxCommitSizeV3 %d in %d parts", MaxCommitSizeV3, CommitPartsFor(MaxCommitSizeV3))
	}
}
