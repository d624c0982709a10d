package vault

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// attempt opens dir with p on a clock moved far enough that back-off never
// applies, and reports the error (locking the vault if it opened).
func attempt(t *testing.T, dir string, p []byte, clk *testClock) error {
	t.Helper()
	clk.Add(2 * time.Hour)
	v, err := Open(ctx, dir, p, testOpts(clk))
	if err == nil {
		mustLock(t, v)
	}
	return err
}

func TestBadKeyFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	clk := newClock()
	v := createVault(t, dir, testOpts(clk))
	fillSample(t, v)
	primary := v.primary
	mustLock(t, v)
	name := filepath.Join(dir, keyFileName)
	good, _ := os.ReadFile(name)
	before := snapshotDir(t, dir)

	expectUntouched := func(t *testing.T, kf []byte) {
		t.Helper()
		now := snapshotDir(t, dir)
		if !bytes.Equal(now[name], kf) {
			t.Fatal("key file was changed")
		}
		now[name] = good
		if !sameSnapshot(before, now, stateFileName) {
			t.Fatal("profile files changed")
		}
	}
	try := func(t *testing.T, kf []byte, want ...error) {
		t.Helper()
		if err := os.WriteFile(name, kf, 0o600); err != nil {
			t.Fatal(err)
		}
		err := attempt(t, dir, pin, clk)
		ok := false
		for _, w := range want {
			ok = ok || errors.Is(err, w)
		}
		if !ok {
			t.Fatalf("got %v, want one of %v", err, want)
		}
		expectUntouched(t, kf)
	}

	t.Run("truncated", func(t *testing.T) {
		for _, n := range []int{0, 1, 7, 8, 9, 20, 63, 64, 65, 200, keyFileSize - 1} {
			try(t, good[:n], ErrCorrupt)
		}
	})
	t.Run("extended", func(t *testing.T) {
		try(t, append(append([]byte{}, good...), 0), ErrCorrupt)
	})
	t.Run("unknown version", func(t *testing.T) {
		b := bytes.Clone(good)
		b[8] = 2
		try(t, b, ErrCorrupt)
		os.WriteFile(name, b, 0o600)
		if err := attempt(t, dir, pin, clk); err == nil || !strings.Contains(err.Error(), "unknown version 2") {
			t.Fatalf("error %v does not name the version", err)
		}
	})
	t.Run("huge argon2 memory", func(t *testing.T) {
		b := bytes.Clone(good)
		copy(b[16:20], []byte{0xff, 0xff, 0xff, 0xff})
		try(t, b, ErrCorrupt)
	})
	t.Run("every header byte flipped", func(t *testing.T) {
		for i := range headerSize {
			b := bytes.Clone(good)
			b[i] ^= 0x01
			try(t, b, ErrCorrupt, ErrWrongPIN)
		}
	})
	t.Run("primary slot garbled", func(t *testing.T) {
		for _, off := range []int{0, 23, 24, 60, slotSize - 1} {
			b := bytes.Clone(good)
			b[headerSize+primary*slotSize+off] ^= 0x80
			try(t, b, ErrWrongPIN)
		}
	})
	t.Run("garbage", func(t *testing.T) {
		b := bytes.Repeat([]byte{0xa5}, keyFileSize-1)
		try(t, b, ErrCorrupt)
		b = bytes.Clone(good)
		b[0] ^= 0xff
		try(t, b, ErrCorrupt) // 8 bits off the magic: damage, not an erase
	})
	if err := os.WriteFile(name, good, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := attempt(t, dir, pin, clk); err != nil {
		t.Fatalf("the restored key file does not open: %v", err)
	}
}

func TestBadStateFile(t *testing.T) {
	dir := t.TempDir()
	mustLock(t, createVault(t, dir, testOpts(nil)))
	name := filepath.Join(dir, stateFileName)
	good, _ := os.ReadFile(name)
	for _, b := range [][]byte{good[:10], append(bytes.Clone(good), 1), flip(good, 3), flip(good, 13), flip(good, 60)} {
		os.WriteFile(name, b, 0o600)
		_, err := Open(ctx, dir, pin, testOpts(nil))
		wantErr(t, err, ErrCorrupt)
		if now, _ := os.ReadFile(name); !bytes.Equal(now, b) {
			t.Fatal("state file changed")
		}
	}
	os.WriteFile(name, good, 0o600)
	mustLock(t, mustOpen(t, dir, pin, testOpts(nil)))
}

func flip(b []byte, i int) []byte {
	c := bytes.Clone(b)
	c[i] ^= 0x40
	return c
}

func TestBadDataDir(t *testing.T) {
	dir := t.TempDir()
	clk := newClock()
	v := createVault(t, dir, testOpts(clk))
	fillSample(t, v)
	mustLock(t, v)
	data := filepath.Join(dir, dataDirName)
	bdir := filepath.Join(data, badgerDirName)

	t.Run("missing", func(t *testing.T) {
		hidden := filepath.Join(t.TempDir(), "data")
		if err := os.Rename(data, hidden); err != nil {
			t.Fatal(err)
		}
		err := attempt(t, dir, pin, clk)
		wantErr(t, err, ErrCorrupt)
		if !exists(filepath.Join(dir, keyFileName)) || exists(data) {
			t.Fatal("a missing data directory changed the profile")
		}
		if err := os.Rename(hidden, data); err != nil {
			t.Fatal(err)
		}
	})
	for _, f := range []string{"MANIFEST", "KEYREGISTRY"} {
		t.Run("garbled "+f, func(t *testing.T) {
			p := filepath.Join(bdir, f)
			good, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			// Cut mid-record, bit flips, emptied. (A manifest cut exactly at
			// a record boundary is a valid older manifest: spec/vault.md §11.)
			for _, bad := range [][]byte{good[:len(good)-3], good[:len(good)-1], flip(good, len(good)/2), flip(good, len(good)-1), flip(good, 0), {}} {
				os.WriteFile(p, bad, 0o600)
				before := snapshotDir(t, dir)
				if err := attempt(t, dir, pin, clk); err == nil {
					t.Fatal("opened a garbled data directory")
				}
				if !sameSnapshot(before, snapshotDir(t, dir), stateFileName) {
					t.Fatal("a failed open changed the profile")
				}
			}
			os.WriteFile(p, good, 0o600)
		})
	}
	t.Run("repair a partial manifest record on request", func(t *testing.T) {
		p := filepath.Join(bdir, "MANIFEST")
		good, _ := os.ReadFile(p)
		os.WriteFile(p, append(bytes.Clone(good), 0, 0, 0), 0o600) // a partial record, as a power loss leaves
		wantErr(t, attempt(t, dir, pin, clk), ErrCorrupt)
		o := testOpts(clk)
		o.RepairManifest = true
		v, err := Open(ctx, dir, pin, o)
		if err != nil {
			t.Fatalf("repair: %v", err)
		}
		empty := isEmpty(t, v)
		mustLock(t, v)
		if empty {
			t.Fatal("repair lost data")
		}
	})
	t.Run("one chat-key copy garbled", func(t *testing.T) {
		p := filepath.Join(data, chatKeyFiles[0])
		good, _ := os.ReadFile(p)
		os.WriteFile(p, flip(good, 40), 0o600)
		if err := attempt(t, dir, pin, clk); err != nil {
			t.Fatalf("one good copy must be enough: %v", err)
		}
		if now, _ := os.ReadFile(p); bytes.Equal(now, flip(good, 40)) {
			t.Fatal("the garbled copy was not repaired")
		}
	})
	t.Run("both chat-key copies garbled", func(t *testing.T) {
		var goods [2][]byte
		for i, f := range chatKeyFiles {
			goods[i], _ = os.ReadFile(filepath.Join(data, f))
			os.WriteFile(filepath.Join(data, f), flip(goods[i], 50), 0o600)
		}
		wantErr(t, attempt(t, dir, pin, clk), ErrCorrupt)
		for i, f := range chatKeyFiles {
			if now, _ := os.ReadFile(filepath.Join(data, f)); !bytes.Equal(now, flip(goods[i], 50)) {
				t.Fatal("a garbled chat-key table was changed")
			}
			os.WriteFile(filepath.Join(data, f), goods[i], 0o600)
		}
	})
	v = mustOpen(t, dir, pin, testOpts(clk))
	defer v.Lock()
	if isEmpty(t, v) {
		t.Fatal("data lost after the bad-input runs")
	}
}

func TestSecondOpenIsBusy(t *testing.T) {
	dir := t.TempDir()
	v := createVault(t, dir, testOpts(nil))
	defer v.Lock()
	_, err := Open(ctx, dir, pin, testOpts(nil))
	wantErr(t, err, ErrBusy)
	_, err = Create(ctx, dir, pin, testOpts(nil))
	wantErr(t, err, ErrBusy)

	// A real second process.
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperOpenProfile$", "-test.count=1")
	cmd.Env = append(os.Environ(), "VEIL_VAULT_HELPER_DIR="+dir)
	out, _ := cmd.CombinedOutput()
	if !strings.Contains(string(out), "helper: "+ErrBusy.Error()) {
		t.Fatalf("second process did not get ErrBusy:\n%s", out)
	}
}

// TestHelperOpenProfile is the second process of TestSecondOpenIsBusy.
func TestHelperOpenProfile(t *testing.T) {
	dir := os.Getenv("VEIL_VAULT_HELPER_DIR")
	if dir == "" {
		t.Skip("helper process only")
	}
	v, err := Open(ctx, dir, pin, testOpts(nil))
	if err == nil {
		v.Lock()
		t.Log("helper: opened")
		return
	}
	t.Logf("helper: %v", err)
	os.Stdout.WriteString("helper: " + err.Error() + "\n")
}
