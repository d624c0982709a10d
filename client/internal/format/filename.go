package format

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// File names and media types as a FILE message carries them
// (spec/files.md §4.2). The sender sanitises the base name of the path it
// sends; the receiver accepts only a name that sanitising leaves as it is,
// so a name can never walk out of the directory it is saved in, hide its
// extension behind a direction change, or draw on the terminal.

// defaultFileName replaces a name that sanitising leaves empty.
const defaultFileName = "file"

// maxFileExt is the longest extension (with its dot) kept when a long
// name is cut.
const maxFileExt = 16

// isMediaTopType reports the registered top-level media types.
func isMediaTopType(s string) bool {
	switch s {
	case "application", "audio", "font", "image", "message", "model", "multipart", "text", "video":
		return true
	}
	return false
}

// isPathRune reports separators of any platform's paths.
func isPathRune(r rune) bool { return r == '/' || r == '\\' }

// isWindowsRune reports the other characters Windows refuses in a name;
// ':' also names an NTFS alternate data stream or a drive.
func isWindowsRune(r rune) bool { return strings.ContainsRune(`:<>|?*"`, r) }

// isWindowsDevice reports a name that Windows opens as a device whatever
// the directory: CON, PRN, AUX, NUL, COM0–COM9, LPT0–LPT9 (also with the
// superscript digits ¹²³), in any case, alone or before a dot, trailing
// spaces ignored.
func isWindowsDevice(s string) bool {
	stem, _, _ := strings.Cut(s, ".")
	stem = strings.ToUpper(strings.TrimRight(stem, " "))
	switch stem {
	case "CON", "PRN", "AUX", "NUL":
		return true
	}
	if !strings.HasPrefix(stem, "COM") && !strings.HasPrefix(stem, "LPT") {
		return false
	}
	switch stem[3:] {
	case "0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "¹", "²", "³":
		return true
	}
	return false
}

// isControlRune reports C0, DEL and C1 controls (NUL included).
func isControlRune(r rune) bool { return unicode.Is(unicode.Cc, r) }

// isInvisibleRune reports every format character (bidi controls,
// zero-width joiners and spaces, the BOM, soft hyphens, tags, the
// prepended concatenation marks), the other characters a screen draws as
// nothing (InvisibleRune: U+034F, the Hangul fillers, variation
// selectors, …) and the line and paragraph separators.
func isInvisibleRune(r rune) bool {
	return unicode.Is(unicode.Cf, r) || InvisibleRune(r) || r == '\u2028' || r == '\u2029'
}

// isSpaceRune reports the space separators (Zs): U+0020, the no-break
// space, the ideographic space and the typographic spaces.
func isSpaceRune(r rune) bool { return unicode.Is(unicode.Zs, r) }

// hasSpaceRun reports two space separators in a row.
func hasSpaceRun(s string) bool {
	prev := false
	for _, r := range s {
		sp := isSpaceRune(r)
		if sp && prev {
			return true
		}
		prev = sp
	}
	return false
}

// collapseSpaces turns every run of two or more space separators into one
// U+0020, so blanks cannot push the real extension out of sight where a
// name is cut ("invoice.pdf" + many spaces + ".exe").
func collapseSpaces(s string) string {
	if !hasSpaceRun(s) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if !isSpaceRune(r) {
			b.WriteString(s[i : i+size])
			i += size
			continue
		}
		j, n := i, 0
		for j < len(s) {
			r, size := utf8.DecodeRuneInString(s[j:])
			if !isSpaceRune(r) {
				break
			}
			j += size
			n++
		}
		if n == 1 {
			b.WriteString(s[i:j])
		} else {
			b.WriteByte(' ')
		}
		i = j
	}
	return b.String()
}

// SanitizeFileName turns the base name of a local path into a name a FILE
// message may carry: invalid UTF-8 becomes U+FFFD, the name is put in NFC,
// path separators and the characters Windows refuses (`:<>|?*"`) become
// "_", control and invisible characters go, a run of spaces becomes one
// space, leading dots, dashes and spaces and trailing dots and spaces go, a Windows device name gets a
// leading "_", and a name longer than 255 bytes is cut at a character
// boundary keeping an extension of up to 16 bytes. A name left empty (or
// "." or "..") becomes "file". The result passes CheckFileName, and sanitising it again
// changes nothing.
func SanitizeFileName(s string) string {
	for range 8 {
		t := sanitizeOnce(s)
		if t == s {
			return t
		}
		s = t
	}
	return s
}

func sanitizeOnce(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	s = norm.NFC.String(s)
	s = strings.Map(func(r rune) rune {
		switch {
		case isPathRune(r), isWindowsRune(r):
			return '_'
		case isControlRune(r), isInvisibleRune(r):
			return -1
		}
		return r
	}, s)
	s = collapseSpaces(s)
	s = strings.TrimLeft(s, ".- ")
	s = strings.TrimRight(s, ". ")
	if isWindowsDevice(s) {
		s = "_" + s
	}
	if len(s) > MaxFileName {
		s = cutFileName(s)
	}
	if s == "" {
		return defaultFileName
	}
	return s
}

// cutFileName shortens s to MaxFileName bytes at a rune boundary, keeping
// its extension when that is at most maxFileExt bytes.
func cutFileName(s string) string {
	ext := ""
	if i := strings.LastIndexByte(s, '.'); i > 0 && len(s)-i <= maxFileExt {
		ext = s[i:]
	}
	stem := s[:len(s)-len(ext)]
	limit := MaxFileName - len(ext)
	for len(stem) > limit {
		_, size := utf8.DecodeLastRuneInString(stem)
		stem = stem[:len(stem)-size]
	}
	return strings.TrimRight(stem, ". ") + ext
}

// CheckFileName reports whether s is a name a FILE message may carry:
// exactly what SanitizeFileName returns for it. The error is a *FileError
// wrapping ErrFileName that says what is wrong in the user's words.
func CheckFileName(s string) error {
	switch {
	case s == "":
		return fileErr(ErrFileName, "its name is empty")
	case len(s) > MaxFileName:
		return fileErr(ErrFileName, "its name is longer than 255 bytes")
	case !utf8.ValidString(s):
		return fileErr(ErrFileName, "its name is not valid text")
	case s == "." || s == ".." || strings.ContainsFunc(s, isPathRune):
		return fileErr(ErrFileName, "its name contains a path")
	case strings.ContainsFunc(s, isWindowsRune):
		return fileErr(ErrFileName, `its name contains one of : < > | ? * "`)
	case isWindowsDevice(s):
		return fileErr(ErrFileName, "its name is a Windows device name")
	case strings.ContainsFunc(s, isControlRune):
		return fileErr(ErrFileName, "its name contains control characters")
	case strings.ContainsFunc(s, isInvisibleRune):
		return fileErr(ErrFileName, "its name contains invisible or direction-changing characters")
	case hasSpaceRun(s):
		return fileErr(ErrFileName, "its name contains several spaces in a row")
	case strings.IndexAny(s[:1], ".- ") == 0:
		return fileErr(ErrFileName, "its name starts with a dot, a dash or a space")
	case strings.HasSuffix(s, ".") || strings.HasSuffix(s, " "):
		return fileErr(ErrFileName, "its name ends with a dot or a space")
	case SanitizeFileName(s) != s:
		return fileErr(ErrFileName, "its name is not in normal form")
	}
	return nil
}

// CheckMediaType reports whether s is a media type a FILE message may
// carry: "type/subtype" in lower-case ASCII, a registered top-level type, a
// subtype of restricted-name characters, at most 64 bytes, no parameters.
// The error is a *FileError wrapping ErrFileType.
func CheckMediaType(s string) error {
	bad := fileErr(ErrFileType, "its media type is not valid")
	if len(s) == 0 || len(s) > MaxMediaType {
		return bad
	}
	top, sub, ok := strings.Cut(s, "/")
	if !ok || len(sub) == 0 {
		return bad
	}
	if !isMediaTopType(top) {
		return bad
	}
	for i := 0; i < len(sub); i++ {
		c := sub[i]
		switch {
		case 'a' <= c && c <= 'z', '0' <= c && c <= '9':
		case i > 0 && strings.IndexByte("!#$&^_.+-", c) >= 0:
		default:
			return bad
		}
	}
	return nil
}
