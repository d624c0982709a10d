package qr

import "strings"

// Quiet is the light margin, in modules, that the standard requires
// around a symbol (ISO/IEC 18004 §6.3.8).
const Quiet = 4

// RenderSize returns the size in character cells of Render's drawing of
// m: one column per module and one row per two modules, quiet zone
// included.
func RenderSize(m [][]bool) (cols, rows int) {
	n := len(m) + 2*Quiet
	return n, (n + 1) / 2
}

// Render draws the symbol m, as Encode returns it, with Unicode half blocks:
// two modules a character cell, the quiet zone included, each line ending
// in a newline. With colour it draws dark on light in explicit ANSI black
// and bright white, so that it scans on dark and light terminals alike.
// Without colour (NO_COLOR) it draws the light modules as blocks and
// leaves the dark ones blank: the symbol is inverted, which scans on a
// dark terminal (most readers accept inversion).
func Render(m [][]bool, colour bool) string {
	n := len(m)
	dark := func(x, y int) bool {
		x, y = x-Quiet, y-Quiet
		return x >= 0 && y >= 0 && x < n && y < n && m[y][x]
	}
	var b strings.Builder
	for y := 0; y < n+2*Quiet; y += 2 {
		for x := 0; x < n+2*Quiet; x++ {
			top, bot := dark(x, y), dark(x, y+1)
			if !colour {
				switch {
				case !top && !bot:
					b.WriteString("█")
				case !top:
					b.WriteString("▀")
				case !bot:
					b.WriteString("▄")
				default:
					b.WriteString(" ")
				}
				continue
			}
			fg, bg := "97", "107" // bright white
			if top {
				fg = "30"
			}
			if bot {
				bg = "40"
			}
			b.WriteString("\x1b[" + fg + ";" + bg + "m\u2580")
		}
		if colour {
			b.WriteString("\x1b[0m")
		}
		b.WriteString("\n")
	}
	return b.String()
}
