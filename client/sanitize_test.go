package client

import (
	"testing"
	"unicode/utf8"
)

func TestSanitize(t *testing.T) {
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
	} {
		if got := Sanitize(tc.in); got != tc.want {
			t.Errorf("Sanitize(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
	if got := SanitizeLine("a\nb\tc"); got != "a b c" {
		t.Errorf("SanitizeLine = %q", got)
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
