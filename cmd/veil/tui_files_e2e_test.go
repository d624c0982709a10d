package main

import (
	"bytes"
	"image"
	"image/color"
	"image/png"
	"os"
	"path/filepath"
	"testing"
)

// TestTUIFileSendViewSave: in tmux, Ana sends a PNG with /file (its path
// completed with Tab); Ben's TUI downloads it by itself, shows its line
// with the picture's size, draws it through the sixel preview and comes
// back on Enter, and saves the same bytes with s.
func TestTUIFileSendViewSave(t *testing.T) {
	t.Parallel()
	relay := newTestRelay(t)
	dir, sock := tmuxDir(t)
	a := startTUI(t, sock, "ana", filepath.Join(dir, "a"))
	b := startTUIEnv(t, sock, "ben", filepath.Join(dir, "b"), "VEIL_SIXEL=1")
	a.firstRun("correct horse", relay.addr)
	b.firstRun("battery staple", relay.addr)
	inviteTUI(t, a, b)

	img := image.NewNRGBA(image.Rect(0, 0, 64, 48))
	for i := range img.Pix {
		img.Pix[i] = uint8(i)
	}
	img.SetNRGBA(0, 0, color.NRGBA{255, 0, 0, 255})
	var data bytes.Buffer
	if err := png.Encode(&data, img); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "holiday.png"), data.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}

	a.typ("/file " + filepath.Join(dir, "holi"))
	a.keys("Tab")
	a.waitFor("/file " + filepath.Join(dir, "holiday.png"))
	a.keys("Enter")
	a.waitFor("📎 holiday.png")

	b.waitFor("📎 holiday.png", "ready · image 64×48")
	b.keys("S-Up")
	b.waitFor("s save · d download")
	b.keys("v")
	b.waitFor("[enter: back to veil]", "image/png")
	b.keys("Enter")
	b.waitGoneText("[enter: back to veil]")
	b.waitFor("📎 holiday.png")

	b.keys("s")
	b.waitFor("Save file", "./holiday.png")
	b.keys("C-u")
	out := filepath.Join(dir, "saved.png")
	b.typ(out)
	b.keys("Enter")
	b.waitFor("saved 1")
	got, err := os.ReadFile(out)
	if err != nil || !bytes.Equal(got, data.Bytes()) {
		t.Fatalf("saved %d bytes (%v), want the %d sent", len(got), err, data.Len())
	}
}

// startTUIEnv is startTUI with more environment variables for veil.
func startTUIEnv(t *testing.T, sock, name, home string, env ...string) *tmuxPane {
	t.Helper()
	cmd := "env TERM=xterm-256color " + fastKDFEnv + "=1 VEIL_HOME= "
	for _, e := range env {
		cmd += e + " "
	}
	cmd += veilBin + " --home " + home
	if out, err := tmuxCmd(t, sock, "new-session", "-d", "-s", name, "-x", "100", "-y", "32", cmd); err != nil {
		t.Fatalf("tmux new-session: %v: %s", err, out)
	}
	return &tmuxPane{t: t, sock: sock, name: name}
}
