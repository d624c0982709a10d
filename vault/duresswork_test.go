package vault

import (
	"bytes"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestDuressWorkWithManyFiles checks spec/vault.md §5.4 and §7.1 (a
// duress unlock ends at the floor) and SECURITY.md (the erase is "inside
// the padding"). Every file attachment is a blob file of its own in
// data/files/ (§6.7), so a profile that kept a few thousand photos has
// thousands of files, each unlinked by the erase inside the PIN trial.
// The floor grows with the number of files in data/ (padExtra), for every
// PIN: the duress unlock's work after the derivation must stay within
// padMin, the floor of every production derivation, plus that extra; the
// real unlock's work is logged beside it.
func TestDuressWorkWithManyFiles(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 80 MB of blobs and times the unlocks")
	}
	const blobs = 5000
	dir := filepath.Join(t.TempDir(), "vault")
	v := createVault(t, dir, testOpts(nil))
	fillSample(t, v)
	if err := v.SetDuressPIN(ctx, duressPIN, DuressDecoy); err != nil {
		t.Fatal(err)
	}
	files := v.filesDir()
	if err := os.Mkdir(files, 0o700); err != nil {
		t.Fatal(err)
	}
	chunk := bytes.Repeat([]byte{0xa5}, BlobChunkSize)
	for u := range blobs / 500 {
		err := v.Update(ctx, func(tx *Tx) error {
			for i := range 500 {
				name := fmt.Sprintf("%048x", u*500+i+1)
				if err := os.WriteFile(filepath.Join(files, name), chunk, 0o600); err != nil {
					return err
				}
				id := fmt.Sprintf("f%02d%04d", u, i)
				m := Message{ID: id, ChatID: "chat1", Direction: Incoming, Body: []byte("photo.jpg")}
				if err := tx.PutMessage(&m); err != nil {
					return err
				}
				if err := tx.PutFile("chat1", id, FileRecord{Blob: name, Chunks: 1, Complete: true}); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	mustLock(t, v)
	limit := padMin + padExtra(dataFiles(dir))

	measure := func(p []byte) time.Duration {
		run := filepath.Join(t.TempDir(), "vault")
		sparseCopyTree(t, dir, run)
		o := testOpts(nil)
		var work time.Duration
		o.onPad = func(_, w, _ time.Duration) { work = w }
		v, err := Open(ctx, run, p, o)
		if err != nil {
			t.Fatal(err)
		}
		mustLock(t, v)
		return work
	}
	var realWork, duressWork time.Duration
	for range 3 {
		realWork, duressWork = max(realWork, measure(pin)), max(duressWork, measure(duressPIN))
	}
	t.Logf("%d blobs: work after the derivation, worst of 3: real unlock %v, duress unlock %v (limit %v)", blobs, realWork, duressWork, limit)
	for _, r := range []struct {
		what string
		work time.Duration
	}{{"duress", duressWork}, {"real", realWork}} {
		if r.work > limit {
			t.Errorf("with %d file attachments the %s unlock's work took %v, beyond the %v floor of every production derivation with this many files: its answer comes later",
				blobs, r.what, r.work, limit)
		}
	}
}

// sparseCopyTree copies the directory src to dst, leaving runs of zeros
// as holes (Badger's logs are mostly preallocated zeros).
func sparseCopyTree(t *testing.T, src, dst string) {
	t.Helper()
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		to := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(to, 0o700)
		}
		in, err := os.Open(p)
		if err != nil {
			return err
		}
		defer in.Close()
		out, err := os.OpenFile(to, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return err
		}
		defer out.Close()
		buf := make([]byte, 64<<10)
		var off int64
		for {
			n, rerr := in.Read(buf)
			if n > 0 && !allZero(buf[:n]) {
				if _, err := out.WriteAt(buf[:n], off); err != nil {
					return err
				}
			}
			off += int64(n)
			if rerr == io.EOF {
				break
			}
			if rerr != nil {
				return rerr
			}
		}
		return out.Truncate(off)
	})
	if err != nil {
		t.Fatal(err)
	}
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// TestPadGrowsWithDataFiles checks that every PIN trial of a profile with
// many files in data/ is padded by padExtra (spec/vault.md §5.4): a wrong
// PIN, which does no work, answers no earlier.
func TestPadGrowsWithDataFiles(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "vault")
	v := createVault(t, dir, testOpts(nil))
	files := v.filesDir()
	if err := os.Mkdir(files, 0o700); err != nil {
		t.Fatal(err)
	}
	for i := range 1000 {
		if err := os.WriteFile(filepath.Join(files, fmt.Sprintf("%048x", i+1)), []byte{1}, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	mustLock(t, v)
	n := dataFiles(dir)
	if n < 1000 {
		t.Fatalf("dataFiles counts %d names; want at least 1000", n)
	}
	start := time.Now()
	_, err := Open(ctx, dir, []byte("0000"), testOpts(nil))
	wantErr(t, err, ErrWrongPIN)
	if took := time.Since(start); took < padExtra(n) {
		t.Errorf("a wrong PIN with %d files in data/ answered after %v; want at least %v", n, took, padExtra(n))
	}
}
