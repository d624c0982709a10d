package format

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/cases"
	"golang.org/x/text/unicode/norm"

	"veil/crypto"
)

// Nicknames as a reader sees them (spec/groups.md §14): two nicknames that
// draw alike collide, so that no member of a group can take a name that
// reads as another's.

// NickSkeleton returns the key under which nicknames that look alike
// collide: NFKC (full-width and other compatibility forms), Unicode case
// folding, then the UTS #39 skeleton: NFD, default-ignorable code points
// (zero-width joiners, bidi controls, variation selectors, …) dropped,
// every character replaced by its prototype in confusables.txt, NFD again;
// then folded and skeletonised once more, since a prototype may be upper
// case ("0" draws as "O"). The skeleton is a key to compare, never to show.
func NickSkeleton(nick string) string {
	return foldSkeleton(foldSkeleton(nfkc(nick)))
}

// caseSkeleton skeletonises before it folds: it keeps the collisions that
// only upper case draws, such as "Ian" and "lan", which folding first
// loses.
func caseSkeleton(nick string) string {
	return foldSkeleton(skeleton(nfkc(nick)))
}

func foldSkeleton(s string) string { return skeleton(fold(s)) }

// ASCII is its own NFKC and NFD, and its full case folding is its lower
// case: the common nickname takes these short cuts, which
// TestNickASCIIShortCuts checks against the general path.

func nfkc(s string) string {
	if isASCII(s) {
		return s
	}
	return norm.NFKC.String(s)
}

func nfd(s string) string {
	if isASCII(s) {
		return s
	}
	return norm.NFD.String(s)
}

func fold(s string) string {
	if isASCII(s) {
		return strings.ToLower(s)
	}
	return cases.Fold().String(s)
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// NicksConfusable reports whether nicknames a and b may be taken for each
// other: their skeletons are equal with or without case folding.
func NicksConfusable(a, b string) bool {
	return NickSkeleton(a) == NickSkeleton(b) || caseSkeleton(a) == caseSkeleton(b)
}

// NickTaken reports whether a member of r other than the one with signing
// key except has a nickname confusable with nick (spec/groups.md §14.1).
func (r *Roster) NickTaken(nick string, except crypto.SignPublic) bool {
	folded, cased := NickSkeleton(nick), caseSkeleton(nick)
	for i := range r.Members {
		m := &r.Members[i]
		if m.Sign == except {
			continue
		}
		if NickSkeleton(m.Nick) == folded || caseSkeleton(m.Nick) == cased {
			return true
		}
	}
	return false
}

// NickAmbiguous returns, for each member of r, whether another member's
// nickname is confusable with it: those members are shown with a key
// suffix (spec/groups.md §14.2). It costs two skeletons per member.
func (r *Roster) NickAmbiguous() []bool {
	folded := make(map[string][]int, len(r.Members))
	cased := make(map[string][]int, len(r.Members))
	for i := range r.Members {
		f, c := NickSkeleton(r.Members[i].Nick), caseSkeleton(r.Members[i].Nick)
		folded[f] = append(folded[f], i)
		cased[c] = append(cased[c], i)
	}
	out := make([]bool, len(r.Members))
	for _, m := range []map[string][]int{folded, cased} {
		for _, is := range m {
			if len(is) > 1 {
				for _, i := range is {
					out[i] = true
				}
			}
		}
	}
	return out
}

// skeleton is UTS #39's skeleton of s (§4 of the report).
func skeleton(s string) string {
	s = nfd(s)
	var b strings.Builder
	b.Grow(len(s))
	for _, r := range s {
		if defaultIgnorable(r) {
			continue
		}
		if p, ok := confusablePrototype(r); ok {
			b.WriteString(p)
		} else {
			b.WriteRune(r)
		}
	}
	return nfd(b.String())
}

// confusablePrototype looks r up in the confusables table.
func confusablePrototype(r rune) (string, bool) {
	lo, hi := 0, len(confusableKeys)/confusableRecord
	for lo < hi {
		mid := int(uint(lo+hi) >> 1)
		rec := confusableKeys[mid*confusableRecord:]
		k := rune(rec[0])<<16 | rune(rec[1])<<8 | rune(rec[2])
		switch {
		case k < r:
			lo = mid + 1
		case k > r:
			hi = mid
		default:
			off := int(rec[3])<<8 | int(rec[4])
			return confusablePrototypes[off : off+int(rec[5])], true
		}
	}
	return "", false
}

// defaultIgnorable reports the Default_Ignorable_Code_Point property
// (Unicode's DerivedCoreProperties.txt): Other_Default_Ignorable_Code_Point,
// format characters and variation selectors, less white space, the
// interlinear annotation characters, the Egyptian hieroglyph format
// controls and the prepended concatenation marks.
func defaultIgnorable(r rune) bool {
	switch {
	case r < 0xad:
		return false
	case unicode.Is(unicode.White_Space, r),
		r >= 0xfff9 && r <= 0xfffb,
		r >= 0x13430 && r <= 0x1343f,
		unicode.Is(unicode.Prepended_Concatenation_Mark, r):
		return false
	}
	return unicode.Is(unicode.Other_Default_Ignorable_Code_Point, r) ||
		unicode.Is(unicode.Cf, r) ||
		unicode.Is(unicode.Variation_Selector, r)
}

// NickMixesScripts reports whether nick mixes writing systems in a way a
// reader cannot tell apart (UTS #39 §5.2, "highly restrictive"): letters
// of more than one script, not counting Common and Inherited, unless the
// scripts are those written together in Japanese (Han, Hiragana,
// Katakana), Chinese (Han, Bopomofo) or Korean (Han, Hangul), each with
// Latin. "pаypal" with a Cyrillic "а" mixes; "東京tokyo" does not.
func NickMixesScripts(nick string) bool {
	var seen []*unicode.RangeTable
	for _, r := range nick {
		t := scriptOf(r)
		if t == nil || t == unicode.Common || t == unicode.Inherited {
			continue
		}
		if !containsTable(seen, t) {
			seen = append(seen, t)
		}
	}
	if len(seen) <= 1 {
		return false
	}
	for _, allowed := range [][]*unicode.RangeTable{
		{unicode.Latin, unicode.Han, unicode.Hiragana, unicode.Katakana},
		{unicode.Latin, unicode.Han, unicode.Bopomofo},
		{unicode.Latin, unicode.Han, unicode.Hangul},
	} {
		ok := true
		for _, t := range seen {
			ok = ok && containsTable(allowed, t)
		}
		if ok {
			return false
		}
	}
	return true
}

func containsTable(ts []*unicode.RangeTable, t *unicode.RangeTable) bool {
	for _, u := range ts {
		if u == t {
			return true
		}
	}
	return false
}

// scriptOf returns the table of r's Script property, or nil for an
// unassigned code point. Latin, Cyrillic and Greek, the usual confusables,
// are tried first.
func scriptOf(r rune) *unicode.RangeTable {
	for _, t := range []*unicode.RangeTable{unicode.Common, unicode.Latin, unicode.Inherited, unicode.Cyrillic, unicode.Greek} {
		if unicode.Is(t, r) {
			return t
		}
	}
	for _, t := range unicode.Scripts {
		if unicode.Is(t, r) {
			return t
		}
	}
	return nil
}
