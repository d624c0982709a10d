package client

import (
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

// FuzzSanitizeTerminal checks Sanitize against an oracle that does not
// share its code (FuzzSanitize uses the implementation's own unsafeRune):
// the Unicode tables say what a control (Cc), a bidirectional control
// (Bidi_Control), a format character (Cf), a default-ignorable code point
// (Other_Default_Ignorable_Code_Point, Variation_Selector) and a line or
// paragraph separator (Zl, Zp) are, and ESC must not survive in any form,
// so nothing a peer sends can drive the terminal or hide text
// (spec/client.md §9). Sanitize must also be idempotent: its output is
// already safe.
func FuzzSanitizeTerminal(f *testing.F) {
	for _, s := range []string{
		"\x1b[2J\x1b[H", "\x1b]0;title\x1b\\", "\x1bP+q\x1b\\", "\x1b_apc\x07", "\x1b^pm\x07", "\x1bXsos\x1b\\",
		"\xc2\x9b31m", "\xc2\x9d0;t\xc2\x9c", "\xc2\x90dcs\xc2\x9c", "\xc2\x85nel", "\x9b31m",
		"\u202ereversed\u202c", "\u2067iso\u2069", "\u200e\u200f\u061c", "a\r\nb", "\x00nul", "\x1b\x1b[[31m",
		"\x1b[?1049h", "\x1b[6n", "\x1b]52;c;c2VjcmV0\x07", "\x1b%G", "\x1b(0", "tab\there",
		"a\u200bb\u200cc\u200dd", "\u2060wj\ufeffbom\u180e", "line\u2028para\u2029", "soft\u00adhyphen",
		"\u3164\u115f\u1160\uffa0", "cgj\u034f", "vs\ufe0f\U000e0100", "tag\U000e0001\U000e0041\U000e007f",
		"\u2061\u2062\u2063\u2064\u2065", "\u206a\u206f", "\ufff9ann\ufffb", "\u0600\u0661",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		check := func(name, out string, oneLine bool) {
			if !utf8.ValidString(out) {
				t.Fatalf("%s(%q) is not valid UTF-8", name, s)
			}
			if strings.ContainsRune(out, 0x1b) {
				t.Fatalf("%s(%q) = %q keeps an ESC", name, s, out)
			}
			for _, r := range out {
				if (r == '\n' || r == '\t') && !oneLine {
					continue
				}
				if unicode.Is(unicode.Cc, r) || unicode.Is(unicode.Bidi_Control, r) || hidden(r) {
					t.Fatalf("%s(%q) = %q keeps %U", name, s, out, r)
				}
			}
			if again := sanitize(out, oneLine); again != out {
				t.Fatalf("%s is not idempotent on %q: %q then %q", name, s, out, again)
			}
		}
		check("Sanitize", Sanitize(s), false)
		check("SanitizeLine", SanitizeLine(s), true)
	})
}

// hidden is the oracle's list of what draws as nothing or reflows text:
// format characters other than the visible prepended concatenation marks,
// the other default-ignorables, variation selectors, and the line and
// paragraph separators.
func hidden(r rune) bool {
	return unicode.Is(unicode.Cf, r) && !unicode.Is(unicode.Prepended_Concatenation_Mark, r) ||
		unicode.In(r, unicode.Other_Default_Ignorable_Code_Point, unicode.Variation_Selector, unicode.Zl, unicode.Zp)
}

// TestSanitizeEveryHiddenRune runs every code point the oracle calls
// hidden through both sanitisers, alone and between letters.
func TestSanitizeEveryHiddenRune(t *testing.T) {
	t.Parallel()
	n := 0
	for r := rune(0); r <= unicode.MaxRune; r++ {
		if !hidden(r) {
			continue
		}
		n++
		s := "a" + string(r) + "b"
		want := "ab"
		if unicode.In(r, unicode.Zl, unicode.Zp) {
			want = "a\nb"
		}
		if got := Sanitize(s); got != want {
			t.Errorf("Sanitize(%q) = %q, want %q", s, got, want)
		}
		if want == "a\nb" {
			want = "a b"
		}
		if got := SanitizeLine(s); got != want {
			t.Errorf("SanitizeLine(%q) = %q, want %q", s, got, want)
		}
	}
	if n < 4000 { // the tags and the unassigned default-ignorables alone are 3,900
		t.Fatalf("only %d hidden code points", n)
	}
}
