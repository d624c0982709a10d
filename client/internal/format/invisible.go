package format

import "unicode"

// InvisibleRune reports whether r is default-ignorable (Unicode's
// Default_Ignorable_Code_Point, which terminals draw as nothing) or
// another format character: every format character (Cf: U+00AD, U+061C,
// U+180E, U+200B–U+200F, U+202A–U+202E, U+2060–U+2064, U+2066–U+206F,
// U+FEFF, U+FFF9–U+FFFB, the tags U+E0001 and U+E0020–U+E007F, …) except
// the visible prepended concatenation marks (U+0600–U+0605 and the like),
// the other default-ignorables (U+034F, the Hangul fillers U+115F, U+1160,
// U+3164 and U+FFA0, U+17B4, U+17B5, U+2065, U+FFF0–U+FFF8,
// U+E0000–U+E0FFF) and the variation selectors (U+180B–U+180D, U+180F,
// U+FE00–U+FE0F, U+E0100–U+E01EF). The client's screen sanitiser drops
// exactly these, and a file name may hold none of them, so a name is
// shown as it is saved.
func InvisibleRune(r rune) bool {
	if r < 0xa0 {
		return false
	}
	switch {
	case unicode.Is(unicode.Cf, r):
		return !unicode.Is(unicode.Prepended_Concatenation_Mark, r)
	case unicode.Is(unicode.Other_Default_Ignorable_Code_Point, r),
		unicode.Is(unicode.Variation_Selector, r):
		return true
	}
	return false
}
