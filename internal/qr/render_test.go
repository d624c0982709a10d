package qr

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestRender(t *testing.T) {
	m, err := Encode("veil")
	if err != nil {
		t.Fatal(err)
	}
	cols, rows := RenderSize(m)
	if cols != 21+2*Quiet || rows != (21+2*Quiet+1)/2 {
		t.Fatalf("RenderSize = %d×%d", cols, rows)
	}
	for _, colour := range []bool{true, false} {
		out := Render(m, colour)
		lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
		if len(lines) != rows {
			t.Fatalf("colour %v: %d lines, want %d", colour, len(lines), rows)
		}
		for i, l := range lines {
			if colour {
				if n := strings.Count(l, "\u2580"); n != cols || !strings.HasSuffix(l, "\x1b[0m") {
					t.Fatalf("line %d: %d half blocks, want %d, reset at the end", i, n, cols)
				}
				continue
			}
			if n := utf8.RuneCountInString(l); n != cols || strings.Contains(l, "\x1b") {
				t.Fatalf("line %d without colour: %d cells, want %d and no escapes", i, n, cols)
			}
		}
		if colour {
			// The quiet zone: the first line is light over light.
			if !strings.HasPrefix(lines[0], "\x1b[97;107m\u2580") {
				t.Fatalf("first cell %q", lines[0][:12])
			}
			// Rows 4 and 5 begin the top-left finder: dark over dark.
			if !strings.Contains(lines[2], "\x1b[30;40m\u2580") {
				t.Fatal("no dark cell where the finder pattern starts")
			}
		} else if !strings.HasPrefix(lines[0], "█") || strings.Count(lines[2], " ") == 0 {
			t.Fatal("without colour, light modules are blocks and dark ones blank")
		}
	}
}
