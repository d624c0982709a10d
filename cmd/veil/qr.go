package main

import (
	"strings"

	"veil/client"
)

// printQR draws text as a QR code with Unicode half blocks, two modules a
// character cell, in explicit black and white (ANSI colours) so that it
// scans on dark and light terminals alike, with the standard's 4-module
// quiet zone.
func printQR(io *stdio, text string) error {
	m, err := client.QR(text)
	if err != nil {
		return err
	}
	const quiet = 4
	n := len(m)
	dark := func(x, y int) bool {
		x, y = x-quiet, y-quiet
		return x >= 0 && y >= 0 && x < n && y < n && m[y][x]
	}
	var b strings.Builder
	for y := 0; y < n+2*quiet; y += 2 {
		for x := 0; x < n+2*quiet; x++ {
			fg, bg := "97", "107" // white
			if dark(x, y) {
				fg = "30"
			}
			if dark(x, y+1) {
				bg = "40"
			}
			b.WriteString("\x1b[" + fg + ";" + bg + "m\u2580")
		}
		b.WriteString("\x1b[0m\n")
	}
	_, err = io.out.Write([]byte(b.String()))
	return err
}
