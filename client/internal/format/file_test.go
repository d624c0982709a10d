package format

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	"veil/crypto"
)

func testFileDescriptor() *FileDescriptor {
	d := &FileDescriptor{Slot: 1, Size: 1_000_000, Chunks: 64, Expires: 1767225600, Type: "application/pdf", Name: "report.pdf"}
	d.Secret[0], d.SHA256[0] = 7, 9
	return d
}

func TestFileDescriptorRoundTrip(t *testing.T) {
	for _, d := range []*FileDescriptor{
		testFileDescriptor(),
		{Size: 0, Chunks: 1, Type: "image/png", Name: "a"},
		{Slot: 255, Size: crypto.MaxFileSize, Chunks: 126976, Expires: 1 << 40, Type: "video/" + strings.Repeat("x", MaxMediaType-6), Name: strings.Repeat("n", MaxFileName)},
	} {
		b, err := d.Append([]byte{0xee})
		if err != nil {
			t.Fatal(err)
		}
		if b[0] != 0xee || len(b) > 1+MaxFileDescriptor {
			t.Fatalf("Append wrote %d bytes", len(b))
		}
		b = b[1:]
		got, err := ParseFileDescriptor(b)
		if err != nil || got != *d {
			t.Fatalf("parse = %+v, %v", got, err)
		}
		for n := range len(b) {
			if _, err := ParseFileDescriptor(b[:n]); err == nil {
				t.Fatalf("truncation to %d accepted", n)
			}
		}
		if _, err := ParseFileDescriptor(append(b, 0)); err == nil {
			t.Fatal("extension accepted")
		}
	}
}

// TestFileDescriptorRefusals: §8's adversarial descriptors, each with its
// kind and words.
func TestFileDescriptorRefusals(t *testing.T) {
	for name, c := range map[string]struct {
		edit   func(d *FileDescriptor)
		kind   error
		reason string
	}{
		"dot-dot path":     {func(d *FileDescriptor) { d.Name = "../../.ssh/x" }, ErrFileName, "its name contains a path"},
		"slash":            {func(d *FileDescriptor) { d.Name = "a/b" }, ErrFileName, "its name contains a path"},
		"backslash":        {func(d *FileDescriptor) { d.Name = `a\b` }, ErrFileName, "its name contains a path"},
		"dot dot":          {func(d *FileDescriptor) { d.Name = ".." }, ErrFileName, "its name contains a path"},
		"leading dash":     {func(d *FileDescriptor) { d.Name = "-rf" }, ErrFileName, "its name starts with a dot, a dash or a space"},
		"leading dot":      {func(d *FileDescriptor) { d.Name = ".bashrc" }, ErrFileName, "its name starts with a dot, a dash or a space"},
		"escape":           {func(d *FileDescriptor) { d.Name = "a\x1b[31m.txt" }, ErrFileName, "its name contains control characters"},
		"nul":              {func(d *FileDescriptor) { d.Name = "a\x00.txt" }, ErrFileName, "its name contains control characters"},
		"c1":               {func(d *FileDescriptor) { d.Name = "a\u009b.txt" }, ErrFileName, "its name contains control characters"},
		"bidi override":    {func(d *FileDescriptor) { d.Name = "invoice\u202Efdp.exe" }, ErrFileName, "its name contains invisible or direction-changing characters"},
		"zero width":       {func(d *FileDescriptor) { d.Name = "a\u200bb" }, ErrFileName, "its name contains invisible or direction-changing characters"},
		"line separator":   {func(d *FileDescriptor) { d.Name = "a\u2028b" }, ErrFileName, "its name contains invisible or direction-changing characters"},
		"invalid utf-8":    {func(d *FileDescriptor) { d.Name = "a\xffb" }, ErrFileName, "its name is not valid text"},
		"not nfc":          {func(d *FileDescriptor) { d.Name = "e\u0301.txt" }, ErrFileName, "its name is not in normal form"},
		"trailing dot":     {func(d *FileDescriptor) { d.Name = "a." }, ErrFileName, "its name ends with a dot or a space"},
		"empty":            {func(d *FileDescriptor) { d.Name = "" }, ErrFileName, "its name is empty"},
		"chunks mismatch":  {func(d *FileDescriptor) { d.Chunks = 63 }, ErrFileSize, "its size does not match its chunks"},
		"too large":        {func(d *FileDescriptor) { d.Size, d.Chunks = crypto.MaxFileSize+1, 126976 }, ErrFileSize, "it is larger than veil accepts (2 GB)"},
		"negative size":    {func(d *FileDescriptor) { d.Size = -1 }, ErrFileSize, "it is larger than veil accepts (2 GB)"},
		"size 0, 0 chunks": {func(d *FileDescriptor) { d.Size, d.Chunks = 0, 0 }, ErrFileSize, "its size does not match its chunks"},
		"type parameter":   {func(d *FileDescriptor) { d.Type = "image/png; x=y" }, ErrFileType, "its media type is not valid"},
		"type upper case":  {func(d *FileDescriptor) { d.Type = "image/PNG" }, ErrFileType, "its media type is not valid"},
		"type 65 bytes":    {func(d *FileDescriptor) { d.Type = "image/" + strings.Repeat("a", 59) }, ErrFileType, "its media type is not valid"},
		"type unknown top": {func(d *FileDescriptor) { d.Type = "x-foo/bar" }, ErrFileType, "its media type is not valid"},
		"type no subtype":  {func(d *FileDescriptor) { d.Type = "image/" }, ErrFileType, "its media type is not valid"},
	} {
		t.Run(name, func(t *testing.T) {
			d := testFileDescriptor()
			good, _ := d.Append(nil)
			c.edit(d)
			if _, err := d.Append(nil); !errors.Is(err, c.kind) || err.Error() != c.reason {
				t.Fatalf("Append: %v", err)
			}
			// The same descriptor laid out by hand is refused by the parser.
			b := layoutDescriptor(good, d)
			got, err := ParseFileDescriptor(b)
			if !errors.Is(err, c.kind) || err.Error() != c.reason {
				t.Fatalf("Parse: %v", err)
			}
			if got != (FileDescriptor{}) {
				t.Fatal("refused descriptor returned fields")
			}
			var fe *FileError
			if !errors.As(err, &fe) {
				t.Fatal("not a *FileError")
			}
		})
	}
}

// layoutDescriptor writes d's fields into a copy of a good descriptor's
// fixed part, without Append's checks.
func layoutDescriptor(good []byte, d *FileDescriptor) []byte {
	b := bytes.Clone(good[:2+crypto.KeySize])
	b = appendU64(b, uint64(d.Size))
	b = append(b, byte(d.Chunks>>24), byte(d.Chunks>>16), byte(d.Chunks>>8), byte(d.Chunks))
	b = append(b, d.SHA256[:]...)
	b = appendU64(b, uint64(d.Expires))
	b = append(b, byte(len(d.Type)))
	b = append(b, d.Type...)
	b = append(b, byte(len(d.Name)))
	return append(b, d.Name...)
}

func appendU64(b []byte, v uint64) []byte {
	for i := 7; i >= 0; i-- {
		b = append(b, byte(v>>(8*i)))
	}
	return b
}

func TestFileDescriptorVersion(t *testing.T) {
	b, _ := testFileDescriptor().Append(nil)
	b[0] = 2
	if _, err := ParseFileDescriptor(b); !errors.Is(err, ErrFileVersion) {
		t.Fatalf("version 2: %v", err)
	}
	b[0] = 1
	b[len(b)-len("report.pdf")-1] = 200 // name length past the end
	if _, err := ParseFileDescriptor(b); err == nil || errors.Is(err, ErrFileName) {
		t.Fatalf("bad length: %v", err)
	}
}

func TestSanitizeFileName(t *testing.T) {
	long := strings.Repeat("é", 200) + ".tar.gz"
	for in, want := range map[string]string{
		"report.pdf":            "report.pdf",
		"../../.ssh/x":          "_.._.ssh_x",
		"a/b":                   "a_b",
		`C:\Users\x.txt`:        "C__Users_x.txt",
		"..":                    "file",
		".":                     "file",
		"":                      "file",
		"   ":                   "file",
		"-rf":                   "rf",
		".bashrc":               "bashrc",
		"name. . ":              "name",
		"a\x1b[31mb":            "a[31mb",
		"invoice\u202Efdp.exe":  "invoicefdp.exe",
		"a\u200b\ufeffb":        "ab",
		"e\u0301.txt":           "\u00e9.txt",
		"a\xffb":                "a\ufffdb",
		"a\u2028b":              "ab",
		"\x00":                  "file",
		"résumé final (2).docx": "résumé final (2).docx",
	} {
		if got := SanitizeFileName(in); got != want {
			t.Errorf("SanitizeFileName(%q) = %q, want %q", in, got, want)
		}
	}
	got := SanitizeFileName(long)
	if len(got) > MaxFileName || !strings.HasSuffix(got, ".gz") || !utf8.ValidString(got) || CheckFileName(got) != nil {
		t.Fatalf("long name cut to %q (%d bytes)", got, len(got))
	}
	ext := strings.Repeat("x", 300) + "." + strings.Repeat("e", 20)
	if got := SanitizeFileName(ext); len(got) != MaxFileName || strings.Contains(got, ".") {
		t.Fatalf("a 21-byte extension was kept: %q", got)
	}
}

func TestCheckMediaType(t *testing.T) {
	for _, ok := range []string{"image/png", "application/vnd.oasis.opendocument.text", "text/plain", "application/x-tar", "image/svg+xml", "font/woff2", "model/gltf-binary"} {
		if err := CheckMediaType(ok); err != nil {
			t.Errorf("%q: %v", ok, err)
		}
	}
	for _, bad := range []string{"", "image", "image/", "/png", "image/png ", "Image/png", "image/.png", "chemical/x-pdb", "image/png/x", "image/pñg", "text/plain;charset=utf-8"} {
		if err := CheckMediaType(bad); !errors.Is(err, ErrFileType) {
			t.Errorf("%q accepted", bad)
		}
	}
}

// TestFileEnvelopeRefused: a FILE whose descriptor is refused still
// parses as an envelope, so the chat can show what was refused.
func TestFileEnvelopeRefused(t *testing.T) {
	d := testFileDescriptor()
	good, _ := d.Append(nil)
	d.Name = "../x"
	raw := layoutDescriptor(good, d)
	b := append(append([]byte{envVersion, EnvFile}, make([]byte, WireIDSize+4)...), raw...)
	e, err := ParseEnvelope(b)
	if err != nil || e.File != nil || !errors.Is(e.FileErr, ErrFileName) || e.FileErr.Error() != "its name contains a path" {
		t.Fatalf("envelope %+v, %v", e, err)
	}
	gb := append(append([]byte{groupEnvVersion}, make([]byte, ConfTagSize)...), GenvFile)
	gb = append(append(gb, make([]byte, WireIDSize+4)...), raw...)
	g, err := ParseGroupEnvelope(gb)
	if err != nil || g.File != nil || !errors.Is(g.FileErr, ErrFileName) {
		t.Fatalf("group envelope %+v, %v", g, err)
	}
	if _, err := (&Envelope{Type: EnvFile}).Marshal(); err == nil {
		t.Fatal("FILE without a descriptor marshalled")
	}
	// Framing still fails as framing: no room for ID and TTL.
	if _, err := ParseEnvelope([]byte{envVersion, EnvFile, 1, 2}); !errors.Is(err, errEnvelope) {
		t.Fatalf("short FILE: %v", err)
	}
	if _, err := ParseGroupEnvelope(gb[:groupEnvHdr+3]); !errors.Is(err, errEnvelope) {
		t.Fatalf("short group FILE: %v", err)
	}
}

// FuzzParseFileDescriptor: a descriptor that parses appends back to the
// input; a refused one returns no fields and a *FileError.
func FuzzParseFileDescriptor(f *testing.F) {
	b, _ := testFileDescriptor().Append(nil)
	f.Add(b)
	f.Add(b[:40])
	f.Add([]byte{2})
	f.Fuzz(func(t *testing.T, in []byte) {
		d, err := ParseFileDescriptor(in)
		if err != nil {
			var fe *FileError
			if d != (FileDescriptor{}) || !errors.As(err, &fe) {
				t.Fatalf("refusal %v with fields %+v", err, d)
			}
			return
		}
		out, err := d.Append(nil)
		if err != nil || !bytes.Equal(out, in) {
			t.Fatalf("round trip: %v", err)
		}
	})
}

// FuzzCheckFileName: sanitising is idempotent, its result passes the
// receiver's check and holds no separator, and a name the check accepts
// is its own sanitised form.
func FuzzCheckFileName(f *testing.F) {
	for _, s := range []string{"report.pdf", "../../x", "a\u202eb", "e\u0301", ".", "", strings.Repeat("ä", 200) + ".jpeg", "\xff\xfe"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		san := SanitizeFileName(s)
		if SanitizeFileName(san) != san {
			t.Fatalf("not idempotent: %q → %q → %q", s, san, SanitizeFileName(san))
		}
		if err := CheckFileName(san); err != nil {
			t.Fatalf("%q sanitised to %q, refused: %v", s, san, err)
		}
		if strings.ContainsAny(san, `/\`) || len(san) > MaxFileName || san == "" {
			t.Fatalf("sanitised %q", san)
		}
		if CheckFileName(s) == nil && san != s {
			t.Fatalf("accepted %q, which sanitises to %q", s, san)
		}
	})
}
