package client

import (
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

// FuzzSanitizeTerminal checks Sanitize against an oracle that does not
// share its code (FuzzSanitize uses the implementation's own unsafeRune):
// the Unicode tables say what a control (Cc) and a bidirectional control
// (Bidi_Control) are, and ESC must not survive in any form, so nothing a
// peer sends can drive the terminal (spec/client.md §9). Sanitize must
// also be idempotent: its output is already safe.
func FuzzSanitizeTerminal(f *testing.F) {
	for _, s := range []string{
		"\x1b[2J\x1b[H", "\x1b]0;title\x1b\\", "\x1bP+q\x1b\\", "\x1b_apc\x07", "\x1b^pm\x07", "\x1bXsos\x1b\\",
		"\xc2\x9b31m", "\xc2\x9d0;t\xc2\x9c", "\xc2\x90dcs\xc2\x9c", "\xc2\x85nel", "\x9b31m",
		"\u202ereversed\u202c", "\u2067iso\u2069", "\u200e\u200f\u061c", "a\r\nb", "\x00nul", "\x1b\x1b[[31m",
		"\x1b[?1049h", "\x1b[6n", "\x1b]52;c;c2VjcmV0\x07", "\x1b%G", "\x1b(0", "tab\there",
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
				if unicode.Is(unicode.Cc, r) || unicode.Is(unicode.Bidi_Control, r) {
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
