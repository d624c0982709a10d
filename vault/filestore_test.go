package vault

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"
)

// putFileMsg stores a message with a blob of n chunks, its file record and
// a transfer, and returns the blob's name.
func putFileMsg(t *testing.T, v *Vault, chat, id string, n uint32, expires time.Time) string {
	t.Helper()
	putMsg(t, v, chat, id, "report.pdf", expires)
	b, err := v.CreateBlob(n)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	ct := bytes.Repeat([]byte{0xa5}, BlobChunkSize)
	if err := b.WriteChunk(n-1, ct); err != nil {
		t.Fatal(err)
	}
	err = v.Update(ctx, func(tx *Tx) error {
		if err := tx.PutFile(chat, id, FileRecord{Blob: b.Name(), Chunks: n}); err != nil {
			return err
		}
		return tx.PutTransfer(Transfer{ID: "t-" + chat + id, Chat: chat, Message: id, Up: true})
	})
	if err != nil {
		t.Fatal(err)
	}
	return b.Name()
}

func blobExists(v *Vault, name string) bool {
	_, err := os.Lstat(filepath.Join(v.filesDir(), name))
	return err == nil
}

func transferIDs(t *testing.T, v *Vault) []string {
	t.Helper()
	ts, err := v.Transfers()
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, tr := range ts {
		ids = append(ids, tr.ID)
	}
	return ids
}

func TestBlobFile(t *testing.T) {
	v := createVault(t, t.TempDir(), testOpts(nil))
	defer mustLock(t, v)
	b, err := v.CreateBlob(3)
	if err != nil {
		t.Fatal(err)
	}
	if !validBlobName(b.Name()) || b.Chunks() != 3 {
		t.Fatalf("blob %q of %d chunks", b.Name(), b.Chunks())
	}
	p := filepath.Join(v.filesDir(), b.Name())
	fi, err := os.Stat(p)
	if err != nil || fi.Size() != 3*BlobChunkSize || fi.Mode().Perm() != 0o600 {
		t.Fatalf("blob file %v, %v", fi, err)
	}
	if di, err := os.Stat(v.filesDir()); err != nil || di.Mode().Perm() != 0o700 {
		t.Fatalf("files directory %v, %v", di, err)
	}
	chunk := func(c byte) []byte { return bytes.Repeat([]byte{c}, BlobChunkSize) }
	for i := range uint32(3) {
		if err := b.WriteChunk(i, chunk(byte(i+1))); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.WriteChunk(3, chunk(9)); err == nil {
		t.Fatal("chunk past the end written")
	}
	if err := b.WriteChunk(0, chunk(9)[:100]); err == nil {
		t.Fatal("short chunk written")
	}
	if err := b.Sync(); err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	o, err := v.OpenBlob(b.Name())
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	buf := make([]byte, 0, BlobChunkSize)
	for i := range uint32(3) {
		got, err := o.ReadChunk(i, buf)
		if err != nil || !bytes.Equal(got, chunk(byte(i+1))) {
			t.Fatalf("chunk %d: %v", i, err)
		}
	}
	if _, err := o.ReadChunk(3, nil); err == nil {
		t.Fatal("chunk past the end read")
	}
	for _, bad := range []string{"", "../vault.key", "..", b.Name()[:47], "G" + b.Name()[1:], "A" + b.Name()[1:]} {
		if _, err := v.OpenBlob(bad); err == nil {
			t.Errorf("OpenBlob(%q) opened", bad)
		}
	}
	if _, err := v.OpenBlob(string(bytes.Repeat([]byte{'0'}, 48))); !errors.Is(err, ErrNotFound) {
		t.Fatalf("missing blob: %v", err)
	}
	// A symlink in the files directory is never followed.
	target := filepath.Join(t.TempDir(), "target")
	os.WriteFile(target, chunk(7), 0o600)
	link := string(bytes.Repeat([]byte{'1'}, 48))
	if err := os.Symlink(target, filepath.Join(v.filesDir(), link)); err != nil {
		t.Fatal(err)
	}
	if _, err := v.OpenBlob(link); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("symlinked blob: %v", err)
	}
	for _, n := range []uint32{0, 131073} {
		if _, err := v.CreateBlob(n); err == nil {
			t.Errorf("CreateBlob(%d) created", n)
		}
	}
}

// TestFileRecordDeleteUnlinks: a deleted file record's blob goes after the
// commit, and stays when the transaction fails.
func TestFileRecordDeleteUnlinks(t *testing.T) {
	v := createVault(t, t.TempDir(), testOpts(nil))
	defer mustLock(t, v)
	putChat(t, v, "c", time.Time{})
	name := putFileMsg(t, v, "c", "m1", 2, time.Time{})
	err := v.View(ctx, func(tx *Tx) error {
		r, err := tx.GetFile("c", "m1")
		if err != nil || r != (FileRecord{Blob: name, Chunks: 2}) {
			t.Fatalf("GetFile = %+v, %v", r, err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	boom := errors.New("boom")
	if err := v.Update(ctx, func(tx *Tx) error {
		if err := tx.DeleteFile("c", "m1"); err != nil {
			return err
		}
		return boom
	}); !errors.Is(err, boom) {
		t.Fatal(err)
	}
	if !blobExists(v, name) {
		t.Fatal("a failed transaction unlinked the blob")
	}
	if err := v.Update(ctx, func(tx *Tx) error { return tx.DeleteFile("c", "m1") }); err != nil {
		t.Fatal(err)
	}
	if blobExists(v, name) {
		t.Fatal("blob left after DeleteFile")
	}
	if ids := transferIDs(t, v); len(ids) != 0 {
		t.Fatalf("transfers left: %v", ids)
	}
	err = v.View(ctx, func(tx *Tx) error {
		_, err := tx.GetFile("c", "m1")
		return err
	})
	wantErr(t, err, ErrNotFound)
	if err := v.Update(ctx, func(tx *Tx) error { return tx.DeleteFile("c", "m1") }); err != nil {
		t.Fatalf("deleting a missing record: %v", err)
	}
}

func TestPutFileReplacesBlob(t *testing.T) {
	v := createVault(t, t.TempDir(), testOpts(nil))
	defer mustLock(t, v)
	putChat(t, v, "c", time.Time{})
	old := putFileMsg(t, v, "c", "m1", 1, time.Time{})
	b, err := v.CreateBlob(1)
	if err != nil {
		t.Fatal(err)
	}
	b.Close()
	if err := v.Update(ctx, func(tx *Tx) error {
		return tx.PutFile("c", "m1", FileRecord{Blob: b.Name(), Chunks: 1, Complete: true})
	}); err != nil {
		t.Fatal(err)
	}
	if blobExists(v, old) || !blobExists(v, b.Name()) {
		t.Fatal("the replaced blob was not unlinked, or the new one was")
	}
	for _, r := range []FileRecord{{Blob: "../x", Chunks: 1}, {Blob: b.Name()}, {Blob: b.Name(), Chunks: 131073}} {
		if err := v.Update(ctx, func(tx *Tx) error { return tx.PutFile("c", "m1", r) }); err == nil {
			t.Errorf("PutFile(%+v) stored", r)
		}
	}
}

func TestDeleteMessageUnlinksBlob(t *testing.T) {
	v := createVault(t, t.TempDir(), testOpts(nil))
	defer mustLock(t, v)
	putChat(t, v, "c", time.Time{})
	a := putFileMsg(t, v, "c", "m1", 1, time.Time{})
	b := putFileMsg(t, v, "c", "m2", 1, time.Time{})
	if err := v.Update(ctx, func(tx *Tx) error { return tx.DeleteMessage("c", "m1") }); err != nil {
		t.Fatal(err)
	}
	if blobExists(v, a) || !blobExists(v, b) {
		t.Fatal("DeleteMessage did not unlink exactly its blob")
	}
	if ids := transferIDs(t, v); !reflect.DeepEqual(ids, []string{"t-cm2"}) {
		t.Fatalf("transfers %v", ids)
	}
}

func TestDeleteChatUnlinksBlobs(t *testing.T) {
	v := createVault(t, t.TempDir(), testOpts(nil))
	defer mustLock(t, v)
	putChat(t, v, "a", time.Time{})
	putChat(t, v, "b", time.Time{})
	a1, a2 := putFileMsg(t, v, "a", "m1", 1, time.Time{}), putFileMsg(t, v, "a", "m2", 2, time.Time{})
	b1 := putFileMsg(t, v, "b", "m1", 1, time.Time{})
	if err := v.DeleteChat(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	if blobExists(v, a1) || blobExists(v, a2) || !blobExists(v, b1) {
		t.Fatal("DeleteChat did not unlink exactly its blobs")
	}
	if ids := transferIDs(t, v); !reflect.DeepEqual(ids, []string{"t-bm1"}) {
		t.Fatalf("transfers %v", ids)
	}
	err := v.View(ctx, func(tx *Tx) error {
		_, err := tx.GetFile("a", "m1")
		return err
	})
	wantErr(t, err, ErrNotFound)
}

func TestSweepExpiredUnlinksBlobs(t *testing.T) {
	clk := newClock()
	v := createVault(t, t.TempDir(), testOpts(clk))
	defer mustLock(t, v)
	putChat(t, v, "c", time.Time{})
	putChat(t, v, "gone", clk.Now().Add(2*time.Hour))
	short := putFileMsg(t, v, "c", "m1", 1, clk.Now().Add(time.Hour))
	long := putFileMsg(t, v, "c", "m2", 1, clk.Now().Add(48*time.Hour))
	chatGone := putFileMsg(t, v, "gone", "m1", 1, time.Time{})
	clk.Add(3 * time.Hour)
	if _, err := v.SweepExpired(ctx); err != nil {
		t.Fatal(err)
	}
	if blobExists(v, short) || !blobExists(v, long) || blobExists(v, chatGone) {
		t.Fatal("the sweep did not unlink exactly the expired blobs")
	}
	if ids := transferIDs(t, v); !reflect.DeepEqual(ids, []string{"t-cm2"}) {
		t.Fatalf("transfers %v", ids)
	}
}

// TestOrphanBlobSweptAtUnlock: a crash between the commit that deleted a
// file record and the unlink of its blob leaves an orphan; so does a blob
// created but never recorded. The next unlock removes both and keeps
// every blob a record names.
func TestOrphanBlobSweptAtUnlock(t *testing.T) {
	dir := t.TempDir()
	v := createVault(t, dir, testOpts(nil))
	putChat(t, v, "c", time.Time{})
	kept := putFileMsg(t, v, "c", "m1", 1, time.Time{})
	crashed := putFileMsg(t, v, "c", "m2", 1, time.Time{})
	// The commit without the unlink that follows it.
	if err := v.db.Update(func(txn *badger.Txn) error { return txn.Delete(fileKey("c", "m2")) }); err != nil {
		t.Fatal(err)
	}
	unrecorded, err := v.CreateBlob(1)
	if err != nil {
		t.Fatal(err)
	}
	unrecorded.Close()
	if err := v.SweepOrphanBlobs(); err != nil {
		t.Fatal(err)
	}
	if !blobExists(v, unrecorded.Name()) {
		t.Fatal("the sweep took a blob this vault is still filling")
	}
	if blobExists(v, crashed) {
		t.Fatal("the sweep left an orphan")
	}
	crashed = putFileMsg(t, v, "c", "m3", 1, time.Time{})
	if err := v.db.Update(func(txn *badger.Txn) error { return txn.Delete(fileKey("c", "m3")) }); err != nil {
		t.Fatal(err)
	}
	stray := filepath.Join(v.filesDir(), "stray.tmp")
	os.WriteFile(stray, []byte("x"), 0o600)
	mustLock(t, v)
	v = mustOpen(t, dir, pin, testOpts(nil))
	defer mustLock(t, v)
	if !blobExists(v, kept) {
		t.Fatal("unlock removed a recorded blob")
	}
	if blobExists(v, crashed) || blobExists(v, unrecorded.Name()) {
		t.Fatal("unlock left an orphan blob")
	}
	if _, err := os.Lstat(stray); err == nil {
		t.Fatal("unlock left a stray file in the files directory")
	}
}

func TestTransferRecords(t *testing.T) {
	v := createVault(t, t.TempDir(), testOpts(nil))
	defer mustLock(t, v)
	next := time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)
	in := []Transfer{
		{ID: "t1", Chat: "c", Message: "m1", Up: true, Done: 256, Tries: 2, NextTry: next, Err: "relay full"},
		{ID: "t2", Chat: "c", Message: "m2"},
	}
	if err := v.Update(ctx, func(tx *Tx) error {
		for _, tr := range in {
			if err := tx.PutTransfer(tr); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	got, err := v.Transfers()
	if err != nil {
		t.Fatal(err)
	}
	for i := range got {
		got[i].NextTry = got[i].NextTry.UTC()
	}
	if !reflect.DeepEqual(got, in) {
		t.Fatalf("Transfers = %+v", got)
	}
	if err := v.Update(ctx, func(tx *Tx) error { return tx.DeleteTransfer("t1") }); err != nil {
		t.Fatal(err)
	}
	if ids := transferIDs(t, v); !reflect.DeepEqual(ids, []string{"t2"}) {
		t.Fatalf("after delete: %v", ids)
	}
	for _, bad := range []Transfer{{Chat: "c", Message: "m"}, {ID: "t", Message: "m"}, {ID: "t", Chat: "c"}, {ID: "t", Chat: "c", Message: "\xff"}} {
		if err := v.Update(ctx, func(tx *Tx) error { return tx.PutTransfer(bad) }); err == nil {
			t.Errorf("PutTransfer(%+v) stored", bad)
		}
	}
}

// TestWipeRemovesBlobs: wiping (panic, wrong-PIN limit) and a duress
// unlock take the files directory with the profile.
func TestWipeRemovesBlobs(t *testing.T) {
	dir := t.TempDir()
	v := createVault(t, dir, testOpts(nil))
	putChat(t, v, "c", time.Time{})
	putFileMsg(t, v, "c", "m1", 2, time.Time{})
	files := v.filesDir()
	if err := v.Wipe(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(files); err == nil {
		t.Fatal("files directory left after Wipe")
	}

	dir = t.TempDir()
	v, err := CreateWithDuress(ctx, dir, pin, duressPIN, DuressDecoy, testOpts(nil))
	if err != nil {
		t.Fatal(err)
	}
	putChat(t, v, "c", time.Time{})
	name := putFileMsg(t, v, "c", "m1", 2, time.Time{})
	mustLock(t, v)
	d := mustOpen(t, dir, duressPIN, testOpts(nil))
	defer mustLock(t, d)
	if _, err := os.Lstat(filepath.Join(d.filesDir(), name)); err == nil {
		t.Fatal("blob left after a duress unlock")
	}
}

// TestRestoreWithoutFiles: a backup carries no blob files, so a restored
// vault keeps its file messages but no file or transfer record.
func TestRestoreWithoutFiles(t *testing.T) {
	v := createVault(t, t.TempDir(), testOpts(nil))
	defer mustLock(t, v)
	putChat(t, v, "c", time.Time{})
	putFileMsg(t, v, "c", "m1", 1, time.Time{})
	rcpt, id := scrypt(t, "backup passphrase")
	var buf bytes.Buffer
	if err := v.Backup(ctx, &buf, rcpt); err != nil {
		t.Fatal(err)
	}
	w, err := Restore(ctx, &buf, filepath.Join(t.TempDir(), "restored"), []byte("4321"), testOpts(nil), id)
	if err != nil {
		t.Fatal(err)
	}
	defer mustLock(t, w)
	err = w.View(ctx, func(tx *Tx) error {
		if _, err := tx.Message("c", "m1"); err != nil {
			t.Fatalf("restored message: %v", err)
		}
		_, err := tx.GetFile("c", "m1")
		return err
	})
	wantErr(t, err, ErrNotFound)
	if ids := transferIDs(t, w); len(ids) != 0 {
		t.Fatalf("restored transfers %v", ids)
	}
}

// TestOrphanSweepKeepsBlobRecordedMeanwhile: a blob whose record commits
// while SweepOrphanBlobs runs, after it read the records, is kept: it was
// fresh when the sweep looked.
func TestOrphanSweepKeepsBlobRecordedMeanwhile(t *testing.T) {
	v := createVault(t, t.TempDir(), testOpts(nil))
	defer mustLock(t, v)
	putChat(t, v, "c", time.Time{})
	putMsg(t, v, "c", "m1", "report.pdf", time.Time{})
	b, err := v.CreateBlob(1)
	if err != nil {
		t.Fatal(err)
	}
	b.Close()
	v.sweepRead = func() {
		err := v.Update(ctx, func(tx *Tx) error { return tx.PutFile("c", "m1", FileRecord{Blob: b.Name(), Chunks: 1}) })
		if err != nil {
			t.Error(err)
		}
	}
	if err := v.SweepOrphanBlobs(); err != nil {
		t.Fatal(err)
	}
	if !blobExists(v, b.Name()) {
		t.Fatal("the sweep removed a blob recorded while it ran")
	}
}
