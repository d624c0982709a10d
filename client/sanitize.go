package client

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"veil/client/internal/format"
)

// Sanitize returns s with everything that could drive a terminal or hide
// text removed (spec/client.md §9): ESC-introduced sequences (CSI, OSC,
// DCS and the like) are dropped whole, every other C0 control except
// newline and tab, DEL, the C1 controls U+0080–U+009F, and every
// default-ignorable code point (invisibleRune): zero-width characters,
// bidirectional controls, the BOM, variation selectors, tags, fillers.
// The line and paragraph separators U+2028 and U+2029 become newlines.
// Invalid UTF-8 becomes U+FFFD. Every string from a peer passes through it
// before it reaches a screen or stdout.
func Sanitize(s string) string {
	return sanitize(s, false)
}

// SanitizeLine is Sanitize for one-line fields (nicknames, chat names):
// newlines, tabs and the line and paragraph separators become spaces.
func SanitizeLine(s string) string {
	return sanitize(s, true)
}

func sanitize(s string, oneLine bool) string {
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size <= 1 {
			b.WriteRune(utf8.RuneError)
			i++
			continue
		}
		if r == 0x1b { // ESC: skip the whole sequence
			i += size + escapeLen(s[i+size:])
			continue
		}
		if r == 0x9b || r == 0x9d || r == 0x90 { // C1 CSI, OSC, DCS
			i += size + c1Len(r, s[i+size:])
			continue
		}
		i += size
		switch {
		case r == '\n' || r == '\t':
			if oneLine {
				b.WriteByte(' ')
			} else {
				b.WriteRune(r)
			}
		case r == 0x2028 || r == 0x2029: // line and paragraph separators
			if oneLine {
				b.WriteByte(' ')
			} else {
				b.WriteByte('\n')
			}
		case unsafeRune(r):
			// dropped
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// unsafeRune reports whether r is a control, formatting or invisible
// character that must not reach a terminal.
func unsafeRune(r rune) bool {
	switch {
	case r < 0x20, r == 0x7f, r >= 0x80 && r <= 0x9f:
		return true
	}
	return invisibleRune(r)
}

// invisibleRune reports whether r is default-ignorable or another format
// character that draws nothing (format.InvisibleRune, which file names
// share).
func invisibleRune(r rune) bool { return format.InvisibleRune(r) }

// HasVisible reports whether s has at least one character that draws
// something: not a space, a combining mark, a control or an invisible
// character (unsafeRune), nor the blank braille pattern U+2800. A
// nickname must have one (spec/client.md §9).
func HasVisible(s string) bool {
	for _, r := range s {
		switch {
		case r == utf8.RuneError, unicode.IsSpace(r), unicode.IsMark(r), unsafeRune(r), r == 0x2800:
		default:
			return true
		}
	}
	return false
}

// escapeLen returns how many bytes after an ESC belong to its sequence
// (ECMA-48 §5.3–5.6): CSI runs to a final byte 0x40–0x7e; OSC, DCS, SOS,
// PM and APC run to BEL or ST (ESC \); any other escape is ESC plus
// intermediates 0x20–0x2f plus one final byte.
func escapeLen(s string) int {
	if s == "" {
		return 0
	}
	switch s[0] {
	case '[':
		return 1 + csiLen(s[1:])
	case ']', 'P', 'X', '^', '_':
		return 1 + stringLen(s[1:])
	}
	n := 0
	for n < len(s) && s[n] >= 0x20 && s[n] <= 0x2f {
		n++
	}
	if n < len(s) && s[n] >= 0x30 && s[n] <= 0x7e {
		n++
	}
	return n
}

func c1Len(r rune, s string) int {
	if r == 0x9b {
		return csiLen(s)
	}
	return stringLen(s)
}

// csiLen returns the length of a CSI sequence's parameters, intermediates
// and final byte; it stops early at anything else, which is then
// sanitised on its own.
func csiLen(s string) int {
	for n := 0; n < len(s); n++ {
		c := s[n]
		if c >= 0x40 && c <= 0x7e {
			return n + 1
		}
		if c < 0x20 || c > 0x3f {
			return n
		}
	}
	return len(s)
}

// stringLen returns the length of a control string's body up to and
// including its terminator (BEL, ESC \ or C1 ST). An unterminated string
// swallows the rest of the text: a terminal would too.
func stringLen(s string) int {
	for n := 0; n < len(s); n++ {
		switch {
		case s[n] == 0x07:
			return n + 1
		case s[n] == 0x1b:
			if n+1 < len(s) && s[n+1] == '\\' {
				return n + 2
			}
			return n
		case s[n] == 0xc2 && n+1 < len(s) && s[n+1] == 0x9c:
			return n + 2
		}
	}
	return len(s)
}
