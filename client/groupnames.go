package client

import (
	"encoding/hex"
	"fmt"
	"slices"
	"strings"

	"veil/client/internal/format"
	"veil/crypto"
)

// Member names in groups (spec/groups.md §14): a nickname that reads as
// another member's is refused when it joins, and where two still look
// alike they are shown with a short key suffix, "ana#1f2e3d4c".

// memberKeyDigits is how many hex digits of a member's signing key its
// suffix shows: 32 bits, so that two of 1,000 members share one with a
// chance of about 1 in 10,000 (spec/groups.md §14.2).
const memberKeyDigits = 8

// errMixedNick refuses a nickname that mixes look-alike scripts.
var errMixedNick = badInput("a group nickname may not mix scripts that look alike (such as Latin and Cyrillic letters): use one")

// errHashNick refuses a nickname with "#", which would read as another
// member's name shown with its key.
var errHashNick = badInput(`a group nickname may not contain "#" or a character that looks like it: veil shows look-alike names as "nick#key"`)

// nickHasHash reports whether nick holds "#" or a character drawn like it
// (its skeleton holds "#", as for the full-width "＃", or it is one of
// hashLike), so that it could read as a member's "nick#key"
// (spec/groups.md §14.1).
func nickHasHash(nick string) bool {
	return strings.ContainsAny(nick, hashLike) || strings.Contains(format.NickSkeleton(nick), "#")
}

// hashLike holds "#" and the characters drawn like it that confusables.txt
// does not map to it (its data maps only U+FE5F and U+FF03, through NFKC):
// the sharp signs U+266F and U+22D5, the viewdata square U+2317, and the
// triple horizontal bars with double and triple vertical strokes U+2A68
// and U+2A69.
const hashLike = "#\u266f\u22d5\u2317\u2a68\u2a69"

// memberKey is the key suffix of a member with signing key s.
func memberKey(s crypto.SignPublic) string {
	return hex.EncodeToString(s[:memberKeyDigits/2])
}

// memberNames returns every member's name for display, sanitised: the
// nickname, with "#" and its key suffix when another member's nickname is
// confusable with it or it holds "#" itself. No nickname with "#" is
// admitted, but a roster made by an older client may hold one: shown with
// its own suffix, it never reads as another member's "nick#key", so no two
// members are shown alike (short of a shared suffix, §14.2).
func memberNames(r *format.Roster) []string {
	amb := r.NickAmbiguous()
	out := make([]string, len(r.Members))
	for i := range r.Members {
		out[i] = SanitizeLine(r.Members[i].Nick)
		if amb[i] || nickHasHash(r.Members[i].Nick) {
			out[i] += "#" + memberKey(r.Members[i].Sign)
		}
	}
	return out
}

// memberName is memberNames(r)[i]; -1 gives "".
func memberName(r *format.Roster, i int) string {
	if i < 0 || i >= len(r.Members) {
		return ""
	}
	return memberNames(r)[i]
}

// joinNickRefusal says why an admin refuses a join request whose roster
// entry carries nick (spec/groups.md §14.1), or "" when it may join. The
// nickname is checked against the current roster and the joiners whose
// add commits are still to be made or read back.
func (g *groupState) joinNickRefusal(nick string) string {
	r := g.cur.roster.Clone()
	adds := append([]groupIntent(nil), g.intents...)
	if g.pending != nil {
		adds = append(adds, g.pending.Intent)
	}
	for _, in := range adds {
		if in.Change != format.ChangeAdd {
			continue
		}
		if m, err := format.ParseMember(in.Operand); err == nil {
			r.Members = append(r.Members, m)
		}
	}
	return joinNickRefusal(r, nick)
}

// joinNickRefusal says why an admin refuses a join request whose roster
// entry carries nick (spec/groups.md §14.1), or "" when it may join.
func joinNickRefusal(r *format.Roster, nick string) string {
	switch {
	case SanitizeLine(nick) != nick || !HasVisible(nick):
		return "refused a join request: its nickname has invisible or control characters"
	case format.NickMixesScripts(nick):
		return fmt.Sprintf("refused a join request as %q: the nickname mixes look-alike scripts", nick)
	case nickHasHash(nick):
		return fmt.Sprintf(`refused a join request as %q: the nickname has "#" or a look-alike, which could read as a member's name shown with its key`, nick)
	case r.NickTaken(nick, crypto.SignPublic{}):
		return fmt.Sprintf("refused a join request as %q: a member's nickname looks the same", nick)
	}
	return ""
}

// resolveMember finds the member ref names: a nickname, matched as its
// skeleton (so "Ana" finds "ana"), or "nick#suffix" with the first hex
// digits of the member's key. A name that more members answer to is
// refused with the names that tell them apart; "m0#1f2e" is looked up both
// ways, so a member of an older roster whose nickname is "m0#1f2e" is
// never taken for m0, nor m0 for it.
func resolveMember(r *format.Roster, ref string) (int, error) {
	match := func(nick, suffix string) []int {
		var out []int
		for i := range r.Members {
			m := &r.Members[i]
			if (m.Nick == nick || format.NicksConfusable(m.Nick, nick)) &&
				strings.HasPrefix(memberKey(m.Sign), suffix) {
				out = append(out, i)
			}
		}
		return out
	}
	found := match(ref, "")
	if nick, suffix, ok := cutSuffix(ref); ok {
		for _, i := range match(nick, suffix) {
			if !slices.Contains(found, i) {
				found = append(found, i)
			}
		}
	}
	switch len(found) {
	case 0:
		return -1, badInput("no member called %q", SanitizeLine(ref))
	case 1:
		return found[0], nil
	}
	slices.Sort(found)
	names := make([]string, len(found))
	for k, i := range found {
		names[k] = SanitizeLine(r.Members[i].Nick) + "#" + memberKey(r.Members[i].Sign)
	}
	return -1, badInput("%d members are called %q: name one of %s", len(found), SanitizeLine(ref), strings.Join(names, ", "))
}

// cutSuffix splits "nick#1f2e" at its last "#" when what follows is 1 to
// 64 hex digits, lower-cased.
func cutSuffix(ref string) (nick, suffix string, ok bool) {
	i := strings.LastIndexByte(ref, '#')
	if i <= 0 || len(ref)-i-1 > 2*crypto.KeySize || i == len(ref)-1 {
		return "", "", false
	}
	suffix = strings.ToLower(ref[i+1:])
	for _, c := range suffix {
		if !strings.ContainsRune("0123456789abcdef", c) {
			return "", "", false
		}
	}
	return ref[:i], suffix, true
}
