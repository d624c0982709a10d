package client

import (
	"slices"
	"strings"
	"testing"

	"veil/client/internal/format"
	"veil/crypto"
)

// namesRoster is a roster of the given nicknames; member i's signing key
// starts with byte i+1 repeated, so its key suffix is predictable.
func namesRoster(nicks ...string) *format.Roster {
	r := &format.Roster{Epoch: 3}
	for i, n := range nicks {
		var m format.Member
		for k := range m.Sign {
			m.Sign[k] = byte(i + 1)
		}
		m.Seal[0] = byte(i + 1)
		m.Nick, m.Role = n, format.RoleMember
		r.Members = append(r.Members, m)
	}
	r.Members[0].Role = format.RoleAdmin
	return r
}

func TestMemberNamesSuffixOnlyWhenAlike(t *testing.T) {
	t.Parallel()
	r := namesRoster("ana", "ben", "\u0430na") // the third is a Cyrillic а
	got := memberNames(r)
	want := []string{"ana#01010101", "ben", "\u0430na#03030303"}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("memberNames[%d] = %q, want %q", i, got[i], want[i])
		}
	}
	if got := memberNames(namesRoster("ana", "anna")); got[0] != "ana" || got[1] != "anna" {
		t.Errorf("memberNames of distinct nicknames = %q", got)
	}
}

// TestMemberNamesOfHashNick: a roster of an older client may hold a
// nickname that imitates another member's "nick#key"; it is always shown
// with its own suffix, so it never reads as that member.
func TestMemberNamesOfHashNick(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		nicks, want []string
	}{
		{[]string{"ana", "ana#01010101"}, []string{"ana", "ana#01010101#02020202"}},
		{[]string{"ana", "ana#01010101", "Ana"}, []string{"ana#01010101", "ana#01010101#02020202", "Ana#03030303"}},
		{[]string{"ana", "ana\uff0301010101"}, []string{"ana", "ana\uff0301010101#02020202"}}, // a full-width "#"
	} {
		got := memberNames(namesRoster(tc.nicks...))
		if !slices.Equal(got, tc.want) {
			t.Errorf("memberNames(%q) = %q, want %q", tc.nicks, got, tc.want)
		}
	}
}

func TestResolveMember(t *testing.T) {
	t.Parallel()
	r := namesRoster("ana", "ben", "\u0430na", "c#dev")
	for ref, want := range map[string]int{
		"ben":          1,
		"BEN":          1, // a skeleton match
		"ana#0101":     0,
		"ana#01010101": 0,
		"ana#0303":     2, // the nick part matches by skeleton
		"\u0430na#03":  2,
		"c#dev":        3, // a nickname with a "#"
		"ANA#0101":     0,
	} {
		if got, err := resolveMember(r, ref); err != nil || got != want {
			t.Errorf("resolveMember(%q) = %d, %v; want %d", ref, got, err, want)
		}
	}
	_, err := resolveMember(r, "ana")
	if err == nil || !strings.Contains(err.Error(), "ana#01010101") || !strings.Contains(err.Error(), "#03030303") {
		t.Errorf("an ambiguous nickname: %v", err)
	}
	for _, ref := range []string{"dan", "ana#", "ana#04", "ana#zz", "#0101"} {
		if _, err := resolveMember(r, ref); err == nil {
			t.Errorf("resolveMember(%q) found someone", ref)
		}
	}
	// A nickname of an older roster that reads as member 0's "nick#key":
	// that name is refused as ambiguous, with the names that tell the two
	// apart, and each is found by its own.
	r = namesRoster("ana", "ana#01010101")
	_, err = resolveMember(r, "ana#01010101")
	if err == nil || !strings.Contains(err.Error(), "ana#01010101#02020202") {
		t.Errorf("a name that is one member's nickname and another's nick#key: %v", err)
	}
	for ref, want := range map[string]int{"ana": 0, "ana#01010101#02": 1} {
		if got, err := resolveMember(r, ref); err != nil || got != want {
			t.Errorf("resolveMember(%q) = %d, %v; want %d", ref, got, err, want)
		}
	}
}

func TestJoinNickRefusal(t *testing.T) {
	t.Parallel()
	r := namesRoster("Ana", "ben")
	for nick, refused := range map[string]bool{
		"carol":        false,
		"anna":         false,
		"ana":          true, // case
		"\u0430na":     true, // mixed scripts, and looks like Ana
		"BEN":          true,
		"b\u200den":    true,  // invisible
		"\u0430\u0431": false, // Cyrillic, like no one
		"c#dev":        true,  // reads as a name shown with its key
		"ana#01010101": true,
		"c\uff03dev":   true, // a full-width "#"
		"c\u266fdev":   true, // a sharp sign
		"c\u2317dev":   true, // the viewdata square
		"c\ufe5fdev":   true, // a small "#"
		"c\u2a69dev":   true, // triple bars with triple strokes
	} {
		if got := joinNickRefusal(r, nick) != ""; got != refused {
			t.Errorf("joinNickRefusal(%+q) refused = %v, want %v", nick, got, refused)
		}
	}
}

func TestGroupNickRefusesMixedScripts(t *testing.T) {
	t.Parallel()
	var e Engine
	if _, err := e.groupNick("p\u0430ypal"); err != errMixedNick {
		t.Errorf("groupNick of a mixed-script nickname: %v", err)
	}
	if _, err := e.groupNick("ana\u200d"); err == nil {
		t.Error("groupNick took an invisible character")
	}
	if n, err := e.groupNick("\u0430\u043d\u044f"); err != nil || n != "\u0430\u043d\u044f" {
		t.Errorf("groupNick of a Cyrillic nickname: %q, %v", n, err)
	}
	for _, n := range []string{"ana#01010101", "#", "ana\uff03"} {
		if _, err := e.groupNick(n); err != errHashNick {
			t.Errorf("groupNick(%+q): %v, want the refusal of \"#\"", n, err)
		}
	}
}

func TestCommitEventNamesTheRemover(t *testing.T) {
	t.Parallel()
	old := namesRoster("ana", "ben", "cat")
	next := old.Clone()
	next.Members = next.Members[:2]
	cm := &format.Commit{Change: format.ChangeRemove, Operand: format.IndexOperand(2), Signer: old.Members[0].Sign}
	evs := commitEvent(cm, old, next)
	if len(evs) != 1 || evs[0].Type != EventGroupRemoved || evs[0].From != "cat" || evs[0].By != "ana" {
		t.Fatalf("remove: %+v", evs)
	}
	cm.Change = format.ChangeLeave
	evs = commitEvent(cm, old, next)
	if len(evs) != 1 || evs[0].Type != EventGroupLeft || evs[0].From != "cat" || evs[0].By != "" {
		t.Fatalf("leave: %+v", evs)
	}
	// A remover whose nickname looks like another member's is named with
	// its key suffix.
	old.Members[1].Nick = "\u0430na"
	cm.Change = format.ChangeRemove
	evs = commitEvent(cm, old, next)
	if evs[0].By != "ana#01010101" {
		t.Fatalf("remove by an ambiguous admin: %+v", evs)
	}
	var unknown crypto.SignPublic
	cm.Signer = unknown
	if evs = commitEvent(cm, old, next); evs[0].By != "" {
		t.Fatalf("remove by no member: %+v", evs)
	}
}
