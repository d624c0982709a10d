package client

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"

	"veil/relay/relaytest"
	"veil/vault"
)

// diskHook makes cfg's vault report free bytes of a 10 GiB filesystem
// (reserve 1 GB); after, when set, replaces free once it was asked.
type diskHook struct {
	free, after atomic.Int64
}

const testDiskTotal = 10 << 30

func (h *diskHook) config(c *Config) {
	c.Vault.FreeSpace = func(string) (int64, int64, error) {
		f := h.free.Load()
		if a := h.after.Swap(0); a != 0 {
			h.free.Store(a)
		}
		return f, testDiskTotal, nil
	}
}

// pausedWarnings counts the warnings that auto-download paused in chat.
func pausedWarnings(l *live, chat string) int {
	n := 0
	for _, ev := range l.events() {
		if ev.Type == EventWarning && ev.Chat == chat && strings.HasPrefix(ev.Err, "auto-download paused: less than 1.00 GB would be left on the disk") {
			n++
		}
	}
	return n
}

// noTransfers fails t if e holds a transfer record.
func noTransfers(t *testing.T, e *Engine) {
	t.Helper()
	ts, err := e.v.Transfers()
	if err != nil || len(ts) != 0 {
		t.Fatalf("transfers %+v, %v: want none", ts, err)
	}
}

// TestFileDiskReserve: with less than the reserve left on the disk,
// received files stay offered and the user is told once; a download by
// hand that does not fit fails at once; with room again, files download
// by hand and on their own as before.
func TestFileDiskReserve(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r := relaytest.Start(t)
	var h diskHook
	h.free.Store(32 << 20)
	a := startLive(t, r.Address.String(), nil)
	b := startLive(t, r.Address.String(), h.config)
	aChat, bChat := liveChat(t, a, b, InviteOptions{}, JoinOptions{})

	path1, sum1 := writeTestFile(t, t.TempDir(), "one.bin", 2_000_000)
	path2, _ := writeTestFile(t, t.TempDir(), "two.bin", 1_000_000)
	for _, p := range []string{path1, path2} {
		if _, err := a.SendFile(ctx, aChat, p, SendFileOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	id1 := b.incomingFile(t, bChat, "one.bin")
	id2 := b.incomingFile(t, bChat, "two.bin")
	for _, id := range []string{id1, id2} {
		if fi := fileState(t, b.Engine, bChat, id); fi.State != FileOffered {
			t.Fatalf("with 32 MiB free: %+v, want offered", fi)
		}
	}
	noTransfers(t, b.Engine)
	if n := pausedWarnings(b, bChat); n != 1 {
		t.Fatalf("%d warnings that auto-download paused, want 1; events %+v", n, b.events())
	}

	err := b.FetchFile(ctx, bChat, id1)
	if err == nil || !strings.Contains(err.Error(), "not enough free space on the disk for this file: it needs 2.0 MB, 33.6 MB are free") {
		t.Fatalf("FetchFile with 32 MiB free: %v", err)
	}
	if fi := fileState(t, b.Engine, bChat, id1); fi.State != FileOffered {
		t.Fatalf("after the refused fetch: %+v", fi)
	}
	noTransfers(t, b.Engine)

	h.free.Store(8 << 30)
	if err := b.FetchFile(ctx, bChat, id1); err != nil {
		t.Fatal(err)
	}
	b.waitState(t, id1, FileReady)
	if fileSum(t, b.Engine, bChat, id1) != sum1 {
		t.Fatal("the file fetched by hand differs")
	}
	path3, sum3 := writeTestFile(t, t.TempDir(), "three.bin", 1_500_000)
	if _, err := a.SendFile(ctx, aChat, path3, SendFileOptions{}); err != nil {
		t.Fatal(err)
	}
	id3 := b.incomingFile(t, bChat, "three.bin")
	b.waitState(t, id3, FileReady)
	if fileSum(t, b.Engine, bChat, id3) != sum3 {
		t.Fatal("the auto-downloaded file differs")
	}

	// The disk fills between the file's arrival and its download: the
	// download does not start, the file goes back to offered, and the
	// user is told again (a file fitted since the last warning).
	h.after.Store(32 << 20)
	path4, _ := writeTestFile(t, t.TempDir(), "four.bin", 1_000_000)
	if _, err := a.SendFile(ctx, aChat, path4, SendFileOptions{}); err != nil {
		t.Fatal(err)
	}
	id4 := b.incomingFile(t, bChat, "four.bin")
	b.waitState(t, id4, FileOffered)
	b.waitFor(t, "a second warning", func(Event) bool { return pausedWarnings(b, bChat) == 2 })
	if fi := fileState(t, b.Engine, bChat, id4); fi.State != FileOffered {
		t.Fatalf("after the paused download: %+v", fi)
	}
	noTransfers(t, b.Engine)
	err = b.v.View(ctx, func(tx *vault.Tx) error {
		_, err := tx.GetFile(bChat, id4)
		return err
	})
	if !errors.Is(err, vault.ErrNotFound) {
		t.Fatalf("the paused download's blob record: %v, want none", err)
	}
	// The same file fits again later: it downloads by hand.
	h.free.Store(8 << 30)
	if err := b.FetchFile(ctx, bChat, id4); err != nil {
		t.Fatal(err)
	}
	b.waitState(t, id4, FileReady)

	// A download asked for while there was room, that no longer fits
	// when it runs, fails with the reason before writing.
	if err := b.SetAutoDownloadLimit(0); err != nil {
		t.Fatal(err)
	}
	path5, _ := writeTestFile(t, t.TempDir(), "five.bin", 1_000_000)
	if _, err := a.SendFile(ctx, aChat, path5, SendFileOptions{}); err != nil {
		t.Fatal(err)
	}
	id5 := b.incomingFile(t, bChat, "five.bin")
	h.after.Store(32 << 20)
	if err := b.FetchFile(ctx, bChat, id5); err != nil {
		t.Fatal(err)
	}
	b.waitState(t, id5, FileFailed)
	if fi := fileState(t, b.Engine, bChat, id5); fi.State != FileFailed || !strings.Contains(fi.Err, "not enough free space on the disk for this file") {
		t.Fatalf("the download that no longer fitted: %+v", fi)
	}
}

// TestFileDiskReserveGroup: in a group too, files stay offered with
// less than the reserve left, the member is told once, and a download
// by hand that does not fit fails at once.
func TestFileDiskReserveGroup(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r := relaytest.Start(t)
	var h diskHook
	h.free.Store(32 << 20)
	ana, _ := groupEngine(t, r.Address.String())
	ben, benEvs := groupEngine(t, r.Address.String(), h.config)
	gid, err := ana.GroupCreate(ctx, GroupOptions{Name: "river", As: "ana"})
	if err != nil {
		t.Fatal(err)
	}
	key, err := ana.GroupInvite(ctx, gid, 0)
	if err != nil {
		t.Fatal(err)
	}
	benChat, err := ben.Join(ctx, key, JoinOptions{As: "ben"})
	if err != nil {
		t.Fatal(err)
	}
	groupSync(t, ana, ben)
	groupSync(t, ana, ben)
	for _, name := range []string{"a.bin", "b.bin"} {
		path, _ := writeTestFile(t, t.TempDir(), name, 1_000_000)
		id, err := ana.SendFile(ctx, gid, path, SendFileOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if err := ana.WaitTransfer(ctx, gid, id); err != nil {
			t.Fatal(err)
		}
	}
	pendingEvents(benEvs)
	groupSync(t, ben)
	warned := 0
	for _, ev := range pendingEvents(benEvs) {
		if ev.Type == EventWarning && ev.Chat == benChat && strings.HasPrefix(ev.Err, "auto-download paused: less than 1.00 GB would be left on the disk") {
			warned++
		}
	}
	if warned != 1 {
		t.Fatalf("%d warnings that auto-download paused, want 1", warned)
	}
	noTransfers(t, ben)
	for _, name := range []string{"a.bin", "b.bin"} {
		id := receivedFileID(t, ben, benChat, name)
		if fi := fileState(t, ben, benChat, id); fi.State != FileOffered {
			t.Fatalf("with 32 MiB free: %+v, want offered", fi)
		}
		if err := ben.FetchFile(ctx, benChat, id); err == nil || !strings.Contains(err.Error(), "not enough free space on the disk") {
			t.Fatalf("FetchFile with 32 MiB free: %v", err)
		}
	}
	h.free.Store(8 << 30)
	id := receivedFileID(t, ben, benChat, "a.bin")
	if err := ben.FetchFile(ctx, benChat, id); err != nil {
		t.Fatal(err)
	}
	if err := ben.WaitTransfer(ctx, benChat, id); err != nil {
		t.Fatal(err)
	}
}
