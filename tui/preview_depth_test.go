package tui

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"
)

// pngHeaderDepth is a PNG signature and an IHDR declaring w×h pixels of
// colour type ct at bit depth depth, interlaced or not, with no pixels.
func pngHeaderDepth(w, h uint32, depth, ct byte, interlaced bool) []byte {
	ihdr := binary.BigEndian.AppendUint32(nil, w)
	ihdr = binary.BigEndian.AppendUint32(ihdr, h)
	il := byte(0)
	if interlaced {
		il = 1
	}
	ihdr = append(ihdr, depth, ct, 0, 0, il)
	return append([]byte("\x89PNG\r\n\x1a\n"), pngChunk("IHDR", ihdr)...)
}

// jpegHeader is a JPEG's start of image, a JFIF segment (without which
// the decoder reads on for an Adobe one) and a frame header (SOF0, or
// SOF2 when progressive) declaring w×h pixels in three components, the
// first sampled hv (0x22: 4:2:0), with no scan.
func jpegHeader(w, h uint16, progressive bool, hv byte) []byte {
	sof := byte(0xc0)
	if progressive {
		sof = 0xc2
	}
	b := []byte{0xff, 0xd8, 0xff, 0xe0, 0, 16, 'J', 'F', 'I', 'F', 0, 1, 1, 0, 0, 1, 0, 1, 0, 0}
	b = append(b, 0xff, sof, 0, 17, 8)
	b = binary.BigEndian.AppendUint16(b, h)
	b = binary.BigEndian.AppendUint16(b, w)
	return append(b, 3, 1, hv, 0, 2, 0x11, 1, 3, 0x11, 1)
}

// TestDecodePreviewBoundsDecodedMemory: the pixel limit alone let a
// 310 KB 16-bit PNG of 8192×4880 (40 MP) make the decoder allocate over
// 600 MB; the memory a decode takes is bounded by the header's colour
// depth, interlacing and, for a JPEG, sampling and progressive coding,
// before a pixel is allocated.
func TestDecodePreviewBoundsDecodedMemory(t *testing.T) {
	lim := defaultPreviewLimits()
	for _, c := range []struct {
		name   string
		t      string
		data   []byte
		refuse bool
	}{
		{"16-bit RGBA 8192×4880", "image/png", pngHeaderDepth(8192, 4880, 16, 6, false), true},
		{"16-bit RGB 8192×4880", "image/png", pngHeaderDepth(8192, 4880, 16, 2, false), true},
		{"8-bit RGBA 8192×4880 interlaced", "image/png", pngHeaderDepth(8192, 4880, 8, 6, true), true},
		{"8-bit RGBA 8192×4880", "image/png", pngHeaderDepth(8192, 4880, 8, 6, false), false},
		{"16-bit RGBA 4000×3000", "image/png", pngHeaderDepth(4000, 3000, 16, 6, false), false},
		{"16-bit grey 8192×4880", "image/png", pngHeaderDepth(8192, 4880, 16, 0, false), false},
		{"progressive 4:4:4 JPEG 6000×4000", "image/jpeg", jpegHeader(6000, 4000, true, 0x11), true},
		{"progressive 4:2:0 JPEG 4032×3024", "image/jpeg", jpegHeader(4032, 3024, true, 0x22), false},
		{"baseline 4:4:4 JPEG 8000×5000", "image/jpeg", jpegHeader(8000, 5000, false, 0x11), false},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, derr := decodePreview(bytes.NewReader(c.data), c.t, lim)
			_, cerr := imageConfig(bytes.NewReader(c.data), c.t, lim)
			if c.refuse {
				if !errors.Is(derr, errPreviewSize) || !errors.Is(cerr, errPreviewSize) {
					t.Fatalf("decode: %v, config: %v; want both refused for their size", derr, cerr)
				}
				return
			}
			if errors.Is(derr, errPreviewSize) || cerr != nil {
				t.Fatalf("decode: %v, config: %v; want it within the limits", derr, cerr)
			}
		})
	}
}
