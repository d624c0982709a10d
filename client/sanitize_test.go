package client

import (
	"errors"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestSanitize(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ in, want string }{
		{"hello", "hello"},
		{"a\nb\tc", "a\nb\tc"},
		{"\x1b[31mred\x1b[0m", "red"},
		{"\x1b]0;owned title\x07after", "after"},
		{"\x1b]8;;http://x\x1b\\link\x1b]8;;\x1b\\", "link"},
		{"bell\x07 bs\x08 cr\r", "bell bs cr"},
		{"\x1bPdcs\x1b\\x", "x"},
		{"c1\u009b31mcsi", "c1csi"},
		{"bidi\u202eevil\u2066", "bidievil"},
		{"bad\xffutf8", "bad\ufffdutf8"},
		{"\x1b", ""},
		{"\x1b[", ""},
		{"\x1bc reset", " reset"},
		{"del\x7f", "del"},
		{"ünïcödé 🙂", "ünïcödé 🙂"},
		// Zero-width characters and the word joiner.
		{"a\u200bd\u200cm\u200di\u2060n", "admin"},
		// BOM, Mongolian vowel separator, soft hyphen.
		{"\ufeffbo\u180eb\u00ad", "bob"},
		// Bidi controls: embeddings, overrides, isolates, marks.
		{"\u202a\u202b\u202c\u202d\u202ex\u2066\u2067\u2068\u2069\u200e\u200f\u061c", "x"},
		// Line and paragraph separators are line breaks.
		{"one\u2028two\u2029three", "one\ntwo\nthree"},
		// Invisible operators, deprecated format characters, annotations.
		{"f\u2061(x)\u2062\u2063\u2064\u206a\u206f\ufff9a\ufffa\ufffb", "f(x)a"},
		// Hangul fillers and the combining grapheme joiner: letters that draw nothing.
		{"\u3164\u115f\u1160\uffa0ana\u034f", "ana"},
		// Variation selectors (an emoji loses its presentation selector).
		{"\u2764\ufe0f\u180b\U000e0100", "\u2764"},
		// Tags, as hidden in emoji flags or text.
		{"\U0001f3f4\U000e0067\U000e0062\U000e007f\U000e0001", "\U0001f3f4"},
		// A visible prepended concatenation mark stays.
		{"\u0600\u0661", "\u0600\u0661"},
		// Unassigned default-ignorable code points.
		{"x\U000e0fff\U000e0002", "x"},
	} {
		if got := Sanitize(tc.in); got != tc.want {
			t.Errorf("Sanitize(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
	if got := SanitizeLine("a\nb\tc\u2028d\u2029e"); got != "a b c d e" {
		t.Errorf("SanitizeLine = %q", got)
	}
}

func TestHasVisible(t *testing.T) {
	t.Parallel()
	for _, s := range []string{"", " ", "\u00a0\u3000\u2003", "\u0301\u0308", "\u200b\u2060", "\u3164\u115f\uffa0", "\u2800", "\t\n", "\ufe0f", " \u0301 "} {
		if HasVisible(s) {
			t.Errorf("HasVisible(%q) = true", s)
		}
	}
	for _, s := range []string{"a", " a ", "\u2764", "é", "\u0600", ".", "\u4e2d"} {
		if !HasVisible(s) {
			t.Errorf("HasVisible(%q) = false", s)
		}
	}
}

func TestNicknameNeedsVisible(t *testing.T) {
	t.Parallel()
	e := &Engine{}
	for _, n := range []string{" ", "   ", "\u0301", "\u2800", "\u00a0", "\u3000 \u3000"} {
		if err := checkNick(n); !errors.Is(err, errBlankNick) {
			t.Errorf("checkNick(%q) = %v, want errBlankNick", n, err)
		}
		if _, err := e.groupNick(n); !errors.Is(err, errBlankNick) {
			t.Errorf("groupNick(%q) = %v, want errBlankNick", n, err)
		}
	}
	// Invisible characters are refused as unprintable before that.
	for _, n := range []string{"\u200b", "a\u200bdmin", "\u3164", "bo\u202e", "x\u2028y"} {
		if checkNick(n) == nil {
			t.Errorf("checkNick(%q) accepted", n)
		}
		if _, err := e.groupNick(n); err == nil {
			t.Errorf("groupNick(%q) accepted", n)
		}
	}
	for _, n := range []string{"", "ana", "a b", "zoë", "\u4e2d\u6587"} {
		if err := checkNick(n); err != nil {
			t.Errorf("checkNick(%q) = %v", n, err)
		}
	}
	if err := checkNick("\u3000"); err == nil || !strings.Contains(err.Error(), "visible") {
		t.Errorf("the error does not say what is wrong: %v", err)
	}
}

// FuzzSanitize asserts that no control, escape or bidi character survives.
func FuzzSanitize(f *testing.F) {
	f.Add("\x1b[2J\x1b]52;c;aGk=\x07plain")
	f.Add("\u009b1;31m\u202e")
	f.Add("ok\n")
	f.Fuzz(func(t *testing.T, s string) {
		for _, out := range []string{Sanitize(s), SanitizeLine(s)} {
			if !utf8.ValidString(out) {
				t.Fatalf("invalid UTF-8 out of %q", s)
			}
			for _, r := range out {
				if r == '\n' || r == '\t' {
					continue
				}
				if unsafeRune(r) {
					t.Fatalf("%U survived in %q (from %q)", r, out, s)
				}
			}
		}
		for _, r := range SanitizeLine(s) {
			if r == '\n' || r == '\t' {
				t.Fatalf("newline survived SanitizeLine(%q)", s)
			}
		}
	})
}
