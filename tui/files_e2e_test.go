package tui

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"

	"veil/client"
)

// TestFileEndToEnd: a contact sends a PNG through a real relay; the TUI's
// engine downloads it by itself (under the auto-download limit), the
// chat shows its line with the image's size, and s saves the same bytes.
func TestFileEndToEnd(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	addr, _ := startRelay(t)
	cfg, p := testConfig(t)
	ben, err := client.Create(ctx, p.cfg(nil), []byte("correct horse"), client.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := ben.Setup(ctx, addr); err != nil {
		t.Fatal(err)
	}
	peer := &dirProfile{dir: filepath.Join(t.TempDir(), "ana")}
	ana, err := client.Create(ctx, peer.cfg(nil), []byte("peer pin"), client.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ana.Close() })
	if err := ana.Setup(ctx, addr); err != nil {
		t.Fatal(err)
	}
	k, anaChat, err := ana.Invite(ctx, client.InviteOptions{As: "ana"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ben.Join(ctx, k, client.JoinOptions{Name: "ana"}); err != nil {
		t.Fatal(err)
	}
	ben.Close()
	runCtx, stop := context.WithCancel(ctx)
	ran := make(chan struct{})
	go func() { defer close(ran); _ = ana.Run(runCtx) }()
	defer func() { stop(); <-ran }()

	// Ben's join goes out once his engine runs: in the TUI.
	out := t.TempDir()
	t.Chdir(out)
	tm := unlock(t, cfg, "correct horse")
	waitText(t, tm, "ana")

	src := filepath.Join(t.TempDir(), "holiday.png")
	data := encodePNG(t, testImage(50, 40))
	if err := os.WriteFile(src, data, 0o600); err != nil {
		t.Fatal(err)
	}
	var id string
	for deadline := time.Now().Add(waitMax); ; time.Sleep(20 * time.Millisecond) {
		if id, err = ana.SendFile(ctx, anaChat, src, client.SendFileOptions{}); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("send: %v", err)
		}
	}
	wctx, wcancel := context.WithTimeout(ctx, 2*waitMax)
	defer wcancel()
	if err := ana.WaitTransfer(wctx, anaChat, id); err != nil {
		t.Fatalf("upload: %v", err)
	}

	tm.Send(tea.KeyMsg{Type: tea.KeyDown, Alt: true})
	waitText(t, tm, "holiday.png", "ready · image", "50×40") // the line wraps
	tm.Send(tea.KeyMsg{Type: tea.KeyShiftUp})
	waitText(t, tm, "s save · d download")
	tm.Send(runeKey('s'))
	waitText(t, tm, "Save file", "./holiday.png")
	tm.Send(enter())
	waitText(t, tm, "saved")
	finalView(t, tm)
	got, err := os.ReadFile(filepath.Join(out, "holiday.png"))
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("saved %d bytes (%v), want the %d sent", len(got), err, len(data))
	}
}
