//go:build linux

package vault

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestDuressWithManyFilesUnderFDLimit checks spec/vault.md §7.2 (the
// duress unlock returns a decoy "exactly as a normal unlock returns a
// vault") and SECURITY.md (the decoy "looks like a new install"). The
// erase keeps erased files open until after the padding (§7.1 step 3): if
// it kept one descriptor per file, a profile with more file attachments
// than the process may open files (the soft limit here lowered to 1024, a
// common default where it cannot be raised) would run out of descriptors
// and the duress unlock would answer with an error naming the erase
// instead of opening the decoy.
func TestDuressWithManyFilesUnderFDLimit(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "vault") // removed after the limit is restored
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	low := lim
	low.Cur = min(lim.Cur, 1024)
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &low); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim) })

	v := createVault(t, dir, testOpts(nil))
	fillSample(t, v)
	if err := v.SetDuressPIN(ctx, duressPIN, DuressDecoy); err != nil {
		t.Fatal(err)
	}
	files := v.filesDir()
	if err := os.Mkdir(files, 0o700); err != nil {
		t.Fatal(err)
	}
	n := int(low.Cur) + 100
	err := v.Update(ctx, func(tx *Tx) error {
		for i := range n {
			name := fmt.Sprintf("%048x", i+1)
			if err := os.WriteFile(filepath.Join(files, name), []byte{0xa5}, 0o600); err != nil {
				return err
			}
			id := fmt.Sprintf("f%05d", i)
			if err := tx.PutMessage(&Message{ID: id, ChatID: "chat1", Direction: Incoming, Body: []byte("photo.jpg")}); err != nil {
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
	mustLock(t, v)
	d, err := Open(ctx, dir, duressPIN, testOpts(nil))
	if err != nil {
		t.Fatalf("the duress PIN, with %d file attachments and an open-files limit of %d: %v", n, low.Cur, err)
	}
	defer mustLock(t, d)
	if !isEmpty(t, d) {
		t.Error("the decoy is not empty")
	}
	if _, err := os.Lstat(files); err == nil {
		t.Error("the erased vault's files directory is still there")
	}
}

// TestDuressErrorNeverNamesTheErase checks that when the disk fails during
// a duress unlock's erase, the error the unlock returns does not say that
// an erase ran (spec/vault.md §7.2): a coercer reads it.
func TestDuressErrorNeverNamesTheErase(t *testing.T) {
	failed := errors.Join(
		fmt.Errorf("vault: overwriting %s: %w", eraseFileName, &fs.PathError{Op: "write", Path: "/p/" + eraseFileName, Err: syscall.EIO}),
		unreadable("/p/"+eraseFileName, &fs.PathError{Op: "lstat", Path: "/p/" + eraseFileName, Err: syscall.EIO}))
	if msg := notWritten(failed).Error(); strings.Contains(msg, "erase") || !strings.Contains(msg, syscall.EIO.Error()) {
		t.Errorf("a failed erase reads %q", msg)
	}

	if os.Geteuid() == 0 {
		t.Skip("root ignores the directory's permissions")
	}
	dir := filepath.Join(t.TempDir(), "vault")
	v := createVault(t, dir, testOpts(nil))
	fillSample(t, v)
	if err := v.SetDuressPIN(ctx, duressPIN, DuressDecoy); err != nil {
		t.Fatal(err)
	}
	mustLock(t, v)
	// data/ cannot be emptied: its files cannot be unlinked.
	data := filepath.Join(dir, dataDirName, badgerDirName)
	if err := os.Chmod(data, 0o500); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.Chmod(data, 0o700) })
	_, err := Open(ctx, dir, duressPIN, testOpts(nil))
	if err == nil {
		t.Fatal("the duress unlock succeeded on a data directory that cannot be emptied")
	}
	if strings.Contains(strings.ToLower(err.Error()), "erase") {
		t.Errorf("the duress unlock's error names the erase: %v", err)
	}
}
