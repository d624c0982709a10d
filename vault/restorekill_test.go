package vault

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

const restoreKillEnv = "VEIL_VAULT_RESTORE_KILL"

// TestRestoreKilledLeavesNoVault kills a restoring process right after the
// backup stream is loaded and before the restore mark is written: the
// profile must not open as a vault without its mark (it would use the
// backup's stale sessions unflagged), and a second restore into the same
// directory must succeed, with the mark (spec/vault.md §10).
func TestRestoreKilledLeavesNoVault(t *testing.T) {
	v := createVault(t, t.TempDir(), testOpts(nil))
	fillSample(t, v)
	rcpt, _ := scrypt(t, "backup passphrase")
	var buf bytes.Buffer
	if err := v.Backup(ctx, &buf, rcpt); err != nil {
		t.Fatal(err)
	}
	mustLock(t, v)
	work := t.TempDir()
	file := filepath.Join(work, "backup.age")
	if err := os.WriteFile(file, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(work, "restored")
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperRestoreKilled$", "-test.count=1")
	cmd.Env = append(os.Environ(), restoreKillEnv+"="+work)
	cmd.Stderr = os.Stderr
	err := cmd.Run()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 3 {
		t.Fatalf("the restoring process did not stop at the kill point: %v", err)
	}
	if w, err := Open(ctx, dir, pin, testOpts(nil)); err == nil {
		checkRestoreMark(t, w, true)
		w.Lock()
		t.Fatal("a restore killed before its mark left a vault that opens")
	}
	_, id := scrypt(t, "backup passphrase")
	w, err := Restore(ctx, bytes.NewReader(buf.Bytes()), dir, pin, testOpts(nil), id)
	if err != nil {
		t.Fatalf("restore after a killed restore: %v", err)
	}
	defer w.Lock()
	checkRestoreMark(t, w, true)
}

// TestHelperRestoreKilled is the restoring process of
// TestRestoreKilledLeavesNoVault: it exits, as a kill would, between
// loading the stream and writing the mark.
func TestHelperRestoreKilled(t *testing.T) {
	work := os.Getenv(restoreKillEnv)
	if work == "" {
		t.Skip("helper process only")
	}
	b, err := os.ReadFile(filepath.Join(work, "backup.age"))
	if err != nil {
		t.Fatal(err)
	}
	o := testOpts(nil)
	o.onRestoreLoaded = func() { os.Exit(3) }
	_, id := scrypt(t, "backup passphrase")
	if _, err := Restore(ctx, bytes.NewReader(b), filepath.Join(work, "restored"), pin, o, id); err != nil {
		t.Fatal(err)
	}
}
