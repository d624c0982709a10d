package client

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"veil/client/internal/format"
	"veil/crypto"
	"veil/relay"
	"veil/relay/conn"
	"veil/relay/relaytest"
	"veil/relay/store"
	"veil/relay/wire"
	"veil/vault"
)

// writeTestFile writes size pseudo-random bytes to dir/name and returns
// the path and the bytes' SHA-256.
func writeTestFile(t testing.TB, dir, name string, size int) (string, [32]byte) {
	t.Helper()
	b := make([]byte, size)
	r := rand.NewChaCha8([32]byte{byte(size), 'f'})
	r.Read(b)
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p, sha256.Sum256(b)
}

// fileSum reads a ready file through OpenFile and returns its SHA-256.
func fileSum(t testing.TB, e *Engine, chat, id string) [32]byte {
	t.Helper()
	r, n, err := e.OpenFile(chat, id)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	h := sha256.New()
	k, err := io.Copy(h, r)
	if err != nil || k != n {
		t.Fatalf("read %d of %d bytes: %v", k, n, err)
	}
	var s [32]byte
	copy(s[:], h.Sum(nil))
	return s
}

// fileState returns the state of a file message, "" when there is none.
func fileState(t testing.TB, e *Engine, chat, id string) FileInfo {
	t.Helper()
	fs, err := e.Files(chat)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fs {
		if f.ID == id {
			return f
		}
	}
	return FileInfo{}
}

// incomingFile waits for the file message named name in chat.
func (l *live) incomingFile(t *testing.T, chat, name string) string {
	t.Helper()
	return l.waitFor(t, "file "+name, func(ev Event) bool {
		return ev.Type == EventMessage && ev.Chat == chat && ev.Text == name
	}).Message
}

// waitState waits for a transfer event of message id with status st.
func (l *live) waitState(t *testing.T, id, st string) Event {
	t.Helper()
	return l.waitFor(t, "transfer "+st, func(ev Event) bool {
		return ev.Type == EventTransfer && ev.Message == id && ev.Status == st
	})
}

// blobCount returns how many blob files a profile holds.
func blobCount(t testing.TB, e *Engine) int {
	t.Helper()
	ents, err := os.ReadDir(filepath.Join(e.cfg.Dir, "data", "files"))
	if errors.Is(err, os.ErrNotExist) {
		return 0
	}
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}

func countType(rec *relaytest.Recorder, typ wire.Type) int {
	n := 0
	for _, it := range rec.Items() {
		if it.Type == typ {
			n++
		}
	}
	return n
}

// TestFileOneToOne: a file of a few MB goes from ana to ben through the
// relay; ben downloads it by himself (below the auto limit), verifies it,
// and reads the same bytes; the relay's chunks are deleted after.
func TestFileOneToOne(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	rec := &relaytest.Recorder{}
	r := relaytest.Start(t, relaytest.WithObserver(rec))
	a := startLive(t, r.Address.String(), nil)
	b := startLive(t, r.Address.String(), nil)
	aChat, bChat := liveChat(t, a, b, InviteOptions{}, JoinOptions{})
	path, sum := writeTestFile(t, t.TempDir(), "report.pdf", 3_000_000)
	id, err := a.SendFile(ctx, aChat, path, SendFileOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := a.WaitTransfer(ctx, aChat, id); err != nil {
		t.Fatal(err)
	}
	n, _ := crypto.FileChunks(3_000_000)
	if got := countType(rec, wire.TypeCPUT); got != int(n) {
		t.Fatalf("%d CPUTs for %d chunks", got, n)
	}
	bid := b.incomingFile(t, bChat, "report.pdf")
	b.waitState(t, bid, FileReady)
	if got := fileSum(t, b.Engine, bChat, bid); got != sum {
		t.Fatal("the received file differs")
	}
	out := filepath.Join(t.TempDir(), "out")
	if _, k, err := b.SaveFile(ctx, bChat, bid, out, false); err != nil || k != 3_000_000 {
		t.Fatalf("save: %d bytes, %v", k, err)
	}
	if got, _ := os.ReadFile(out); sha256.Sum256(got) != sum {
		t.Fatal("the saved file differs")
	}
	if _, _, err := b.SaveFile(ctx, bChat, bid, out, false); !errors.Is(err, vault.ErrExists) {
		t.Fatalf("save over an existing file: %v", err)
	}
	fi := fileState(t, b.Engine, bChat, bid)
	if fi.Name != "report.pdf" || fi.Size != 3_000_000 || fi.State != FileReady || fi.Outgoing {
		t.Fatalf("ben's file: %+v", fi)
	}
	if fi := fileState(t, a.Engine, aChat, id); fi.State != FileSent || !fi.Outgoing {
		t.Fatalf("ana's file: %+v", fi)
	}
	ms, err := b.Messages(ctx, bChat, 0)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, m := range ms {
		if m.ID == bid {
			found = m.Kind == "file" && m.File != nil && m.File.State == FileReady && m.Text == "report.pdf"
		}
	}
	if !found {
		t.Fatalf("ben's messages do not show the file: %+v", ms)
	}
	// Ben's cdel task deletes the chunks: he was their only reader.
	deadline := time.Now().Add(15 * time.Second)
	for countType(rec, wire.TypeCDEL) < int(n) {
		if time.Now().After(deadline) {
			t.Fatalf("%d CDELs for %d chunks", countType(rec, wire.TypeCDEL), n)
		}
		b.kickOutbox()
		time.Sleep(50 * time.Millisecond)
	}
}

// groupOfThree makes a group of ana (admin), ben and cat on relay addr.
func groupOfThree(t *testing.T, addr string) (es [3]*Engine, chats [3]string, evs [3]chan Event) {
	t.Helper()
	ctx := context.Background()
	es[0], evs[0] = groupEngine(t, addr)
	gid, err := es[0].GroupCreate(ctx, GroupOptions{Name: "river", As: "ana"})
	if err != nil {
		t.Fatal(err)
	}
	chats[0] = gid
	for i, nick := range []string{"ben", "cat"} {
		es[i+1], evs[i+1] = groupEngine(t, addr)
		key, err := es[0].GroupInvite(ctx, gid, 0)
		if err != nil {
			t.Fatal(err)
		}
		if chats[i+1], err = es[i+1].Join(ctx, key, JoinOptions{As: nick}); err != nil {
			t.Fatal(err)
		}
		groupSync(t, es[0], es[i+1])
	}
	groupSync(t, es[:]...)
	return es, chats, evs
}

// receivedFileID returns the ID of the file message named name in chat.
func receivedFileID(t *testing.T, e *Engine, chat, name string) string {
	t.Helper()
	fs, err := e.Files(chat)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fs {
		if f.Name == name && !f.Outgoing {
			return f.ID
		}
	}
	t.Fatalf("no file %s in %+v", name, fs)
	return ""
}

// TestFileGroupOneUpload: a group file is uploaded once, whatever the
// group's size; every member downloads and verifies it.
func TestFileGroupOneUpload(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	rec := &relaytest.Recorder{}
	r := relaytest.Start(t, relaytest.WithObserver(rec))
	es, chats, evs := groupOfThree(t, r.Address.String())
	before := countType(rec, wire.TypeCPUT)
	path, sum := writeTestFile(t, t.TempDir(), "map.png", 1_000_000)
	id, err := es[0].SendFile(ctx, chats[0], path, SendFileOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := es[0].WaitTransfer(ctx, chats[0], id); err != nil {
		t.Fatal(err)
	}
	n, _ := crypto.FileChunks(1_000_000)
	if got := countType(rec, wire.TypeCPUT) - before; got != int(n) {
		t.Fatalf("%d CPUTs for %d chunks", got, n)
	}
	groupSync(t, es[:]...)
	for i := 1; i < 3; i++ {
		fid := receivedFileID(t, es[i], chats[i], "map.png")
		if err := es[i].WaitTransfer(ctx, chats[i], fid); err != nil {
			t.Fatalf("member %d: %v", i, err)
		}
		if got := fileSum(t, es[i], chats[i], fid); got != sum {
			t.Fatalf("member %d got another file", i)
		}
		pendingEvents(evs[i])
	}
	if got := countType(rec, wire.TypeCDEL); got != 0 {
		t.Fatalf("%d CDELs: a group's members must not delete what others still read", got)
	}
}

// oneShotPair makes a 1:1 chat between two engines that do not Run, on
// relay addr, and returns them with their chats.
func oneShotPair(t *testing.T, addr string) (a, b *live, aChat, bChat string) {
	t.Helper()
	a = startLive(t, addr, nil)
	b = startLive(t, addr, nil)
	aChat, bChat = liveChat(t, a, b, InviteOptions{}, JoinOptions{})
	return a, b, aChat, bChat
}

// TestFileResumeAfterLostConnection: the relay restarts in the middle of
// an upload; the upload resumes from its watermark, repeating at most
// what was in flight, and the file arrives whole.
func TestFileResumeAfterLostConnection(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	rec := &relaytest.Recorder{}
	r := relaytest.Start(t, relaytest.WithObserver(rec))
	a, b, aChat, bChat := oneShotPair(t, r.Address.String())
	const size = 16_000_000
	path, sum := writeTestFile(t, t.TempDir(), "big.bin", size)
	n, _ := crypto.FileChunks(size)
	id, err := a.SendFile(ctx, aChat, path, SendFileOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for countType(rec, wire.TypeCPUT) < int(n)/4 {
		time.Sleep(time.Millisecond)
	}
	r.Restart()
	if countType(rec, wire.TypeCPUT) >= int(n) {
		t.Skip("the upload ended before the relay restarted")
	}
	a.waitState(t, id, FileSent)
	if got := countType(rec, wire.TypeCPUT); got > int(n)+xferInFlight+xferCheckpoint {
		t.Fatalf("%d CPUTs for %d chunks: the resume started over", got, n)
	}
	a.kickOutbox()
	bid := b.incomingFile(t, bChat, "big.bin")
	if err := b.SetAutoDownloadLimit(0); err != nil {
		t.Fatal(err)
	}
	if err := b.FetchFile(ctx, bChat, bid); err != nil {
		t.Fatal(err)
	}
	b.waitState(t, bid, FileReady)
	if got := fileSum(t, b.Engine, bChat, bid); got != sum {
		t.Fatal("the resumed file differs")
	}
}

// fileKeysOf returns the file keys of a message of ours.
func fileKeysOf(t *testing.T, e *Engine, chat, id string) (*crypto.FileKeys, uint32) {
	t.Helper()
	var fm *fileMeta
	err := e.v.View(context.Background(), func(tx *vault.Tx) error {
		m, err := tx.Message(chat, id)
		if err != nil {
			return err
		}
		fm, _ = fileOf(&m)
		return nil
	})
	if err != nil || fm == nil {
		t.Fatalf("no file meta: %v", err)
	}
	s, _ := fm.secret()
	return crypto.NewFileKeys(&s), fm.Chunks
}

// noFileLeft checks that a failed download left no blob and no record.
func noFileLeft(t *testing.T, e *Engine, chat, id string) {
	t.Helper()
	err := e.v.View(context.Background(), func(tx *vault.Tx) error {
		if _, err := tx.GetFile(chat, id); !errors.Is(err, vault.ErrNotFound) {
			t.Errorf("file record: %v", err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n := blobCount(t, e); n != 0 {
		t.Errorf("%d blobs left", n)
	}
	if _, _, err := e.OpenFile(chat, id); !errors.Is(err, ErrFileNotReady) {
		t.Errorf("OpenFile of a failed file: %v", err)
	}
}

// sentOffered sends a file from a to b with b's auto-download off, and
// returns the IDs on both sides once b has it offered.
func sentOffered(t *testing.T, a, b *live, aChat, bChat, name string, size int, before func(id string)) (string, string) {
	t.Helper()
	ctx := context.Background()
	if err := b.SetAutoDownloadLimit(0); err != nil {
		t.Fatal(err)
	}
	path, _ := writeTestFile(t, t.TempDir(), name, size)
	id, err := a.SendFile(ctx, aChat, path, SendFileOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if before != nil {
		before(id)
	}
	if err := a.WaitTransfer(ctx, aChat, id); err != nil {
		t.Fatal(err)
	}
	a.kickOutbox()
	bid := b.incomingFile(t, bChat, name)
	if st := fileState(t, b.Engine, bChat, bid).State; st != FileOffered {
		t.Fatalf("state %q with auto-download off", st)
	}
	return id, bid
}

// TestFileMissingChunk: a chunk deleted on the relay fails the download
// with a clear error, and nothing of the file is kept.
func TestFileMissingChunk(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r := relaytest.Start(t)
	a, b, aChat, bChat := oneShotPair(t, r.Address.String())
	id, bid := sentOffered(t, a, b, aChat, bChat, "notes.txt", 100_000, nil)
	keys, n := fileKeysOf(t, a.Engine, aChat, id)
	c, err := conn.Dial(ctx, r.Address.String(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.DeleteChunk(ctx, keys.ChunkID(n-1), keys.DeleteCap(n-1)); err != nil {
		t.Fatal(err)
	}
	if err := b.FetchFile(ctx, bChat, bid); err != nil {
		t.Fatal(err)
	}
	err = b.WaitTransfer(ctx, bChat, bid)
	if err == nil || !strings.Contains(err.Error(), "is missing on the relay") {
		t.Fatalf("download of a file missing a chunk: %v", err)
	}
	if fi := fileState(t, b.Engine, bChat, bid); fi.State != FileFailed || !strings.Contains(fi.Err, "missing") {
		t.Fatalf("file after the failure: %+v", fi)
	}
	noFileLeft(t, b.Engine, bChat, bid)
}

// TestFileHashMismatch: a descriptor whose hash does not match the
// chunks fails with "hash mismatch" and keeps nothing.
func TestFileHashMismatch(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r := relaytest.Start(t)
	a, b, aChat, bChat := oneShotPair(t, r.Address.String())
	_, bid := sentOffered(t, a, b, aChat, bChat, "photo.jpg", 50_000, func(id string) {
		err := a.v.Update(ctx, func(tx *vault.Tx) error {
			m, err := tx.Message(aChat, id)
			if err != nil {
				return err
			}
			fm, mm := fileOf(&m)
			fm.SHA256[0] ^= 1
			setMeta(&m, &mm)
			return tx.PutMessage(&m)
		})
		if err != nil {
			t.Fatal(err)
		}
	})
	if err := b.FetchFile(ctx, bChat, bid); err != nil {
		t.Fatal(err)
	}
	err := b.WaitTransfer(ctx, bChat, bid)
	if err == nil || !strings.Contains(err.Error(), "hash mismatch") {
		t.Fatalf("download with a wrong hash: %v", err)
	}
	noFileLeft(t, b.Engine, bChat, bid)
}

// TestFileBurnDuringDownload: burning the chat while a download runs
// stops it and removes the blob, the records and the relay's chunks.
func TestFileBurnDuringDownload(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r := relaytest.Start(t)
	a, b, aChat, bChat := oneShotPair(t, r.Address.String())
	id, bid := sentOffered(t, a, b, aChat, bChat, "film.mp4", 4_000_000, nil)
	if err := b.FetchFile(ctx, bChat, bid); err != nil {
		t.Fatal(err)
	}
	b.waitState(t, bid, FileDownloading)
	keys, n := fileKeysOf(t, a.Engine, aChat, id)
	if err := b.Burn(ctx, bChat); err != nil {
		t.Fatal(err)
	}
	if n := blobCount(t, b.Engine); n != 0 {
		t.Fatalf("%d blobs after the burn", n)
	}
	if ts, err := b.v.Transfers(); err != nil || len(ts) != 0 {
		t.Fatalf("transfers after the burn: %v %v", ts, err)
	}
	if _, err := b.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	c, err := conn.Dial(ctx, r.Address.String(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for i := range n {
		if _, err := c.GetChunk(ctx, keys.ChunkID(i), keys.ReadCap(i)); !wire.IsCode(err, wire.CodeAuth) {
			t.Fatalf("chunk %d after the burn: %v", i, err)
		}
	}
}

// TestFileRelayFull: a relay without room for the file fails the upload
// before the first CPUT.
func TestFileRelayFull(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	rec := &relaytest.Recorder{}
	r := relaytest.Start(t, relaytest.WithObserver(rec), func(c *relay.Config) { c.Limits.ChunkStorage = 100_000 })
	a, _, aChat, _ := oneShotPair(t, r.Address.String())
	path, _ := writeTestFile(t, t.TempDir(), "big.iso", 1_000_000)
	id, err := a.SendFile(ctx, aChat, path, SendFileOptions{})
	if err != nil {
		t.Fatal(err)
	}
	err = a.WaitTransfer(ctx, aChat, id)
	if err == nil || !strings.Contains(err.Error(), "relay full") {
		t.Fatalf("upload to a full relay: %v", err)
	}
	if got := countType(rec, wire.TypeCPUT); got != 0 {
		t.Fatalf("%d CPUTs to a full relay", got)
	}
	if fi := fileState(t, a.Engine, aChat, id); fi.State != FileFailed {
		t.Fatalf("file after the failure: %+v", fi)
	}
}

// rawDescriptor lays out a descriptor by hand (spec/client.md §5.16),
// for names the encoder refuses.
func rawDescriptor(name string) []byte {
	b := []byte{1, 0}
	b = append(b, make([]byte, 32)...)       // S
	b = append(b, 0, 0, 0, 0, 0, 0, 0, 5)    // size
	b = append(b, 0, 0, 0, 1)                // chunks
	b = append(b, make([]byte, 32)...)       // sha256
	b = append(b, 0, 0, 0, 0, 0x7f, 0, 0, 0) // expires
	b = append(b, byte(len("text/plain")))   // type
	b = append(b, "text/plain"...)           //
	b = append(b, byte(len(name)))           // name
	return append(b, name...)
}

// TestFileRefusedName: a FILE whose name carries a path is shown as a
// refused file with a warning; nothing is kept or downloaded.
func TestFileRefusedName(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	evB := make(chan Event, 64)
	ana, ben, chat := pair(t, nil, evB)
	pump(t, ben, ana, chat)
	for _, name := range []string{"../../.ssh/x", "a/b", `a\b`, ".."} {
		id, _ := ana.newID()
		w, _ := outgoingWireID(id)
		err := ana.withSession(ctx, chat, func(tx *vault.Tx, s *txSession) error {
			return ana.queue(tx, s.sess, chat, "", &format.Envelope{Type: format.EnvFile, ID: w, FileRaw: rawDescriptor(name)})
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	pump(t, ana, ben, chat)
	fs, err := ben.Files(chat)
	if err != nil {
		t.Fatal(err)
	}
	if len(fs) != 4 {
		t.Fatalf("files: %+v", fs)
	}
	for _, f := range fs {
		if f.State != FileRefused || f.Err == "" {
			t.Fatalf("a file with a path in its name: %+v", f)
		}
	}
	warned := 0
	for _, ev := range drainEvents(evB) {
		if ev.Type == EventWarning && strings.Contains(ev.Err, "refused") {
			warned++
		}
	}
	if warned != 4 {
		t.Fatalf("%d warnings for 4 refused files", warned)
	}
	if ts, err := ben.v.Transfers(); err != nil || len(ts) != 0 {
		t.Fatalf("transfers: %v %v", ts, err)
	}
	if n := blobCount(t, ben); n != 0 {
		t.Fatalf("%d blobs", n)
	}
}

// TestSendFileRefuses: SendFile refuses what is not a regular file.
func TestSendFileRefuses(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	ana, _, chat := pair(t, nil, nil)
	if _, err := ana.SendFile(ctx, chat, t.TempDir(), SendFileOptions{}); err == nil {
		t.Fatal("sent a directory")
	}
	if _, err := ana.SendFile(ctx, chat, filepath.Join(t.TempDir(), "none"), SendFileOptions{}); err == nil {
		t.Fatal("sent a file that does not exist")
	}
	p, _ := writeTestFile(t, t.TempDir(), "x", 10)
	if _, err := ana.SendFile(ctx, chat, p, SendFileOptions{Type: "Image/PNG"}); err == nil {
		t.Fatal("took a bad media type")
	}
	_ = bytes.Equal
}

// benchEngine is a running engine on relay addr without events.
func benchEngine(b *testing.B, addr string) *Engine {
	b.Helper()
	c := Config{Dir: b.TempDir(), Vault: vault.Options{KDF: crypto.Argon2Params{Time: 1, MemKiB: 64, Threads: 1}, GCInterval: -1, MemTableSize: testMemTableSize}}
	e, err := Create(context.Background(), c, []byte("test pin"), CreateOptions{})
	if err != nil {
		b.Fatal(err)
	}
	if err := e.Setup(context.Background(), addr); err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { e.Run(ctx); close(done) }()
	b.Cleanup(func() { cancel(); <-done; e.Close() })
	return e
}

// waitFile polls until chat holds an incoming file named name.
func waitFile(b *testing.B, e *Engine, chat, name string) string {
	b.Helper()
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		fs, _ := e.Files(chat)
		for _, f := range fs {
			if f.Name == name && !f.Outgoing && f.State == FileOffered {
				return f.ID
			}
		}
	}
	b.Fatal("the file never arrived")
	return ""
}

// BenchmarkFileTransfer sends a file through a real relay and downloads
// it, and reports the end-to-end rate: size / (upload + download).
// VEIL_BENCH_FILE_MB sets the size (64 MB when unset).
func BenchmarkFileTransfer(b *testing.B) {
	size := 64_000_000
	if s := os.Getenv("VEIL_BENCH_FILE_MB"); s != "" {
		if mb, err := strconv.Atoi(s); err == nil && mb > 0 {
			size = mb * 1_000_000
		}
	}
	ctx := context.Background()
	r := relaytest.Start(b, func(c *relay.Config) { c.Limits.MaxStorage = 1 << 40; c.Limits.ChunkStorage = 1 << 39 })
	addr := r.Address.String()
	a, z := benchEngine(b, addr), benchEngine(b, addr)
	key, aChat, err := a.Invite(ctx, InviteOptions{})
	if err != nil {
		b.Fatal(err)
	}
	zChat, err := z.Join(ctx, key, JoinOptions{})
	if err != nil {
		b.Fatal(err)
	}
	z.kickOutbox()
	if err := z.SetAutoDownloadLimit(0); err != nil {
		b.Fatal(err)
	}
	path, sum := writeTestFile(b, b.TempDir(), "bench.bin", size)
	b.SetBytes(int64(size))
	b.ResetTimer()
	var total time.Duration
	for i := range b.N {
		start := time.Now()
		id, err := a.SendFile(ctx, aChat, path, SendFileOptions{})
		if err != nil {
			b.Fatal(err)
		}
		if err := a.WaitTransfer(ctx, aChat, id); err != nil {
			b.Fatal(err)
		}
		a.kickOutbox()
		if i == 0 {
			// The first file waits for the chat to be joined.
			for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
				if cs, _ := a.Chats(ctx); len(cs) == 1 && !cs[0].Pending {
					break
				}
			}
			a.kickOutbox()
		}
		zid := waitFile(b, z, zChat, "bench.bin")
		if err := z.FetchFile(ctx, zChat, zid); err != nil {
			b.Fatal(err)
		}
		if err := z.WaitTransfer(ctx, zChat, zid); err != nil {
			b.Fatal(err)
		}
		total += time.Since(start)
		b.StopTimer()
		if got := fileSum(b, z, zChat, zid); got != sum {
			b.Fatal("the file differs")
		}
		b.StartTimer()
	}
	b.ReportMetric(float64(size)*float64(b.N)/total.Seconds()/1e6, "MB/s")
}

// TestFilePrivateRouting: with private routing, the chunks of a file to
// a contact's relay go through the forwarder: that relay never sees the
// sender's address, and the file arrives whole.
func TestFilePrivateRouting(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	var recD relaytest.Recorder
	ra := relaytest.Start(t)
	rd := relaytest.Start(t, relaytest.WithObserver(&recD))
	rf := relaytest.Start(t, relaytest.WithR2RFrom(ipFwd.String()))
	ana := startLive(t, ra.Address.String(), dialFrom(ipAna))
	ben := startLive(t, rd.Address.String(), dialFrom(ipBen))
	setRouting(t, ana, RoutingAlways, rf.Address.String())
	withBen, benChat := liveChat(t, ana, ben, InviteOptions{}, JoinOptions{Relay: rd.Address.String()})
	path, sum := writeTestFile(t, t.TempDir(), "plan.txt", 200_000)
	id, err := ana.SendFile(ctx, withBen, path, SendFileOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := ana.WaitTransfer(ctx, withBen, id); err != nil {
		t.Fatal(err)
	}
	ana.kickOutbox()
	bid := ben.incomingFile(t, benChat, "plan.txt")
	ben.waitState(t, bid, FileReady)
	if got := fileSum(t, ben.Engine, benChat, bid); got != sum {
		t.Fatal("the file differs")
	}
	puts := 0
	for _, it := range recD.Items() {
		remote := recD.Remote(it.Conn).Addr()
		if remote == ipAna {
			t.Errorf("the recipient's relay saw the sender's address (%v)", it.Type)
		}
		if it.Type == wire.TypeCPUT {
			puts++
			if remote != ipFwd {
				t.Errorf("a CPUT came from %v, not the forwarder", remote)
			}
		}
	}
	if n, _ := crypto.FileChunks(200_000); puts != int(n) {
		t.Errorf("%d CPUTs for %d chunks", puts, n)
	}
}

// TestFileDeleteForEveryone: deleting our file message for everyone
// drops it on both sides and deletes its chunks; a file cannot be
// edited.
func TestFileDeleteForEveryone(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	rec := &relaytest.Recorder{}
	r := relaytest.Start(t, relaytest.WithObserver(rec))
	a, b, aChat, bChat := oneShotPair(t, r.Address.String())
	id, bid := sentOffered(t, a, b, aChat, bChat, "draft.txt", 40_000, nil)
	if err := a.Edit(ctx, aChat, id, "x"); err == nil {
		t.Fatal("edited a file message")
	}
	if err := a.Delete(ctx, aChat, id); err != nil {
		t.Fatal(err)
	}
	a.kickOutbox()
	b.waitFor(t, "deleted", func(ev Event) bool { return ev.Type == EventDeleted && ev.Message == bid })
	if fs, _ := b.Files(bChat); len(fs) != 0 {
		t.Fatalf("ben's files after the deletion: %+v", fs)
	}
	if fs, _ := a.Files(aChat); len(fs) != 0 {
		t.Fatalf("ana's files after the deletion: %+v", fs)
	}
	if n := blobCount(t, a.Engine); n != 0 {
		t.Fatalf("%d blobs left with ana", n)
	}
	n, _ := crypto.FileChunks(40_000)
	deadline := time.Now().Add(15 * time.Second)
	for countType(rec, wire.TypeCDEL) < int(n) {
		if time.Now().After(deadline) {
			t.Fatalf("%d CDELs for %d chunks", countType(rec, wire.TypeCDEL), n)
		}
		a.kickOutbox()
		time.Sleep(20 * time.Millisecond)
	}
}

// TestFileGroupTimer: a group file with a timer keeps its chunks until
// the timer ends, even through a forced flush, and then its sender
// deletes them.
func TestFileGroupTimer(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	rec := &relaytest.Recorder{}
	r := relaytest.Start(t, relaytest.WithObserver(rec))
	es, chats, _ := groupOfThree(t, r.Address.String())
	path, _ := writeTestFile(t, t.TempDir(), "brief.txt", 30_000)
	id, err := es[0].SendFile(ctx, chats[0], path, SendFileOptions{TTL: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if err := es[0].WaitTransfer(ctx, chats[0], id); err != nil {
		t.Fatal(err)
	}
	if n, err := es[0].Flush(ctx); n != 0 || err != nil {
		t.Fatalf("flush: %d left, %v", n, err)
	}
	if got := countType(rec, wire.TypeCDEL); got != 0 {
		t.Fatalf("%d CDELs before the timer ended", got)
	}
	time.Sleep(2100 * time.Millisecond)
	if _, err := es[0].Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if n, _ := crypto.FileChunks(30_000); countType(rec, wire.TypeCDEL) != int(n) {
		t.Fatalf("%d CDELs for %d chunks after the timer", countType(rec, wire.TypeCDEL), n)
	}
}

// TestFileCancel: a cancelled upload fails and its chunks are deleted; a
// cancelled download goes back to offered and keeps nothing.
func TestFileCancel(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	rec := &relaytest.Recorder{}
	r := relaytest.Start(t, relaytest.WithObserver(rec))
	a, b, aChat, bChat := oneShotPair(t, r.Address.String())
	path, _ := writeTestFile(t, t.TempDir(), "huge.bin", 16_000_000)
	id, err := a.SendFile(ctx, aChat, path, SendFileOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for countType(rec, wire.TypeCPUT) == 0 {
		time.Sleep(time.Millisecond)
	}
	if err := a.CancelFile(aChat, id); err != nil {
		t.Fatal(err)
	}
	fi := fileState(t, a.Engine, aChat, id)
	if fi.State != FileFailed && fi.State != FileSent {
		t.Fatalf("a cancelled upload: %+v", fi)
	}
	if fi.State == FileFailed {
		if n := blobCount(t, a.Engine); n != 0 {
			t.Fatalf("%d blobs after the cancel", n)
		}
		deadline := time.Now().Add(15 * time.Second)
		for countType(rec, wire.TypeCDEL) == 0 {
			if time.Now().After(deadline) {
				t.Fatal("no CDEL after the cancel")
			}
			a.kickOutbox()
			time.Sleep(20 * time.Millisecond)
		}
	}

	_, bid := sentOffered(t, a, b, aChat, bChat, "later.bin", 2_000_000, nil)
	if err := b.FetchFile(ctx, bChat, bid); err != nil {
		t.Fatal(err)
	}
	if err := b.CancelFile(bChat, bid); err != nil {
		t.Fatal(err)
	}
	if fi := fileState(t, b.Engine, bChat, bid); fi.State != FileOffered && fi.State != FileReady {
		t.Fatalf("a cancelled download: %+v", fi)
	}
	if fi := fileState(t, b.Engine, bChat, bid); fi.State == FileOffered {
		// A download the transfer loop was starting as it was cancelled
		// finds its record gone and drops the blob it made.
		deadline := time.Now().Add(2 * time.Second)
		for blobCount(t, b.Engine) != 0 {
			if time.Now().After(deadline) {
				t.Fatal("a cancelled download left its blob")
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
}

// TestFileCancelBeatsAStaleStart: Run's transfer loop reads the stored
// transfers, and a cancel deletes the download's record before the loop
// starts it from what it read. The start must not happen: a download
// started from the stale read marked the file "downloading" again, with
// no record left to move it, and FetchFile then took it as under way
// for good (the file could never be fetched).
func TestFileCancelBeatsAStaleStart(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r := relaytest.Start(t)
	a, b, aChat, bChat := oneShotPair(t, r.Address.String())
	_, bid := sentOffered(t, a, b, aChat, bChat, "stale.bin", 200_000, nil)
	if err := b.FetchFile(ctx, bChat, bid); err != nil {
		t.Fatal(err)
	}
	gen := b.transferGen() // the loop's read, as resumeTransfers makes it
	ts, err := b.v.Transfers()
	if err != nil {
		t.Fatal(err)
	}
	var stale vault.Transfer
	for _, x := range ts {
		if x.ID == transferID(bChat, bid) {
			stale = x
		}
	}
	if stale.ID == "" {
		t.Fatal("no download record after FetchFile")
	}
	if err := b.CancelFile(bChat, bid); err != nil {
		t.Fatal(err)
	}
	x := b.startTransfer(ctx, stale, gen) // the loop, from its read
	<-x.done
	if fi := fileState(t, b.Engine, bChat, bid); fi.State != FileOffered && fi.State != FileReady {
		t.Fatalf("a download cancelled before a stale start: %+v", fi)
	}
	if fi := fileState(t, b.Engine, bChat, bid); fi.State == FileOffered {
		if err := b.FetchFile(ctx, bChat, bid); err != nil {
			t.Fatal(err)
		}
		if err := b.WaitTransfer(ctx, bChat, bid); err != nil {
			t.Fatalf("fetching again after the cancel: %v", err)
		}
		if fi := fileState(t, b.Engine, bChat, bid); fi.State != FileReady {
			t.Fatalf("fetched again after the cancel: %+v", fi)
		}
	}
}

// TestFileCorruptedChunk: a chunk the relay corrupts once is fetched
// again and the file arrives; one it corrupts every time fails the
// download as corrupted, keeping nothing. Every chunk ID the relay sees
// is distinct, and lifetimes are whole quanta.
func TestFileCorruptedChunk(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	var mu sync.Mutex
	var target store.ID
	left := 0 // how many more reads of target are corrupted
	spy := &relaytest.ChunkSpy{Tamper: func(id store.ID, c *store.Chunk) {
		mu.Lock()
		defer mu.Unlock()
		if id == target && left > 0 {
			left--
			body := bytes.Clone(c.Body)
			body[100] ^= 1
			c.Body = body
		}
	}}
	r := relaytest.Start(t, relaytest.WithChunkSpy(spy))
	a, b, aChat, bChat := oneShotPair(t, r.Address.String())
	for _, tc := range []struct {
		name    string
		times   int
		corrupt bool
	}{{"once.bin", 1, false}, {"always.bin", 1 << 30, true}} {
		id, bid := sentOffered(t, a, b, aChat, bChat, tc.name, 100_000, nil)
		keys, n := fileKeysOf(t, a.Engine, aChat, id)
		mu.Lock()
		target, left = store.ID(keys.ChunkID(n/2)), tc.times
		mu.Unlock()
		if err := b.FetchFile(ctx, bChat, bid); err != nil {
			t.Fatal(err)
		}
		err := b.WaitTransfer(ctx, bChat, bid)
		if !tc.corrupt {
			if err != nil {
				t.Fatalf("%s: %v", tc.name, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), "is corrupted") {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if fi := fileState(t, b.Engine, bChat, bid); fi.State != FileFailed {
			t.Fatalf("%s: %+v", tc.name, fi)
		}
	}
	seen := map[store.ID]bool{}
	quanta := map[time.Duration]bool{}
	for _, q := range chunkLifeQuanta {
		quanta[q] = true
	}
	for _, p := range spy.Puts() {
		if seen[p.ID] {
			t.Fatal("two chunks with one ID")
		}
		seen[p.ID] = true
		life := time.Until(p.Expires).Round(time.Hour)
		if !quanta[life] {
			t.Fatalf("a chunk lives %v, not a quantum", life)
		}
	}
}

// TestFileTimerUndownloaded: a 1:1 file with a timer, shown but never
// downloaded, has its chunks deleted by the receiver when its copy
// expires.
func TestFileTimerUndownloaded(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	rec := &relaytest.Recorder{}
	r := relaytest.Start(t, relaytest.WithObserver(rec))
	a, b, aChat, bChat := oneShotPair(t, r.Address.String())
	if err := b.SetAutoDownloadLimit(0); err != nil {
		t.Fatal(err)
	}
	path, _ := writeTestFile(t, t.TempDir(), "brief.txt", 30_000)
	id, err := a.SendFile(ctx, aChat, path, SendFileOptions{TTL: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if err := a.WaitTransfer(ctx, aChat, id); err != nil {
		t.Fatal(err)
	}
	a.kickOutbox()
	b.incomingFile(t, bChat, "brief.txt")
	if err := b.MarkRead(ctx, bChat); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if got := countType(rec, wire.TypeCDEL); got != 0 {
		t.Fatalf("%d CDELs before the copy expired", got)
	}
	time.Sleep(1100 * time.Millisecond)
	if _, err := b.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if n, _ := crypto.FileChunks(30_000); countType(rec, wire.TypeCDEL) != int(n) {
		t.Fatalf("%d CDELs for %d chunks after the timer", countType(rec, wire.TypeCDEL), n)
	}
}

// TestFileRelayRate: a relay whose chunk rate is far below what the
// pipeline sends answers RATE; the transfer pauses and tries those chunks
// again instead of failing, and the file arrives whole at the first try.
func TestFileRelayRate(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r := relaytest.Start(t, func(c *relay.Config) { c.Limits.ChunkRate = 300 })
	a, b, aChat, bChat := oneShotPair(t, r.Address.String())
	const size = 6_000_000 // 375 chunks: over a second of the relay's rate each way
	path, sum := writeTestFile(t, t.TempDir(), "rate.bin", size)
	id, err := a.SendFile(ctx, aChat, path, SendFileOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := a.WaitTransfer(ctx, aChat, id); err != nil {
		t.Fatalf("upload: %v", err)
	}
	a.kickOutbox()
	bid := b.incomingFile(t, bChat, "rate.bin")
	if err := b.SetAutoDownloadLimit(0); err != nil {
		t.Fatal(err)
	}
	if err := b.FetchFile(ctx, bChat, bid); err != nil {
		t.Fatal(err)
	}
	if err := b.WaitTransfer(ctx, bChat, bid); err != nil {
		t.Fatalf("download: %v", err)
	}
	if got := fileSum(t, b.Engine, bChat, bid); got != sum {
		t.Fatal("the received file differs")
	}
}

// TestFilesReadAcrossBurn: a read of a chat that began before a burn
// still sees the chat's records, whose keys the burn has already erased;
// what it reports is that the chat is gone, not a missing key (the files
// listing a transfer's progress is followed by).
func TestFilesReadAcrossBurn(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r := relaytest.Start(t)
	a, b, aChat, bChat := oneShotPair(t, r.Address.String())
	sentOffered(t, a, b, aChat, bChat, "notes.txt", 20_000, nil)
	var readErr error
	err := b.v.View(ctx, func(tx *vault.Tx) error {
		if _, err := resolveChat(tx, bChat); err != nil {
			return err
		}
		if err := b.Burn(ctx, bChat); err != nil { // while the read is open
			return err
		}
		_, readErr = tx.Messages(bChat, 0)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if !errors.Is(readErr, vault.ErrNotFound) {
		t.Fatalf("reading messages whose keys a burn erased: %v, want vault.ErrNotFound", readErr)
	}
	if p := explain(b.goneChat(ctx, bChat, bChat, readErr)); p.Kind != KindNoChat {
		t.Fatalf("a read across a burn reported %q (%s), want %q", p.Kind, p.Message, KindNoChat)
	}
	if _, err := b.Files(bChat); explain(err).Kind != KindNoChat {
		t.Fatalf("Files after the burn: %v", err)
	}
}
