package main

import "veil/internal/qr"

// printQR draws text as a QR code in explicit black and white (qr.Render),
// so that it scans on dark and light terminals alike.
func printQR(io *stdio, text string) error {
	m, err := qr.Encode(text)
	if err != nil {
		return err
	}
	_, err = io.out.Write([]byte(qr.Render(m, true)))
	return err
}
