package tui

import (
	"bytes"
	"image"
	"strconv"
)

// DEC sixel graphics with a fixed palette of 256 colours: a 6×6×6 cube
// (indexes 0–215) and 40 greys (216–255). The image goes out in bands of
// six rows; in each band every colour present is one run of sixel
// characters, run-length coded. Only our palette and our bands reach the
// terminal.

const (
	sixelCube  = 216
	sixelGreys = 40
)

// sixelPalette returns colour i of the palette as 8-bit r, g, b.
func sixelPalette(i int) (r, g, b uint8) {
	if i < sixelCube {
		return uint8(i / 36 * 51), uint8(i / 6 % 6 * 51), uint8(i % 6 * 51)
	}
	v := uint8((i - sixelCube) * 255 / (sixelGreys - 1))
	return v, v, v
}

// sixelIndex is the palette colour nearest to r, g, b: a grey when the
// three are close, else the cube's.
func sixelIndex(r, g, b uint8) uint8 {
	hi, lo := max(r, g, b), min(r, g, b)
	if hi-lo < 16 {
		avg := (int(r) + int(g) + int(b)) / 3
		return uint8(sixelCube + (avg*(sixelGreys-1)+127)/255)
	}
	q := func(v uint8) int { return (int(v) + 25) / 51 }
	return uint8(q(r)*36 + q(g)*6 + q(b))
}

// sixelImage encodes img (premultiplied: transparent parts show black).
func sixelImage(img *image.RGBA) []byte {
	bd := img.Bounds()
	w, h := bd.Dx(), bd.Dy()
	var out bytes.Buffer
	out.WriteString("\x1bPq")
	out.WriteString("\"1;1;" + strconv.Itoa(w) + ";" + strconv.Itoa(h))
	idx := make([]uint8, w*h)
	used := [256]bool{}
	for y := range h {
		for x := range w {
			p := img.PixOffset(bd.Min.X+x, bd.Min.Y+y)
			c := sixelIndex(img.Pix[p], img.Pix[p+1], img.Pix[p+2])
			idx[y*w+x] = c
			used[c] = true
		}
	}
	for i := range 256 {
		if used[i] {
			r, g, b := sixelPalette(i)
			out.WriteString("#" + strconv.Itoa(i) + ";2;" + strconv.Itoa(int(r)*100/255) + ";" +
				strconv.Itoa(int(g)*100/255) + ";" + strconv.Itoa(int(b)*100/255))
		}
	}
	bits := make([][]byte, 256) // per colour: the band's sixel of each column
	for y0 := 0; y0 < h; y0 += 6 {
		var present []int
		var inBand [256]bool
		for y := y0; y < min(y0+6, h); y++ {
			for x := range w {
				c := idx[y*w+x]
				if !inBand[c] {
					inBand[c] = true
					present = append(present, int(c))
					if bits[c] == nil {
						bits[c] = make([]byte, w)
					}
				}
				bits[c][x] |= 1 << (y - y0)
			}
		}
		for n, c := range present {
			if n > 0 {
				out.WriteByte('$') // back to the band's start
			}
			out.WriteString("#" + strconv.Itoa(c))
			writeSixelRun(&out, bits[c])
			clear(bits[c])
		}
		out.WriteByte('-') // next band
	}
	out.WriteString("\x1b\\")
	return out.Bytes()
}

// writeSixelRun writes one colour's row of sixels, repeats as "!n".
func writeSixelRun(out *bytes.Buffer, row []byte) {
	for i := 0; i < len(row); {
		j := i
		for j < len(row) && row[j] == row[i] {
			j++
		}
		ch := byte('?' + row[i])
		if n := j - i; n > 3 {
			out.WriteString("!" + strconv.Itoa(n))
			out.WriteByte(ch)
		} else {
			for range n {
				out.WriteByte(ch)
			}
		}
		i = j
	}
}
