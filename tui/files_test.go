package tui

import (
	"bytes"
	"context"
	"image"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/x/exp/golden"
	"github.com/charmbracelet/x/exp/teatest"

	"veil/client"
)

// sampleFiles is a chat with a file in every state a line shows.
func sampleFiles() (client.ChatInfo, []client.MessageInfo) {
	c := client.ChatInfo{ID: "f11e5", Peer: "olive-wren", LastActive: fixedNow}
	at := fixedNow.Add(-10 * time.Minute)
	file := func(id string, out bool, name, typ, state string, size int64, done, total uint32, errText string) client.MessageInfo {
		m := client.MessageInfo{ID: id, Outgoing: out, Kind: "file", Text: name, Time: at,
			File: &client.FileInfo{ID: id, Chat: c.ID, Outgoing: out, Name: name, Type: typ, Size: size, State: state, Done: done, Total: total, Err: errText}}
		if !out {
			m.From = "olive-wren"
		}
		if out {
			m.Status = "sent"
		}
		return m
	}
	return c, []client.MessageInfo{
		file("1", true, "report.pdf", "application/pdf", client.FileUploading, 2_400_000, 60, 151, ""),
		file("2", true, "notes.txt", "text/plain", client.FileSent, 812, 1, 1, ""),
		file("3", false, "holiday.png", "image/png", client.FileReady, 1_234_567, 78, 78, ""),
		file("4", false, "big.iso", "application/octet-stream", client.FileOffered, 700_000_000, 0, 0, ""),
		file("5", false, "a\x1b]0;evil\x07\u202eb.gif", "image/gif", client.FileDownloading, 40_000, 1, 3, ""),
		file("6", false, "lost.zip", "application/zip", client.FileFailed, 5_000_000, 0, 313, "chunk 3 of 313 is missing"),
		file("7", false, "old.jpg", "image/jpeg", client.FileExpired, 90_000, 0, 0, ""),
	}
}

func TestGoldenFileLines(t *testing.T) {
	v := testView(76, 20)
	v.images = map[string]image.Point{"3": image.Pt(1024, 768)}
	v.set(sampleFiles())
	golden.RequireEqual(t, []byte(v.View()))
}

func TestGoldenProgressRows(t *testing.T) {
	rows := []string{}
	for _, w := range []int{60, 40} {
		for _, tr := range []transfer{
			{name: "report.pdf", up: true, size: 100_000_000, status: client.FileUploading, done: 2970, total: 6320, bytes: 47_000_000, rate: 61_200_000},
			{name: "holiday photos from the summer of 2026.zip", size: 5_000_000, status: client.FileDownloading, done: 1, total: 313, bytes: 16_000, rate: 2_000},
			{name: "scan.png", up: true, status: client.FilePreparing},
			{name: "stalled.bin", size: 10_000_000, status: client.FileDownloading, done: 313, total: 626},
		} {
			rows = append(rows, progressRow(tr, w))
		}
	}
	out := strings.Join(rows, "\n") + "\n"
	for _, l := range rows[4:] {
		if n := len([]rune(l)); n > 40 {
			t.Errorf("row of %d cells at width 40: %q", n, l)
		}
	}
	golden.RequireEqual(t, []byte(out))
}

func TestFileLineNamesSanitised(t *testing.T) {
	c, msgs := sampleFiles()
	v := testView(76, 20)
	v.set(c, msgs)
	s := v.View()
	for _, bad := range []string{"\x1b", "\x07", "\u202e"} {
		if strings.Contains(s, bad) {
			t.Fatalf("%q drawn: %q", bad, s)
		}
	}
	if d := describeFile(msgs[4].File, image.Point{}); strings.ContainsAny(d, "\x1b\x07\u202e") {
		t.Fatalf("description %q", d)
	}
	for _, name := range []string{"../../etc/passwd", ".bashrc", "-rf", "..", "/", ""} {
		if n := saveName(&client.FileInfo{Name: name}); strings.Contains(n, "/") || strings.HasPrefix(n, ".") || strings.HasPrefix(n, "-") || n == "" {
			t.Errorf("save name of %q is %q", name, n)
		}
	}
}

func TestFileSizeAndAutoLabels(t *testing.T) {
	for n, want := range map[int64]string{0: "0 B", 999: "999 B", 1000: "1.0 kB", 2_400_000: "2.4 MB", 1_500_000_000: "1.50 GB"} {
		if got := fileSize(n); got != want {
			t.Errorf("fileSize(%d) = %q, want %q", n, got, want)
		}
	}
	for _, n := range autoDownloadChoices() {
		if got := autoDownloadLimit(autoDownloadLabel(n)); got != n {
			t.Errorf("limit %d → %q → %d", n, autoDownloadLabel(n), got)
		}
	}
}

// fakeFiles is the engine's file API in memory: it records what was asked.
type fakeFiles struct {
	mu    sync.Mutex
	calls []string
	image []byte
}

func (f *fakeFiles) record(s string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, s)
}

func (f *fakeFiles) called() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string{}, f.calls...)
}

func (f *fakeFiles) SendFile(_ context.Context, chat, path string, _ client.SendFileOptions) (string, error) {
	f.record("send " + path)
	return "m1", nil
}
func (f *fakeFiles) FetchFile(_ context.Context, chat, msg string) error {
	f.record("fetch " + msg)
	return nil
}
func (f *fakeFiles) SaveFile(_ context.Context, chat, msg, out string, force bool) (string, int64, error) {
	if force {
		f.record("save " + msg + " " + out + " force")
	} else {
		f.record("save " + msg + " " + out)
	}
	return out, 1234, nil
}
func (f *fakeFiles) OpenFile(chat, msg string) (io.ReadCloser, int64, error) {
	f.record("open " + msg)
	return io.NopCloser(bytes.NewReader(f.image)), int64(len(f.image)), nil
}
func (f *fakeFiles) CancelFile(chat, msg string) error {
	f.record("cancel " + msg)
	return nil
}
func (f *fakeFiles) AutoDownloadLimit() int64         { return client.DefaultAutoDownload }
func (f *fakeFiles) SetAutoDownloadLimit(int64) error { return nil }

// waitCall waits until the fake was asked want.
func waitCall(t *testing.T, f *fakeFiles, want string) {
	t.Helper()
	deadline := time.Now().Add(waitMax)
	for time.Now().Before(deadline) {
		for _, c := range f.called() {
			if c == want {
				return
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("never called %q; calls: %q", want, f.called())
}

// startFiles unlocks a profile holding the chat "desk" in a TUI whose
// file API is fake, opens desk and shows msgs in it as if loaded.
func startFiles(t *testing.T, fake *fakeFiles, getenv func(string) string) (*teatest.TestModel, string) {
	t.Helper()
	cfg, p := testConfig(t)
	cfg.Getenv = getenv
	profileWithChats(t, p, false)
	e := openEngine(t, p)
	chats, err := e.Chats(context.Background())
	if err != nil || len(chats) != 1 {
		t.Fatal(chats, err)
	}
	id := chats[0].ID
	e.Close()
	app := New(cfg)
	app.fileFake = fake
	tm := teatest.NewTestModel(t, app, teatest.WithInitialTermSize(100, 30))
	t.Cleanup(app.Close)
	waitText(t, tm, "Enter your PIN")
	typeLine(tm, "correct horse")
	waitText(t, tm, "desk")
	tm.Send(selectChatMsg{id})
	waitText(t, tm, "desk invite pending")
	return tm, id
}

// TestFileCommandCompletesAndSends: tab completes the path of /file, and
// enter sends the file at its absolute path.
func TestFileCommandCompletesAndSends(t *testing.T) {
	d := pathTree(t)
	t.Chdir(d)
	fake := &fakeFiles{}
	tm, _ := startFiles(t, fake, nil)
	tm.Type("/file ph")
	tm.Send(tea.KeyMsg{Type: tea.KeyTab})
	waitText(t, tm, "/file photo.png")
	tm.Send(enter())
	waitCall(t, fake, "send "+filepath.Join(d, "photo.png"))
	waitText(t, tm, "file queued")
	tm.Type("/file do")
	tm.Send(tea.KeyMsg{Type: tea.KeyTab})
	waitText(t, tm, "docs/  données/")
	finalView(t, tm)
}

// TestFileKeys: on a selected file line d downloads, x cancels, v
// describes what it cannot draw, and s saves to ./NAME, asking before it
// replaces a file that exists.
func TestFileKeys(t *testing.T) {
	d := t.TempDir()
	t.Chdir(d)
	if err := os.WriteFile(filepath.Join(d, "holiday.png"), []byte("mine"), 0o600); err != nil {
		t.Fatal(err)
	}
	fake := &fakeFiles{}
	tm, id := startFiles(t, fake, func(string) string { return "" })
	c, msgs := sampleFiles()
	c.ID = id
	offered, ready, loading := msgs[3], msgs[2], msgs[4] // big.iso, holiday.png, ab.gif
	for _, m := range []*client.MessageInfo{&offered, &ready, &loading} {
		m.File.Chat = id
	}
	tm.Send(messagesMsg{seq: fakeLoad, chat: id, msgs: []client.MessageInfo{ready, offered, loading}})
	waitText(t, tm, "big.iso", "ab.gif")
	tm.Send(tea.KeyMsg{Type: tea.KeyShiftUp}) // selects the newest: ab.gif
	waitText(t, tm, "s save · d download")
	tm.Send(runeKey('x'))
	waitCall(t, fake, "cancel 5")
	tm.Send(tea.KeyMsg{Type: tea.KeyUp}) // big.iso
	tm.Send(runeKey('x'))
	waitText(t, tm, "no transfer of this file is running")
	tm.Send(runeKey('d'))
	waitCall(t, fake, "fetch 4")
	tm.Send(tea.KeyMsg{Type: tea.KeyUp}) // holiday.png
	tm.Send(runeKey('v'))
	waitText(t, tm, "this terminal shows no images")
	tm.Send(runeKey('s'))
	waitText(t, tm, "Save file", "./holiday.png")
	tm.Send(enter())
	waitText(t, tm, "exists: enter replaces it")
	tm.Send(enter())
	waitCall(t, fake, "save 3 "+filepath.Join(d, "holiday.png")+" force")
	waitText(t, tm, "saved 1.2 kB to")
	for _, c := range fake.called() {
		if c == "save 3 "+filepath.Join(d, "holiday.png") {
			t.Fatal("saved over an existing file without asking")
		}
	}
	finalView(t, tm)
}

// TestProgressRowsFollowTransferEvents: a transfer event of the open chat
// adds a row above the compose box, progress updates it, and the end of
// the transfer removes it; other chats' transfers show no row.
func TestProgressRowsFollowTransferEvents(t *testing.T) {
	cfg, _ := testConfig(t)
	a := New(cfg)
	a.screen = scrMain
	a.onResize(tea.WindowSizeMsg{Width: 100, Height: 30})
	c, msgs := sampleFiles()
	a.view.chat = c
	a.view.set(c, msgs[:1]) // report.pdf, ours
	ev := client.Event{Type: client.EventTransfer, Chat: c.ID, Message: "1", Status: client.FileUploading,
		Done: 10, Total: 151, Bytes: 150_000, Rate: 1_000_000}
	if !a.onTransfer(ev) {
		t.Fatal("a new transfer is no change")
	}
	ev.Done = 75
	if a.onTransfer(ev) {
		t.Fatal("progress alone counted as a state change")
	}
	rows := a.progressRows()
	if len(rows) != 1 || !strings.Contains(rows[0], "↑ report.pdf") || !strings.Contains(rows[0], "49%") {
		t.Fatalf("rows %q", rows)
	}
	v := a.View()
	if lines := strings.Split(v, "\n"); len(lines) != 30 {
		t.Fatalf("%d lines with a progress row", len(lines))
	}
	if i, j := strings.Index(v, "↑ report.pdf  ["), strings.Index(v, "message, or /help"); i < 0 || j < i {
		t.Fatalf("the row is not above the compose box:\n%s", v)
	}
	a.onTransfer(client.Event{Type: client.EventTransfer, Chat: "other", Message: "9", Status: client.FileDownloading})
	if len(a.progressRows()) != 1 {
		t.Fatal("another chat's transfer shows a row")
	}
	ev.Status = client.FileSent
	if !a.onTransfer(ev) || len(a.progressRows()) != 0 {
		t.Fatalf("the finished transfer still shows: %q", a.progressRows())
	}
	if lines := strings.Split(a.View(), "\n"); len(lines) != 30 {
		t.Fatalf("%d lines without a progress row", len(lines))
	}
}

// TestPreviewGoesThroughExec: with a graphics terminal, v on a ready image
// decodes it through the fake engine and hands our encoding to tea.Exec.
func TestPreviewGoesThroughExec(t *testing.T) {
	cfg, _ := testConfig(t)
	cfg.Getenv = func(k string) string {
		if k == "TERM" {
			return "xterm-kitty"
		}
		return ""
	}
	a := New(cfg)
	a.screen = scrMain
	a.onResize(tea.WindowSizeMsg{Width: 100, Height: 30})
	fake := &fakeFiles{image: withText(encodePNG(t, testImage(50, 40)))}
	a.fileFake = fake
	c, msgs := sampleFiles()
	a.view.chat = c
	a.view.set(c, msgs)
	cmd := a.viewFile(msgs[2]) // holiday.png, ready
	if cmd == nil {
		t.Fatalf("no preview: %s", a.notice)
	}
	pm, ok := cmd().(previewMsg)
	if !ok || pm.err != nil || !pm.kitty {
		t.Fatalf("%#v", pm)
	}
	if bytes.Contains(pm.out, fake.image) || bytes.Contains(pm.out, []byte(hostile)) {
		t.Fatal("the sender's bytes are in the preview")
	}
	checkKitty(t, pm.out)
	if a.onPreview(pm) == nil {
		t.Fatal("no exec")
	}
	// A non-image is never previewed, whatever its bytes.
	if a.viewFile(msgs[0]) != nil || !strings.Contains(a.notice, "not an image") {
		t.Fatalf("a PDF: %q", a.notice)
	}
	// An image whose bytes are no image says so.
	fake.image = []byte("%PDF-1.7")
	if pm := a.viewFile(msgs[2])().(previewMsg); pm.err == nil {
		t.Fatal("a PDF called image/png was previewed")
	}
}

// TestSaveIntoDirectory: a directory as the target saves NAME in it (the
// engine joins it: it is given the directory as typed, so a NAME that is
// also a directory there is not joined twice), and asks before replacing
// a NAME there; the directory itself is never the thing confirmed.
func TestSaveIntoDirectory(t *testing.T) {
	d := t.TempDir()
	fake := &fakeFiles{}
	run := func(typed string, force bool) tea.Msg { return saveCmd(fake, "c", "3", "holiday.png", typed, force)() }
	if m, ok := run(d, false).(saveDoneMsg); !ok || m.done.err != nil {
		t.Fatalf("%#v", m)
	}
	waitCall(t, fake, "save 3 "+d)
	if err := os.WriteFile(filepath.Join(d, "holiday.png"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	m, ok := run(d+"/", false).(saveCheckMsg)
	if !ok || m.path != filepath.Join(d, "holiday.png") {
		t.Fatalf("%#v", m)
	}
	run(d+"/", true)
	waitCall(t, fake, "save 3 "+d+" force")
}

func TestHelpListsFileKeys(t *testing.T) {
	cfg, _ := testConfig(t)
	h := New(cfg).helpText()
	for _, want := range []string{"/file PATH", "s save", "d download", "v view", "x cancel"} {
		if !strings.Contains(h, want) {
			t.Errorf("help lacks %q", want)
		}
	}
}

// TestSaveDialogCompletesAndConfirms: tab completes the path in the save
// dialog; an existing path needs a second enter, and editing it asks
// again.
func TestSaveDialogCompletesAndConfirms(t *testing.T) {
	d := pathTree(t)
	var asked []string
	dlg := newSaveDialog(newStyles(), defaultKeys(), "x.png", func(typed string, force bool) tea.Cmd {
		asked = append(asked, typed+" "+map[bool]string{true: "force", false: "ask"}[force])
		return nil
	})
	dlg.SetSize(70, 20)
	if !strings.Contains(dlg.View(), "./x.png") {
		t.Fatalf("default: %s", dlg.View())
	}
	dlg.in.SetValue(d + "/do")
	_, cmd := dlg.Update(tea.KeyMsg{Type: tea.KeyTab})
	dlg.completed(cmd().(pathDoneMsg))
	if dlg.in.Value() != d+"/do" || !strings.Contains(dlg.View(), "docs/  données/") {
		t.Fatalf("completion: %q\n%s", dlg.in.Value(), dlg.View())
	}
	dlg.in.SetValue(d + "/ph")
	_, cmd = dlg.Update(tea.KeyMsg{Type: tea.KeyTab})
	dlg.completed(cmd().(pathDoneMsg))
	target := d + "/photo.png"
	if dlg.in.Value() != target {
		t.Fatalf("completion: %q", dlg.in.Value())
	}
	dlg.Update(enter())
	dlg.Update(saveCheckMsg{typed: target, path: target})
	if !strings.Contains(dlg.View(), "exists: enter replaces it") {
		t.Fatalf("no question:\n%s", dlg.View())
	}
	dlg.Update(enter())
	want := []string{target + " ask", target + " force"}
	if strings.Join(asked, "|") != strings.Join(want, "|") {
		t.Fatalf("asked %q, want %q", asked, want)
	}
	// Typing changes the path: the next enter asks again.
	dlg.busy = false
	dlg.Update(saveCheckMsg{typed: target, path: target})
	dlg.Update(runeKey('x'))
	dlg.Update(enter())
	if last := asked[len(asked)-1]; !strings.HasSuffix(last, " ask") {
		t.Fatalf("an edited path was forced: %q", last)
	}
}

// TestSaveOwnFile: our own file is saveable once its upload has begun;
// one still being prepared says so, never "d downloads it".
func TestSaveOwnFile(t *testing.T) {
	d := t.TempDir()
	t.Chdir(d)
	fake := &fakeFiles{}
	tm, id := startFiles(t, fake, func(string) string { return "" })
	_, msgs := sampleFiles()
	up, prep := msgs[0], msgs[1] // report.pdf uploading, notes.txt
	prep.File = &client.FileInfo{ID: "2", Chat: id, Outgoing: true, Name: "notes.txt", State: client.FilePreparing}
	up.File.Chat = id
	tm.Send(messagesMsg{seq: fakeLoad, chat: id, msgs: []client.MessageInfo{up, prep}})
	waitText(t, tm, "report.pdf", "notes.txt")
	tm.Send(tea.KeyMsg{Type: tea.KeyShiftUp}) // notes.txt, preparing
	tm.Send(runeKey('s'))
	waitText(t, tm, "still being prepared")
	tm.Send(tea.KeyMsg{Type: tea.KeyUp}) // report.pdf, uploading
	tm.Send(runeKey('s'))
	waitText(t, tm, "Save file", "./report.pdf")
	tm.Send(enter())
	waitCall(t, fake, "save 1 "+filepath.Join(d, "report.pdf"))
	finalView(t, tm)
}
