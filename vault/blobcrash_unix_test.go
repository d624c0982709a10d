//go:build unix

package vault

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// blobCrashEnv tells a re-executed test binary to delete a file message in
// the vault at dir and kill itself between the commit and the unlink of
// the blob: "dir".
const blobCrashEnv = "VEIL_VAULT_TEST_BLOB_CRASH"

// TestBlobCrashChild is the re-executed side of TestBlobCrashBeforeUnlink.
func TestBlobCrashChild(t *testing.T) {
	dir := os.Getenv(blobCrashEnv)
	if dir == "" {
		t.Skip("run by TestBlobCrashBeforeUnlink")
	}
	o := testOpts(nil)
	o.beforeUnlink = func() {
		syscall.Kill(os.Getpid(), syscall.SIGKILL)
		select {} // the signal arrives
	}
	v := mustOpen(t, dir, pin, o)
	if err := v.Update(ctx, func(tx *Tx) error { return tx.DeleteMessage("c", "m1") }); err != nil {
		t.Fatal(err)
	}
}

// TestBlobCrashBeforeUnlink: a process killed after the commit that
// deleted a file message and before the unlink of its blob leaves the
// blob; the next unlock removes it and keeps every other.
func TestBlobCrashBeforeUnlink(t *testing.T) {
	if os.Getenv(blobCrashEnv) != "" {
		t.Skip("child")
	}
	dir := filepath.Join(t.TempDir(), "vault")
	v := createVault(t, dir, testOpts(nil))
	putChat(t, v, "c", time.Time{})
	gone := putFileMsg(t, v, "c", "m1", 2, time.Time{})
	kept := putFileMsg(t, v, "c", "m2", 1, time.Time{})
	mustLock(t, v)

	cmd := exec.Command(os.Args[0], "-test.run=^TestBlobCrashChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%s", blobCrashEnv, dir))
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("child was not killed before the unlink: %v\n%s", err, out)
	}
	files := filepath.Join(dir, dataDirName, filesDirName)
	if _, err := os.Lstat(filepath.Join(files, gone)); err != nil {
		t.Fatalf("the crash did not leave the blob behind: %v", err)
	}

	v = mustOpen(t, dir, pin, testOpts(nil))
	defer mustLock(t, v)
	err = v.View(ctx, func(tx *Tx) error {
		if _, err := tx.Message("c", "m1"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("the deleted message survived the crash: %v", err)
		}
		_, err := tx.GetFile("c", "m1")
		return err
	})
	wantErr(t, err, ErrNotFound)
	if blobExists(v, gone) {
		t.Fatal("the unlock left the orphan blob")
	}
	if !blobExists(v, kept) {
		t.Fatal("the unlock removed a recorded blob")
	}
}
