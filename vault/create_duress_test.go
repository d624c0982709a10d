package vault

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

func TestCreateWithDuressWritesKeyFileOnce(t *testing.T) {
	dir := t.TempDir()
	name := filepath.Join(dir, keyFileName)
	var writes int
	var first os.FileInfo
	o := testOpts(nil)
	o.onKeyWrite = func() {
		writes++
		if first == nil {
			first, _ = os.Stat(name)
		}
	}
	v, err := CreateWithDuress(ctx, dir, pin, duressPIN, DuressDecoy, o)
	if err != nil {
		t.Fatal(err)
	}
	fillSample(t, v)
	mustLock(t, v)
	now, err := os.Stat(name)
	if err != nil {
		t.Fatal(err)
	}
	if writes != 1 || first == nil || !os.SameFile(first, now) {
		t.Fatalf("the key file was written %d times; want once, and the file kept", writes)
	}
	// The real PIN opens the real vault; the duress PIN erases it and
	// opens the decoy.
	v = mustOpen(t, dir, pin, testOpts(nil))
	if isEmpty(t, v) {
		t.Fatal("the real vault is empty")
	}
	mustLock(t, v)
	d := mustOpen(t, dir, duressPIN, testOpts(nil))
	defer d.Lock()
	if !isEmpty(t, d) {
		t.Error("the duress PIN did not open an empty decoy")
	}
}

// A vault created with a duress PIN has the key file that Create followed
// by SetDuressPIN writes from the same random draws (spec/vault.md §3.8).
func TestCreateWithDuressSameKeyFile(t *testing.T) {
	for _, mode := range []DuressMode{DuressDecoy, DuressReset} {
		a, b := t.TempDir(), t.TempDir()
		o := testOpts(nil)
		o.Rand = seeded(string(rune('0' + mode)))
		v := createVault(t, a, o)
		if err := v.SetDuressPIN(ctx, duressPIN, mode); err != nil {
			t.Fatal(err)
		}
		mustLock(t, v)
		o = testOpts(nil)
		o.Rand = seeded(string(rune('0' + mode)))
		v, err := CreateWithDuress(ctx, b, pin, duressPIN, mode, o)
		if err != nil {
			t.Fatal(err)
		}
		mustLock(t, v)
		ka, _ := os.ReadFile(filepath.Join(a, keyFileName))
		kb, _ := os.ReadFile(filepath.Join(b, keyFileName))
		if len(ka) == 0 || !bytes.Equal(ka, kb) {
			t.Fatalf("mode %d: the key files differ", mode)
		}
	}
	dir := t.TempDir()
	v, err := CreateWithDuress(ctx, dir, pin, duressPIN, DuressReset, testOpts(nil))
	if err != nil {
		t.Fatal(err)
	}
	mustLock(t, v)
	_, err = Open(ctx, dir, duressPIN, testOpts(nil))
	wantErr(t, err, ErrErased)
}

func TestCreateWithDuressRefusals(t *testing.T) {
	for _, tc := range []struct {
		duress []byte
		mode   DuressMode
	}{{pin, DuressDecoy}, {[]byte("12"), DuressDecoy}, {duressPIN, 7}} {
		dir := t.TempDir()
		if _, err := CreateWithDuress(ctx, dir, pin, tc.duress, tc.mode, testOpts(nil)); err == nil {
			t.Errorf("duress PIN %q mode %d accepted", tc.duress, tc.mode)
		}
		if ents, _ := os.ReadDir(dir); len(ents) != 0 {
			t.Errorf("a refused Create left %d files", len(ents))
		}
	}
	_, err := CreateWithDuress(ctx, t.TempDir(), pin, pin, 0, testOpts(nil))
	wantErr(t, err, ErrBadPIN)
}
