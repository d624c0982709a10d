package daemon

import (
	"bytes"
	"crypto/rand"
	"os"
	"path/filepath"
	"testing"
	"time"

	"veil/client"
	"veil/daemon/rpc"
	"veil/relay/relaytest"
)

// TestFileParamsHostile: the file methods refuse what a caller gets wrong
// before the engine sees it (relative paths, missing or unknown
// parameters), and name a missing chat by its kind.
func TestFileParamsHostile(t *testing.T) {
	s, _ := unlockedServer(t, Config{}, "")
	c := pipe(t, s)
	abs := filepath.Join(t.TempDir(), "f.txt")
	if err := os.WriteFile(abs, []byte("hello"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		method string
		params any
	}{
		{"send.file", map[string]any{"chat": "x", "path": "f.txt"}},
		{"send.file", map[string]any{"chat": "x", "path": "../f.txt"}},
		{"send.file", map[string]any{"path": abs}},
		{"send.file", map[string]any{"chat": "x"}},
		{"send.file", map[string]any{"chat": "x", "path": abs, "ttl": "soon"}},
		{"send.file", map[string]any{"chat": "x", "path": abs, "text": "no text with a file"}},
		{"files", map[string]any{}},
		{"file.fetch", map[string]any{"chat": "x"}},
		{"file.save", map[string]any{"chat": "x", "id": "y", "out": "out.txt"}},
		{"file.save", map[string]any{"chat": "x", "id": "y"}},
		{"file.save", map[string]any{"chat": "x", "out": "/nonexistent/out"}},
		{"file.cancel", map[string]any{"id": "y"}},
		{"files.auto", map[string]any{"size": -1}},
		{"files.auto", map[string]any{"size": "8MB"}},
	} {
		wantCode(t, do(t, c, tc.method, tc.params, nil), rpc.CodeInvalidParams, "bad_params")
	}
	out := filepath.Join(t.TempDir(), "out.txt")
	for _, tc := range []struct {
		method string
		params any
	}{
		{"send.file", map[string]any{"chat": "nobody", "path": abs}},
		{"files", map[string]any{"chat": "nobody"}},
		{"file.fetch", map[string]any{"chat": "nobody", "id": "y"}},
		{"file.save", map[string]any{"chat": "nobody", "id": "y", "out": out}},
		{"file.cancel", map[string]any{"chat": "nobody", "id": "y"}},
	} {
		wantCode(t, do(t, c, tc.method, tc.params, nil), rpc.CodeFailed, client.KindNoChat)
	}
	if _, err := os.Lstat(out); err == nil {
		t.Fatal("file.save of a missing chat wrote its output")
	}

	var sz SizeResult
	must(t, c, "files.auto", nil, &sz)
	if sz.Size != client.DefaultAutoDownload {
		t.Fatalf("auto-download limit %d, want the default %d", sz.Size, client.DefaultAutoDownload)
	}
	must(t, c, "files.auto", map[string]any{"size": 0}, &sz)
	if sz.Size != 0 {
		t.Fatalf("after setting 0: %d", sz.Size)
	}
}

// TestFileMethods sends a file through the API between two daemons over a
// real relay: the upload ends, the receiver downloads it by itself (under
// the auto limit), sees transfer events, saves it byte for byte, and the
// save refuses an existing path without force. A second file, above the
// limit, waits as offered until file.fetch.
func TestFileMethods(t *testing.T) {
	r := relaytest.Start(t)
	ana, ben := newPeer(t, r.Address.String()), newPeer(t, r.Address.String())
	anaChat, benChat, sub, _ := pairPeers(t, ana, ben)

	body := make([]byte, 100_000)
	rand.Read(body)
	src := filepath.Join(t.TempDir(), "notes.bin")
	if err := os.WriteFile(src, body, 0o600); err != nil {
		t.Fatal(err)
	}
	var sent IDResult
	must(t, ben.c, "send.file", map[string]any{"chat": benChat, "path": src, "wait": true}, &sent)
	var benFiles []client.FileInfo
	must(t, ben.c, "files", map[string]any{"chat": benChat}, &benFiles)
	if len(benFiles) != 1 || benFiles[0].ID != sent.ID || !benFiles[0].Outgoing || benFiles[0].State != client.FileSent || benFiles[0].Size != int64(len(body)) {
		t.Fatalf("ben's files after the upload: %+v", benFiles)
	}

	f := waitFileState(t, ana.c, anaChat, "", client.FileReady)
	if f.Name != "notes.bin" || f.Size != int64(len(body)) || f.Outgoing {
		t.Fatalf("ana's file: %+v", f)
	}
	sawTransfer := false
	for !sawTransfer {
		e := nextEvent(t, sub)
		sawTransfer = e.Event.Type == client.EventTransfer && e.Event.Chat == anaChat && e.Event.Message == f.ID
	}

	dir := t.TempDir()
	for _, m := range []string{"file.fetch", "file.cancel"} {
		wantCode(t, do(t, ana.c, m, map[string]any{"chat": anaChat, "id": "nope"}, nil), rpc.CodeFailed, client.KindNoMessage)
	}
	wantCode(t, do(t, ana.c, "file.save", map[string]any{"chat": anaChat, "id": "nope", "out": filepath.Join(dir, "x")}, nil), rpc.CodeFailed, client.KindNoMessage)
	out := filepath.Join(dir, "saved.bin")
	var sr SaveResult
	must(t, ana.c, "file.save", map[string]any{"chat": anaChat, "id": f.ID, "out": out}, &sr)
	if sr.Path != out || sr.Bytes != int64(len(body)) {
		t.Fatalf("file.save: %+v", sr)
	}
	if got, err := os.ReadFile(out); err != nil || !bytes.Equal(got, body) {
		t.Fatalf("saved copy differs (%v)", err)
	}
	if err := os.WriteFile(out, []byte("keep me"), 0o600); err != nil {
		t.Fatal(err)
	}
	wantCode(t, do(t, ana.c, "file.save", map[string]any{"chat": anaChat, "id": f.ID, "out": out}, nil), rpc.CodeFailed, KindExists)
	if got, _ := os.ReadFile(out); string(got) != "keep me" {
		t.Fatal("file.save without force replaced an existing file")
	}
	must(t, ana.c, "file.save", map[string]any{"chat": anaChat, "id": f.ID, "out": out, "force": true}, &sr)
	if got, err := os.ReadFile(out); err != nil || !bytes.Equal(got, body) {
		t.Fatalf("forced save differs (%v)", err)
	}
	// A directory gets the file's name inside it, and refuses it too.
	must(t, ana.c, "file.save", map[string]any{"chat": anaChat, "id": f.ID, "out": dir}, &sr)
	if sr.Path != filepath.Join(dir, "notes.bin") {
		t.Fatalf("saved into a directory as %q", sr.Path)
	}
	wantCode(t, do(t, ana.c, "file.save", map[string]any{"chat": anaChat, "id": f.ID, "out": dir}, nil), rpc.CodeFailed, KindExists)

	// Above the limit: offered, not saved, until fetched.
	must(t, ana.c, "files.auto", map[string]any{"size": 1000}, nil)
	must(t, ben.c, "send.file", map[string]any{"chat": benChat, "path": src, "type": "application/octet-stream", "wait": true}, &sent)
	g := waitFileState(t, ana.c, anaChat, f.ID, client.FileOffered)
	if g.Type != "application/octet-stream" {
		t.Fatalf("offered file: %+v", g)
	}
	wantCode(t, do(t, ana.c, "file.save", map[string]any{"chat": anaChat, "id": g.ID, "out": filepath.Join(dir, "second.bin")}, nil), rpc.CodeFailed, KindNotReady)
	must(t, ana.c, "file.fetch", map[string]any{"chat": anaChat, "id": g.ID}, nil)
	waitFileState(t, ana.c, anaChat, f.ID, client.FileReady)
	must(t, ana.c, "file.save", map[string]any{"chat": anaChat, "id": g.ID, "out": filepath.Join(dir, "second.bin")}, &sr)
	if sr.Bytes != int64(len(body)) {
		t.Fatalf("second save: %+v", sr)
	}
}

// waitFileState polls chat's files until one other than skip is in state,
// failing on a failed one or after waitLimit.
func waitFileState(tb testing.TB, c *Client, chat, skip, state string) client.FileInfo {
	tb.Helper()
	deadline := time.Now().Add(waitLimit)
	for {
		var fs []client.FileInfo
		must(tb, c, "files", map[string]any{"chat": chat}, &fs)
		for _, f := range fs {
			if f.ID == skip {
				continue
			}
			if f.State == state {
				return f
			}
			if f.State == client.FileFailed {
				tb.Fatalf("file failed: %+v", f)
			}
		}
		if time.Now().After(deadline) {
			tb.Fatalf("no file in state %s in time: %+v", state, fs)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
