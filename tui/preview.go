package tui

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/gif"
	"image/jpeg"
	"image/png"
	"io"
	"strings"
)

// Image preview (files design §7): a ready file whose media type is PNG,
// JPEG or GIF and whose bytes decode as that type with the standard
// library is shrunk to the terminal and drawn with our own encoder (kitty
// or sixel). The sender's bytes never reach the terminal: only pixels we
// decoded and encoded again do.

// Limits of a preview: the most bytes read, the largest side and the most
// pixels a header may declare, and the most memory its decode may take
// by the header's colour depth (a decompression bomb is refused before a
// pixel is allocated).
const (
	maxPreviewBytes   = 64 << 20
	maxPreviewSide    = 8192
	maxPreviewPixels  = 40_000_000
	maxPreviewDecoded = 256 << 20
)

// Preview modes, the values of the "image preview" setting.
const (
	previewAuto  = "auto"
	previewKitty = "kitty"
	previewSixel = "sixel"
	previewOff   = "off"
)

// previewLimits bound one decode; tests and fuzzing use smaller ones.
type previewLimits struct {
	bytes  int64
	side   int
	pixels int
	// decoded bounds decodeCost; zero means maxPreviewDecoded.
	decoded int64
}

func defaultPreviewLimits() previewLimits {
	return previewLimits{bytes: maxPreviewBytes, side: maxPreviewSide, pixels: maxPreviewPixels, decoded: maxPreviewDecoded}
}

var (
	errPreviewType = errors.New("tui: not a PNG, JPEG or GIF image")
	errPreviewSize = errors.New("tui: the image is too large to preview")
)

// isPreviewType reports whether a media type is one a preview is tried
// for. The type is the sender's claim; the decoder decides.
func isPreviewType(t string) bool {
	switch t {
	case "image/png", "image/jpeg", "image/gif":
		return true
	}
	return false
}

// imageCodec is the standard library decoder of one media type.
type imageCodec struct {
	config func(io.Reader) (image.Config, error)
	decode func(io.Reader) (image.Image, error)
}

func codecFor(t string) (imageCodec, bool) {
	switch t {
	case "image/png":
		return imageCodec{png.DecodeConfig, png.Decode}, true
	case "image/jpeg":
		return imageCodec{jpeg.DecodeConfig, func(r io.Reader) (image.Image, error) { return jpeg.Decode(r) }}, true
	case "image/gif":
		// The first frame only: gif.DecodeAll would hold every frame.
		return imageCodec{gif.DecodeConfig, gif.Decode}, true
	}
	return imageCodec{}, false
}

// readBounded reads all of r, refusing more than limit bytes.
func readBounded(r io.Reader, limit int64) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, fmt.Errorf("tui: reading the image: %w", err)
	}
	if int64(len(b)) > limit {
		return nil, errPreviewSize
	}
	return b, nil
}

// checkConfig refuses a declared size beyond the limits, and an image
// whose decode would take more memory than lim.decoded (decodeCost of
// its header, head: the file's first bytes).
func checkConfig(c image.Config, t string, head []byte, lim previewLimits) error {
	if c.Width <= 0 || c.Height <= 0 || c.Width > lim.side || c.Height > lim.side ||
		int64(c.Width)*int64(c.Height) > int64(lim.pixels) {
		return errPreviewSize
	}
	most := lim.decoded
	if most <= 0 {
		most = maxPreviewDecoded
	}
	if decodeCost(c, t, head) > most {
		return errPreviewSize
	}
	return nil
}

// previewHead is how much of a file's start imageConfig keeps for
// decodeCost: the headers a decoder's configuration reads.
const previewHead = 64 << 10

// headRecorder keeps the first previewHead bytes read through it.
type headRecorder struct {
	r    io.Reader
	head []byte
}

func (h *headRecorder) Read(p []byte) (int, error) {
	n, err := h.r.Read(p)
	if room := previewHead - len(h.head); room > 0 {
		h.head = append(h.head, p[:min(n, room)]...)
	}
	return n, err
}

// imageConfig reads the size an image of media type t declares, within
// the limits, from at most lim.bytes of r.
func imageConfig(r io.Reader, t string, lim previewLimits) (image.Config, error) {
	codec, ok := codecFor(t)
	if !ok {
		return image.Config{}, errPreviewType
	}
	hr := &headRecorder{r: io.LimitReader(r, lim.bytes)}
	c, err := codec.config(hr)
	if err != nil {
		return image.Config{}, fmt.Errorf("%w: %v", errPreviewType, err)
	}
	return c, checkConfig(c, t, hr.head, lim)
}

// decodeCost is about the most memory the standard decoder of media type
// t takes for an image with header c: its pixels at the depth the decoder
// keeps them (8 bytes for 16-bit PNG colour), twice that for an
// interlaced PNG (the passes, then the image), and for a JPEG its
// component planes at their sampling, with 4 bytes per sample more for a
// progressive one (the coefficients it holds) and the CMYK image a
// four-component one is turned into. A header it cannot read costs the
// most its type can.
func decodeCost(c image.Config, t string, head []byte) int64 {
	px := int64(c.Width) * int64(c.Height)
	switch t {
	case "image/png":
		cost := px * bytesPerPixel(c.ColorModel)
		// IHDR's interlace method, after the signature, the chunk's
		// length and type, width, height, depth, colour type,
		// compression and filter.
		if len(head) <= 28 || head[28] != 0 {
			cost *= 2
		}
		return cost
	case "image/jpeg":
		return jpegCost(c, head)
	}
	return px * bytesPerPixel(c.ColorModel)
}

// bytesPerPixel is what an image of colour model m keeps per pixel; 8 (the
// most) for a model it does not know.
func bytesPerPixel(m color.Model) int64 {
	if _, ok := m.(color.Palette); ok {
		return 1
	}
	switch m {
	case color.GrayModel, color.AlphaModel:
		return 1
	case color.Gray16Model, color.Alpha16Model:
		return 2
	case color.RGBAModel, color.NRGBAModel, color.CMYKModel:
		return 4
	}
	return 8
}

// jpegCost is decodeCost for a JPEG.
func jpegCost(c image.Config, head []byte) int64 {
	progressive, samp, ok := jpegFrame(head)
	if !ok { // the worst the decoder takes: four full planes, progressive
		progressive, samp = true, [][2]int64{{1, 1}, {1, 1}, {1, 1}, {1, 1}}
	}
	var hmax, vmax int64 = 1, 1
	for _, hv := range samp {
		hmax, vmax = max(hmax, hv[0]), max(vmax, hv[1])
	}
	// The decoder works in whole MCUs.
	mw, mh := 8*hmax, 8*vmax
	w := (int64(c.Width) + mw - 1) / mw * mw
	h := (int64(c.Height) + mh - 1) / mh * mh
	var planes int64
	for _, hv := range samp {
		planes += w * hv[0] / hmax * h * hv[1] / vmax
	}
	cost := planes
	if progressive {
		cost += 4 * planes
	}
	if len(samp) == 4 {
		cost += 4 * w * h
	}
	return cost
}

// jpegFrame reads a JPEG's frame header from its first bytes: whether it
// is progressive, and each component's horizontal and vertical sampling
// factors. ok is false when the header is not among them.
func jpegFrame(b []byte) (progressive bool, samp [][2]int64, ok bool) {
	if len(b) < 2 || b[0] != 0xff || b[1] != 0xd8 {
		return false, nil, false
	}
	for i := 2; i+4 <= len(b); {
		if b[i] != 0xff {
			return false, nil, false
		}
		m := b[i+1]
		switch {
		case m == 0xff: // fill byte
			i++
			continue
		case m == 0x01 || m >= 0xd0 && m <= 0xd8: // no length
			i += 2
			continue
		case m == 0xda: // scan data before a frame header
			return false, nil, false
		}
		n := int(b[i+2])<<8 | int(b[i+3])
		if n < 2 || i+2+n > len(b) {
			return false, nil, false
		}
		seg := b[i+4 : i+2+n]
		if m >= 0xc0 && m <= 0xcf && m != 0xc4 && m != 0xc8 && m != 0xcc { // SOFn
			if len(seg) < 6 {
				return false, nil, false
			}
			nc := int(seg[5])
			if nc == 0 || len(seg) < 6+3*nc {
				return false, nil, false
			}
			for k := range nc {
				hv := seg[6+3*k+1]
				h, v := int64(hv>>4), int64(hv&15)
				if h == 0 || v == 0 {
					return false, nil, false
				}
				samp = append(samp, [2]int64{h, v})
			}
			return m == 0xc2 || m == 0xc6 || m == 0xca || m == 0xce, samp, true
		}
		i += 2 + n
	}
	return false, nil, false
}

// decodePreview decodes an image of media type t from r: the header's
// size is checked before the pixels are decoded, and no more than
// lim.bytes are read.
func decodePreview(r io.Reader, t string, lim previewLimits) (image.Image, error) {
	codec, ok := codecFor(t)
	if !ok {
		return nil, errPreviewType
	}
	b, err := readBounded(r, lim.bytes)
	if err != nil {
		return nil, err
	}
	c, err := codec.config(bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errPreviewType, err)
	}
	if err := checkConfig(c, t, b[:min(len(b), previewHead)], lim); err != nil {
		return nil, err
	}
	img, err := codec.decode(bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errPreviewType, err)
	}
	if bd := img.Bounds(); bd.Dx() != c.Width || bd.Dy() != c.Height {
		return nil, fmt.Errorf("%w: its size does not match its header", errPreviewType)
	}
	return img, nil
}

// fitSize is the largest size with w:h's proportions within maxW×maxH,
// never larger than w×h and at least 1×1.
func fitSize(w, h, maxW, maxH int) (int, int) {
	maxW, maxH = max(1, maxW), max(1, maxH)
	if w <= maxW && h <= maxH {
		return max(1, w), max(1, h)
	}
	// Compare w/maxW with h/maxH without floating point.
	if int64(w)*int64(maxH) >= int64(h)*int64(maxW) {
		return maxW, max(1, int(int64(h)*int64(maxW)/int64(w)))
	}
	return max(1, int(int64(w)*int64(maxH)/int64(h))), maxH
}

// boxSamples bounds the source pixels averaged per target pixel along one
// axis, so a huge image shrinks in time proportional to the target.
const boxSamples = 4

// downscale returns a new RGBA image of img fitted within maxW×maxH, each
// pixel the average of (up to boxSamples² samples of) its source box.
// Transparent parts end up premultiplied, so over black.
func downscale(img image.Image, maxW, maxH int) *image.RGBA {
	b := img.Bounds()
	sw, sh := b.Dx(), b.Dy()
	dw, dh := fitSize(sw, sh, maxW, maxH)
	out := image.NewRGBA(image.Rect(0, 0, dw, dh))
	if sw <= 0 || sh <= 0 {
		return out
	}
	for y := range dh {
		y0, y1 := y*sh/dh, max(y*sh/dh+1, (y+1)*sh/dh)
		ys := max(1, (y1-y0)/boxSamples)
		for x := range dw {
			x0, x1 := x*sw/dw, max(x*sw/dw+1, (x+1)*sw/dw)
			xs := max(1, (x1-x0)/boxSamples)
			var r, g, bl, a, n uint64
			for sy := y0; sy < y1; sy += ys {
				for sx := x0; sx < x1; sx += xs {
					cr, cg, cb, ca := img.At(b.Min.X+sx, b.Min.Y+sy).RGBA()
					r, g, bl, a = r+uint64(cr), g+uint64(cg), bl+uint64(cb), a+uint64(ca)
					n++
				}
			}
			i := out.PixOffset(x, y)
			out.Pix[i+0] = uint8(r / n >> 8)
			out.Pix[i+1] = uint8(g / n >> 8)
			out.Pix[i+2] = uint8(bl / n >> 8)
			out.Pix[i+3] = uint8(a / n >> 8)
		}
	}
	return out
}

// Assumed pixels of one terminal cell: the TUI cannot ask the terminal
// without raw ioctls, and a smaller image is harmless.
const (
	cellPixW = 8
	cellPixH = 16
)

// detectPreview picks the graphics protocol for the setting mode from the
// environment: kitty's in kitty, WezTerm and ghostty; sixel where TERM
// names a sixel terminal or VEIL_SIXEL=1; else none ("off": a text
// description only).
func detectPreview(mode string, getenv func(string) string) string {
	switch mode {
	case previewKitty, previewSixel, previewOff:
		return mode
	}
	term := getenv("TERM")
	switch {
	case term == "xterm-kitty", getenv("KITTY_WINDOW_ID") != "",
		getenv("TERM_PROGRAM") == "WezTerm", getenv("TERM_PROGRAM") == "ghostty":
		return previewKitty
	case strings.Contains(term, "sixel"), strings.Contains(term, "mlterm"),
		strings.Contains(term, "foot"), getenv("VEIL_SIXEL") == "1":
		return previewSixel
	}
	return previewOff
}

// renderPreview decodes a ready file of media type t from r and returns
// the escapes that draw it in a box of cols×rows cells with protocol
// (kitty or sixel): only our own encoding of the decoded pixels.
func renderPreview(r io.Reader, t, protocol string, cols, rows int, lim previewLimits) ([]byte, image.Point, error) {
	if protocol != previewKitty && protocol != previewSixel {
		return nil, image.Point{}, errors.New("tui: this terminal shows no images")
	}
	img, err := decodePreview(r, t, lim)
	if err != nil {
		return nil, image.Point{}, err
	}
	size := img.Bounds().Size()
	small := downscale(img, cols*cellPixW, rows*cellPixH)
	if protocol == previewKitty {
		out, err := kittyImage(small)
		return out, size, err
	}
	return sixelImage(small), size, nil
}
