package vault

import (
	"errors"
	"runtime"
	"testing"
)

// FreeSpace asks the filesystem holding the profile, reports what a set
// Options.FreeSpace returns instead, and nothing once locked.
func TestFreeSpace(t *testing.T) {
	dir := t.TempDir()
	v := createVault(t, dir, testOpts(newClock()))
	avail, total, err := v.FreeSpace()
	switch {
	case errors.Is(err, errors.ErrUnsupported) && runtime.GOOS != "linux":
	case err != nil:
		t.Fatal(err)
	case total <= 0 || avail < 0 || avail > total:
		t.Fatalf("FreeSpace = %d of %d", avail, total)
	}
	mustLock(t, v)
	if _, _, err := v.FreeSpace(); !errors.Is(err, ErrLocked) {
		t.Fatalf("FreeSpace after Lock: %v, want ErrLocked", err)
	}

	o := testOpts(newClock())
	var asked string
	o.FreeSpace = func(d string) (int64, int64, error) { asked = d; return 5 << 20, 1 << 30, nil }
	v = mustOpen(t, dir, pin, o)
	defer mustLock(t, v)
	if avail, total, err := v.FreeSpace(); err != nil || avail != 5<<20 || total != 1<<30 || asked != dir {
		t.Fatalf("FreeSpace with the hook = %d, %d, %v (asked about %q)", avail, total, err, asked)
	}
}
