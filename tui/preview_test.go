package tui

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"image"
	"image/color"
	"image/gif"
	"image/jpeg"
	"image/png"
	"strings"
	"testing"

	"veil/client"
)

// testImage is a w×h gradient with a transparent corner.
func testImage(w, h int) *image.NRGBA {
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			a := uint8(255)
			if x < w/4 && y < h/4 {
				a = 0
			}
			img.SetNRGBA(x, y, color.NRGBA{uint8(x * 255 / max(1, w-1)), uint8(y * 255 / max(1, h-1)), 128, a})
		}
	}
	return img
}

func encodePNG(t testing.TB, img image.Image) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// pngChunk is one PNG chunk with its CRC.
func pngChunk(typ string, data []byte) []byte {
	var b []byte
	b = binary.BigEndian.AppendUint32(b, uint32(len(data)))
	b = append(b, typ...)
	b = append(b, data...)
	return binary.BigEndian.AppendUint32(b, crc32.ChecksumIEEE(append([]byte(typ), data...)))
}

// pngHeader is a PNG signature and an IHDR declaring w×h RGBA, no pixels.
func pngHeader(w, h uint32) []byte {
	ihdr := binary.BigEndian.AppendUint32(nil, w)
	ihdr = binary.BigEndian.AppendUint32(ihdr, h)
	ihdr = append(ihdr, 8, 6, 0, 0, 0)
	return append([]byte("\x89PNG\r\n\x1a\n"), pngChunk("IHDR", ihdr)...)
}

// hostile is a terminal escape a file must never get through to the
// screen: an OSC 52 clipboard write, a screen clear, a title change.
const hostile = "\x1b]52;c;ZXZpbA==\x07\x1b[2J\x1b]0;pwned\x07"

// withText inserts a tEXt chunk holding hostile after a PNG's IHDR.
func withText(p []byte) []byte {
	const ihdrEnd = 8 + 25
	out := append([]byte{}, p[:ihdrEnd]...)
	out = append(out, pngChunk("tEXt", []byte("Comment\x00"+hostile))...)
	return append(out, p[ihdrEnd:]...)
}

func TestDecodePreviewRefusesBombs(t *testing.T) {
	lim := defaultPreviewLimits()
	for _, c := range []struct {
		name string
		w, h uint32
	}{
		{"100000 square", 100000, 100000},
		{"side over 8192", 8193, 10},
		{"48 MP", 8000, 6000},
		{"max uint32", 0xffffffff, 0xffffffff},
	} {
		t.Run(c.name, func(t *testing.T) {
			// Only a header: a decoder that allocated first would need
			// gigabytes, and then fail on the missing data instead.
			data := pngHeader(c.w, c.h)
			if _, err := decodePreview(bytes.NewReader(data), "image/png", lim); !errors.Is(err, errPreviewSize) && !errors.Is(err, errPreviewType) {
				t.Fatalf("got %v, want a refusal", err)
			}
			if _, err := imageConfig(bytes.NewReader(data), "image/png", lim); err == nil {
				t.Fatal("imageConfig accepted it")
			}
		})
	}
	// Within the limits, the same header passes the size check (and then
	// fails for want of pixels).
	if _, err := decodePreview(bytes.NewReader(pngHeader(8000, 5000)), "image/png", lim); errors.Is(err, errPreviewSize) {
		t.Fatalf("40 MP refused for its size: %v", err)
	}
}

func TestDecodePreviewTypeMustMatch(t *testing.T) {
	img := testImage(20, 10)
	p := encodePNG(t, img)
	var j, g bytes.Buffer
	if err := jpeg.Encode(&j, img, nil); err != nil {
		t.Fatal(err)
	}
	if err := gif.Encode(&g, img, nil); err != nil {
		t.Fatal(err)
	}
	lim := defaultPreviewLimits()
	for _, c := range []struct {
		typ  string
		data []byte
		ok   bool
	}{
		{"image/png", p, true}, {"image/jpeg", j.Bytes(), true}, {"image/gif", g.Bytes(), true},
		{"image/png", j.Bytes(), false}, {"image/jpeg", p, false}, {"image/gif", p, false},
		{"image/svg+xml", p, false}, {"text/html", p, false}, {"image/PNG", p, false},
		{"image/png", p[:len(p)/2], false},
	} {
		img, err := decodePreview(bytes.NewReader(c.data), c.typ, lim)
		if c.ok != (err == nil) {
			t.Errorf("%s of %d bytes: %v", c.typ, len(c.data), err)
		}
		if err == nil && img.Bounds().Size() != image.Pt(20, 10) {
			t.Errorf("%s: size %v", c.typ, img.Bounds().Size())
		}
	}
}

// endless yields bytes forever.
type endless struct{ n int64 }

func (e *endless) Read(p []byte) (int, error) {
	clear(p)
	e.n += int64(len(p))
	return len(p), nil
}

func TestDecodePreviewReadsBounded(t *testing.T) {
	lim := previewLimits{bytes: 1 << 16, side: 100, pixels: 10000}
	r := &endless{}
	if _, err := decodePreview(r, "image/png", lim); !errors.Is(err, errPreviewSize) {
		t.Fatalf("got %v", err)
	}
	if r.n > 2*lim.bytes {
		t.Fatalf("read %d bytes of an endless stream, limit %d", r.n, lim.bytes)
	}
}

func TestFitAndDownscale(t *testing.T) {
	for _, c := range []struct{ w, h, mw, mh, ww, wh int }{
		{100, 50, 200, 200, 100, 50}, {400, 200, 100, 100, 100, 50}, {200, 400, 100, 100, 50, 100},
		{8192, 1, 80, 40, 80, 1}, {1, 8192, 80, 40, 1, 40}, {10, 10, 0, 0, 1, 1},
	} {
		if w, h := fitSize(c.w, c.h, c.mw, c.mh); w != c.ww || h != c.wh {
			t.Errorf("fitSize(%d,%d,%d,%d) = %d,%d want %d,%d", c.w, c.h, c.mw, c.mh, w, h, c.ww, c.wh)
		}
	}
	small := downscale(testImage(300, 200), 30, 30)
	if small.Bounds().Size() != image.Pt(30, 20) {
		t.Fatalf("size %v", small.Bounds().Size())
	}
	if c := small.RGBAAt(0, 0); c.A != 0 {
		t.Errorf("the transparent corner became %v", c)
	}
	if c := small.RGBAAt(29, 19); c.A != 255 || c.R < 200 || c.G < 200 {
		t.Errorf("the far corner became %v", c)
	}
}

func TestDetectPreview(t *testing.T) {
	env := func(kv ...string) func(string) string {
		return func(k string) string {
			for i := 0; i+1 < len(kv); i += 2 {
				if kv[i] == k {
					return kv[i+1]
				}
			}
			return ""
		}
	}
	for _, c := range []struct {
		mode string
		env  func(string) string
		want string
	}{
		{"auto", env("TERM", "xterm-kitty"), previewKitty},
		{"auto", env("TERM", "xterm-256color", "KITTY_WINDOW_ID", "3"), previewKitty},
		{"", env("TERM_PROGRAM", "WezTerm"), previewKitty},
		{"auto", env("TERM_PROGRAM", "ghostty"), previewKitty},
		{"auto", env("TERM", "foot"), previewSixel},
		{"auto", env("TERM", "mlterm"), previewSixel},
		{"auto", env("TERM", "xterm-256color", "VEIL_SIXEL", "1"), previewSixel},
		{"auto", env("TERM", "xterm-256color"), previewOff},
		{"off", env("TERM", "xterm-kitty"), previewOff},
		{"sixel", env(), previewSixel},
		{"kitty", env(), previewKitty},
	} {
		if got := detectPreview(c.mode, c.env); got != c.want {
			t.Errorf("%q: got %s want %s", c.mode, got, c.want)
		}
	}
}

// checkKitty checks that out is only kitty graphics commands of ours and
// returns the PNG they carry.
func checkKitty(t testing.TB, out []byte) []byte {
	t.Helper()
	var payload strings.Builder
	s := string(out)
	for n := 0; s != ""; n++ {
		if !strings.HasPrefix(s, "\x1b_G") {
			t.Fatalf("not a kitty command at %q", s[:min(len(s), 20)])
		}
		end := strings.Index(s, "\x1b\\")
		if end < 0 {
			t.Fatal("an unterminated command")
		}
		ctl, data, ok := strings.Cut(s[3:end], ";")
		if !ok || len(data) > kittyPiece {
			t.Fatalf("command %d: %d bytes of data", n, len(data))
		}
		if n == 0 && !strings.HasPrefix(ctl, "a=T,f=100,t=d,") || n > 0 && !strings.HasPrefix(ctl, "m=") {
			t.Fatalf("command %d: control %q", n, ctl)
		}
		if strings.ContainsFunc(data, func(r rune) bool { return !strings.ContainsRune(base64Alphabet, r) }) {
			t.Fatalf("command %d carries more than base64", n)
		}
		payload.WriteString(data)
		s = s[end+2:]
	}
	p, err := base64.StdEncoding.DecodeString(payload.String())
	if err != nil {
		t.Fatal(err)
	}
	return p
}

const base64Alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/="

// checkSixel checks that out is one sixel image in our grammar: DCS q, raster
// attributes, palette, sixels, repeats, carriage returns, new lines, ST.
func checkSixel(t testing.TB, out []byte) {
	t.Helper()
	s := string(out)
	if !strings.HasPrefix(s, "\x1bPq\"1;1;") || !strings.HasSuffix(s, "\x1b\\") {
		t.Fatalf("not framed as a sixel image: %q…", s[:min(len(s), 20)])
	}
	for _, c := range []byte(s[3 : len(s)-2]) {
		if !(c >= '0' && c <= '9' || c == ';' || c == '#' || c == '!' || c == '$' || c == '-' || c == '"' || c >= '?' && c <= '~') {
			t.Fatalf("byte %#x inside a sixel image", c)
		}
	}
}

// TestHostilePNGNeverReachesTheTerminal: escapes in a PNG's text chunk and
// in its name are nowhere in what is written to the terminal, whichever
// protocol draws it; the kitty payload is our own PNG, not theirs.
func TestHostilePNGNeverReachesTheTerminal(t *testing.T) {
	data := withText(encodePNG(t, testImage(64, 48)))
	if !bytes.Contains(data, []byte(hostile)) {
		t.Fatal("the test file lacks its escapes")
	}
	f := &client.FileInfo{Name: "cat" + hostile + ".png", Type: "image/png", Size: int64(len(data)), State: client.FileReady}
	for _, proto := range []string{previewKitty, previewSixel} {
		out, size, err := renderPreview(bytes.NewReader(data), f.Type, proto, 20, 10, defaultPreviewLimits())
		if err != nil {
			t.Fatal(err)
		}
		if size != image.Pt(64, 48) {
			t.Fatalf("size %v", size)
		}
		if proto == previewKitty {
			ours := checkKitty(t, out)
			if bytes.Equal(ours, data) || bytes.Contains(ours, []byte("Comment")) {
				t.Fatal("the sender's PNG reached the terminal")
			}
			if _, err := png.Decode(bytes.NewReader(ours)); err != nil {
				t.Fatal(err)
			}
		} else {
			checkSixel(t, out)
		}
		var term bytes.Buffer
		p := &previewExec{title: describeFile(f, size), image: out, kitty: proto == previewKitty}
		p.SetStdin(strings.NewReader("\n"))
		p.SetStdout(&term)
		if err := p.Run(); err != nil {
			t.Fatal(err)
		}
		for _, bad := range []string{"\x07", "]52", "]0;", "pwned", "\x1b[2J\x1b]"} {
			if bytes.Contains(term.Bytes(), []byte(bad)) {
				t.Fatalf("%s: %q reached the terminal", proto, bad)
			}
		}
		if !bytes.HasSuffix(term.Bytes(), []byte("\x1b[?1049l")) {
			t.Fatalf("%s: the alternate screen was not left", proto)
		}
	}
	// A bomb behind a harmless-looking name: refused before decoding.
	if _, _, err := renderPreview(bytes.NewReader(pngHeader(60000, 60000)), "image/png", previewSixel, 20, 10, defaultPreviewLimits()); !errors.Is(err, errPreviewSize) {
		t.Fatalf("bomb: %v", err)
	}
	if _, _, err := renderPreview(bytes.NewReader(data), "image/png", previewOff, 20, 10, defaultPreviewLimits()); err == nil {
		t.Fatal("a preview with the preview off")
	}
}

func TestKittyPieces(t *testing.T) {
	// Noise compresses badly: several pieces.
	img := image.NewRGBA(image.Rect(0, 0, 120, 90))
	x := uint32(1)
	for i := range img.Pix {
		x = x*1664525 + 1013904223
		img.Pix[i] = uint8(x >> 24)
	}
	out, err := kittyImage(img)
	if err != nil {
		t.Fatal(err)
	}
	if n := bytes.Count(out, []byte("\x1b_G")); n < 3 {
		t.Fatalf("%d pieces", n)
	}
	if !bytes.Contains(out, []byte("m=0;")) || bytes.Count(out, []byte("m=0;")) != 1 {
		t.Fatal("the last piece is not marked as last, once")
	}
	got, err := png.Decode(bytes.NewReader(checkKitty(t, out)))
	if err != nil || got.Bounds() != img.Bounds() {
		t.Fatalf("payload: %v %v", err, got)
	}
}

// sixelPixels decodes the colour indexes of a sixel image of ours, to
// check the bands (a reference reader for our own subset).
func sixelPixels(t testing.TB, out []byte, w, h int) []int {
	t.Helper()
	px := make([]int, w*h)
	for i := range px {
		px[i] = -1
	}
	s := string(out[3 : len(out)-2])
	num := func() int {
		n := 0
		for s != "" && s[0] >= '0' && s[0] <= '9' {
			n = n*10 + int(s[0]-'0')
			s = s[1:]
		}
		return n
	}
	band, x, col := 0, 0, 0
	for s != "" {
		c := s[0]
		s = s[1:]
		switch {
		case c == '"':
			num()
			for s != "" && s[0] == ';' {
				s = s[1:]
				num()
			}
		case c == '#':
			col = num()
			for s != "" && s[0] == ';' { // a palette entry
				s = s[1:]
				num()
			}
		case c == '$':
			x = 0
		case c == '-':
			band, x = band+1, 0
		case c == '!' || c >= '?' && c <= '~':
			n := 1
			if c == '!' {
				n = num()
				c, s = s[0], s[1:]
			}
			for range n {
				for bit := range 6 {
					if (c-'?')&(1<<bit) != 0 && x < w && band*6+bit < h {
						px[(band*6+bit)*w+x] = col
					}
				}
				x++
			}
		}
	}
	return px
}

func TestSixelBands(t *testing.T) {
	w, h := 23, 14 // not a multiple of 6
	img := downscale(testImage(w, h), w, h)
	out := sixelImage(img)
	checkSixel(t, out)
	px := sixelPixels(t, out, w, h)
	for y := range h {
		for x := range w {
			c := img.RGBAAt(x, y)
			if want := int(sixelIndex(c.R, c.G, c.B)); px[y*w+x] != want {
				t.Fatalf("pixel %d,%d: colour %d, want %d", x, y, px[y*w+x], want)
			}
		}
	}
	for i := range 256 {
		r, g, b := sixelPalette(i)
		if j := sixelIndex(r, g, b); j != uint8(i) && (i < sixelCube) == (r != g || g != b) {
			rr, gg, bb := sixelPalette(int(j))
			if rr != r || gg != g || bb != b {
				t.Errorf("palette colour %d maps to %d", i, j)
			}
		}
	}
}

// FuzzPreviewDecode: arbitrary bytes under each image type decode, or are
// refused, within small limits of time and memory; what decodes draws as
// well-formed sixel and kitty output.
func FuzzPreviewDecode(f *testing.F) {
	img := testImage(9, 7)
	f.Add(encodePNG(f, img), uint8(0))
	var j, g bytes.Buffer
	_ = jpeg.Encode(&j, img, nil)
	_ = gif.Encode(&g, img, nil)
	f.Add(j.Bytes(), uint8(1))
	f.Add(g.Bytes(), uint8(2))
	f.Add(pngHeader(1<<20, 1<<20), uint8(0))
	f.Add(withText(encodePNG(f, img)), uint8(0))
	types := []string{"image/png", "image/jpeg", "image/gif", "text/plain"}
	lim := previewLimits{bytes: 1 << 20, side: 512, pixels: 1 << 16}
	f.Fuzz(func(t *testing.T, data []byte, typ uint8) {
		ty := types[int(typ)%len(types)]
		img, err := decodePreview(bytes.NewReader(data), ty, lim)
		if err != nil {
			return
		}
		if b := img.Bounds(); b.Dx() > lim.side || b.Dy() > lim.side || b.Dx()*b.Dy() > lim.pixels {
			t.Fatalf("decoded %v beyond the limits", b)
		}
		small := downscale(img, 16, 16)
		checkSixel(t, sixelImage(small))
		out, err := kittyImage(small)
		if err != nil {
			t.Fatal(err)
		}
		checkKitty(t, out)
	})
}

// FuzzSixel: any pixels encode to a well-formed sixel image that reads
// back as the colours they map to.
func FuzzSixel(f *testing.F) {
	f.Add(uint8(3), uint8(2), []byte{255, 0, 0, 255, 0, 255, 0, 255, 0, 0, 255, 255})
	f.Add(uint8(1), uint8(13), []byte{1, 2, 3})
	f.Add(uint8(0), uint8(0), []byte{})
	f.Fuzz(func(t *testing.T, w, h uint8, pix []byte) {
		bw, bh := int(w)%64+1, int(h)%64+1
		img := image.NewRGBA(image.Rect(0, 0, bw, bh))
		if len(pix) > 0 {
			for i := range img.Pix {
				img.Pix[i] = pix[i%len(pix)]
			}
		}
		out := sixelImage(img)
		checkSixel(t, out)
		px := sixelPixels(t, out, bw, bh)
		for y := range bh {
			for x := range bw {
				c := img.RGBAAt(x, y)
				if want := int(sixelIndex(c.R, c.G, c.B)); px[y*bw+x] != want {
					t.Fatalf("pixel %d,%d: colour %d, want %d", x, y, px[y*bw+x], want)
				}
			}
		}
	})
}
