//go:build linux && amd64

package vault

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestKeyFileIOErrorIsNotErase checks spec/vault.md goal 4 ("Bad input (a
// damaged file, ...) is a clear error and destroys nothing; only the erase
// paths of §7 destroy") and §7.1 ("A vault.key, readable or not, is a
// vault ... Damage is never taken for an erase"). A read error on the key
// file's inode (a failing disk: EIO) must not be taken for the end of an
// interrupted erase, which would remove the state file and the whole data
// directory. A second process opens the profile under strace, which fails
// every stat of vault.key alone with EIO; it must get a clear error, and
// afterwards, with the disk healthy again, the owner's PIN must still open
// the data.
func TestKeyFileIOErrorIsNotErase(t *testing.T) {
	straceBin, err := exec.LookPath("strace")
	if err != nil {
		t.Skip("needs strace to inject the I/O error")
	}
	if out, err := exec.Command(straceBin, "-f", "-qq", "-o", os.DevNull, os.Args[0], "-test.run=^$").CombinedOutput(); err != nil {
		t.Skipf("strace cannot trace here: %v\n%s", err, out)
	}
	dir := t.TempDir()
	v := createVault(t, dir, testOpts(nil))
	fillSample(t, v)
	mustLock(t, v)

	key := filepath.Join(dir, keyFileName)
	cmd := exec.Command(straceBin, "-f", "-qq", "-o", os.DevNull, "-P", key,
		"-e", "trace=all", "-e", "inject=newfstatat,statx,lstat,stat:error=EIO",
		os.Args[0], "-test.run=^TestHelperOpenProfile$", "-test.count=1")
	cmd.Env = append(os.Environ(), "VEIL_VAULT_HELPER_DIR="+dir)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("helper under strace: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "helper: vault: the disk could not be read") {
		t.Errorf("the open that met the I/O error did not report it:\n%s", out)
	}
	for _, name := range []string{keyFileName, stateFileName, dataDirName} {
		if _, err := os.Lstat(filepath.Join(dir, name)); err != nil {
			t.Errorf("after an I/O error on the key file: %v", err)
		}
	}

	v, err = Open(ctx, dir, pin, testOpts(nil))
	if err != nil {
		t.Fatalf("after an I/O error on the key file, the right PIN no longer opens the vault: %v", err)
	}
	defer mustLock(t, v)
	if isEmpty(t, v) {
		t.Fatal("after an I/O error on the key file, the vault opens empty")
	}
}
