package tui

import (
	"bytes"
	"errors"
	"fmt"
	"image"
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
// pixels a header may declare (a decompression bomb is refused before a
// pixel is allocated).
const (
	maxPreviewBytes  = 64 << 20
	maxPreviewSide   = 8192
	maxPreviewPixels = 40_000_000
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
}

func defaultPreviewLimits() previewLimits {
	return previewLimits{bytes: maxPreviewBytes, side: maxPreviewSide, pixels: maxPreviewPixels}
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

// checkConfig refuses a declared size beyond the limits.
func checkConfig(c image.Config, lim previewLimits) error {
	if c.Width <= 0 || c.Height <= 0 || c.Width > lim.side || c.Height > lim.side ||
		int64(c.Width)*int64(c.Height) > int64(lim.pixels) {
		return errPreviewSize
	}
	return nil
}

// imageConfig reads the size an image of media type t declares, within
// the limits, from at most lim.bytes of r.
func imageConfig(r io.Reader, t string, lim previewLimits) (image.Config, error) {
	codec, ok := codecFor(t)
	if !ok {
		return image.Config{}, errPreviewType
	}
	c, err := codec.config(io.LimitReader(r, lim.bytes))
	if err != nil {
		return image.Config{}, fmt.Errorf("%w: %v", errPreviewType, err)
	}
	return c, checkConfig(c, lim)
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
	if err := checkConfig(c, lim); err != nil {
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
