package tui

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"image"
	"image/png"
)

// kitty's graphics protocol: an APC "G" command carrying a PNG in base64,
// split into pieces of at most kittyPiece bytes (the protocol's limit).
const (
	kittyPiece = 4096
	// kittyID names our image so that kittyDelete removes it and nothing
	// else the terminal shows.
	kittyID = 7411
)

// kittyImage returns the commands that draw img at the cursor: a PNG we
// encode from img, so none of the sender's bytes is in them. q=2 keeps the
// terminal from answering on our input.
func kittyImage(img *image.RGBA) ([]byte, error) {
	var p bytes.Buffer
	if err := png.Encode(&p, img); err != nil {
		return nil, fmt.Errorf("tui: encoding the preview: %w", err)
	}
	enc := base64.StdEncoding.EncodeToString(p.Bytes())
	var b bytes.Buffer
	for first := true; first || enc != ""; first = false {
		n := min(len(enc), kittyPiece)
		more := 0
		if n < len(enc) {
			more = 1
		}
		if first {
			fmt.Fprintf(&b, "\x1b_Ga=T,f=100,t=d,i=%d,q=2,m=%d;", kittyID, more)
		} else {
			fmt.Fprintf(&b, "\x1b_Gm=%d;", more)
		}
		b.WriteString(enc[:n])
		b.WriteString("\x1b\\")
		enc = enc[n:]
	}
	return b.Bytes(), nil
}

// kittyDelete removes the image kittyImage drew, and frees its data.
func kittyDelete() []byte { return fmt.Appendf(nil, "\x1b_Ga=d,d=I,i=%d,q=2\x1b\\", kittyID) }
