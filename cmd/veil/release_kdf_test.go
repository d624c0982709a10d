package main

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"veil/crypto"
	"veil/vault"
)

// TestReleaseKDFIgnoresSwitches: go test builds this package as a
// release is built, without the veil_testkdf tag, so this test binary
// holds kdf_release.go. With both test switches set, a new profile must
// get the vault's default options (vault.DefaultKDF, the real clock) and
// a backup age's default scrypt cost. TestReleaseBuildIgnoresFastKDF
// shows that init and backup take their costs from these two functions.
func TestReleaseKDFIgnoresSwitches(t *testing.T) {
	t.Setenv(fastKDFEnv, "1")
	t.Setenv(clockSkewEnv, "48h")
	if o := vaultOptions(); !reflect.ValueOf(o).IsZero() {
		t.Errorf("untagged build with %s=1 and %s=48h: vault options %+v, want the defaults", fastKDFEnv, clockSkewEnv, o)
	}
	if n := scryptWorkFactor(); n != releaseScryptLogN {
		t.Errorf("untagged build with %s=1: scrypt log N %d, want %d", fastKDFEnv, n, releaseScryptLogN)
	}
}

// TestReleaseBuildIgnoresFastKDF runs init and backup with fastKDFEnv=1
// in the environment, first with the test build (veil_testkdf), which must
// use the cheap costs (so init and backup do take them from vaultOptions
// and scryptWorkFactor, and the release check cannot pass by accident),
// then, in the long tier, with veil built as a release is built (no
// veil_testkdf tag): its key file must record vault.DefaultKDF and its
// backup age's default scrypt cost. Under -short,
// TestReleaseKDFIgnoresSwitches checks the same release files in this
// test binary without the build and the real Argon2id and scrypt costs.
func TestReleaseBuildIgnoresFastKDF(t *testing.T) {
	t.Parallel()
	test := kdfOfNewProfile(t, veilBin)
	if test.argon.Time != 1 || test.argon.MemKiB != 64 || test.scryptLogN != 10 {
		t.Errorf("test build: %+v, want Argon2id t=1 m=64 KiB and scrypt log N 10", test)
	}
	if testing.Short() {
		t.Log("the release build runs in the long tier (TestReleaseKDFIgnoresSwitches checks its KDF files here)")
		return
	}
	bin := filepath.Join(t.TempDir(), "veil-release")
	// Without the race detector, whatever this test binary was built
	// with: the check is of build tags, and a race-built binary takes
	// minutes over the real Argon2id and scrypt costs.
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	release := kdfOfNewProfile(t, bin)
	if release.argon != vault.DefaultKDF() {
		t.Errorf("release build: key file Argon2id %+v, want vault.DefaultKDF %+v", release.argon, vault.DefaultKDF())
	}
	if release.scryptLogN != releaseScryptLogN {
		t.Errorf("release build: backup scrypt log N %d, want %d", release.scryptLogN, releaseScryptLogN)
	}
}

type profileKDF struct {
	argon      crypto.Argon2Params
	scryptLogN int
}

// kdfOfNewProfile runs bin's init and backup with fastKDFEnv=1 and reads
// the Argon2id cost from the key file header (spec/vault.md §2) and the
// scrypt cost from the backup's age header.
func kdfOfNewProfile(t *testing.T, bin string) profileKDF {
	t.Helper()
	dir := t.TempDir()
	home := filepath.Join(dir, "home")
	pin, pass := filepath.Join(dir, "pin"), filepath.Join(dir, "pass")
	if err := os.WriteFile(pin, []byte("1234\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(pass, []byte("correct horse battery\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	backup := filepath.Join(dir, "backup.age")
	for _, args := range [][]string{{"init"}, {"backup", backup, "--passphrase-file", pass}} {
		cmd := exec.Command(bin, append([]string{"--home", home, "--pin-file", pin}, args...)...)
		cmd.Env = append(os.Environ(), fastKDFEnv+"=1", "VEIL_HOME=")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("veil %s: %v\n%s", args[0], err, out)
		}
	}
	kf, err := os.ReadFile(filepath.Join(home, vaultDirName, vaultKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	if len(kf) < 64 {
		t.Fatalf("key file of %d bytes", len(kf))
	}
	var k profileKDF
	k.argon = crypto.Argon2Params{
		Threads: kf[10],
		Time:    binary.BigEndian.Uint32(kf[12:]),
		MemKiB:  binary.BigEndian.Uint32(kf[16:]),
	}
	f, err := os.Open(backup)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() && !bytes.HasPrefix(sc.Bytes(), []byte("---")) {
		// -> scrypt SALT LOGN
		if fields := strings.Fields(sc.Text()); len(fields) == 4 && fields[0] == "->" && fields[1] == "scrypt" {
			if k.scryptLogN, err = strconv.Atoi(fields[3]); err != nil {
				t.Fatalf("backup: scrypt stanza %q", sc.Text())
			}
		}
	}
	if k.scryptLogN == 0 {
		t.Fatal("backup: no scrypt stanza in the age header")
	}
	return k
}

// TestFastKDFSwitchesOnlyInTestBuild: the insecure switches' names
// appear in one untagged file, kdf.go (the constants), and the constants
// are read only there and in kdf_testkdf.go, whose build tag keeps it out
// of a release. Together with TestReleaseKDFIgnoresSwitches this holds
// in the per-commit tier what the release build proves in the long tier:
// a shortcut reading the switches anywhere else fails here.
func TestFastKDFSwitchesOnlyInTestBuild(t *testing.T) {
	root := filepath.Join("..", "..")
	err := filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if name := d.Name(); path != root && (strings.HasPrefix(name, ".") || name == "testdata") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		src, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		rel = filepath.ToSlash(rel)
		switch {
		case bytes.Contains(src, []byte("VEIL_INSECURE_")) && rel != "cmd/veil/kdf.go":
			t.Errorf("%s names an insecure test switch; only cmd/veil/kdf.go may", rel)
		case (bytes.Contains(src, []byte("fastKDFEnv")) || bytes.Contains(src, []byte("clockSkewEnv"))) &&
			rel != "cmd/veil/kdf.go" && rel != "cmd/veil/kdf_testkdf.go":
			t.Errorf("%s reads an insecure test switch; only the veil_testkdf build may", rel)
		case rel == "cmd/veil/kdf_testkdf.go" && !bytes.HasPrefix(src, []byte("//go:build veil_testkdf\n")):
			t.Errorf("%s lost its veil_testkdf build tag: a release would read the switches", rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
