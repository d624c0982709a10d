package vault

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"veil/crypto"
)

// testKDF is a tiny Argon2id cost for unit tests; production uses
// DefaultKDF (measured in BenchmarkVaultUnlock).
var testKDF = crypto.Argon2Params{Time: 1, MemKiB: 64, Threads: 1}

// testClock is a settable clock for the back-off and dead-man tests.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *testClock { return &testClock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)} }

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func testOpts(c *testClock) *Options {
	o := &Options{KDF: testKDF, GCInterval: -1, MemTableSize: 4 << 20}
	if c != nil {
		o.Now = c.Now
	}
	return o
}

var (
	pin       = []byte("1234")
	duressPIN = []byte("9999")
)

func createVault(t testing.TB, dir string, o *Options) *Vault {
	t.Helper()
	v, err := Create(context.Background(), dir, pin, o)
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	return v
}

func mustLock(t testing.TB, v *Vault) {
	t.Helper()
	if err := v.Lock(); err != nil {
		t.Fatalf("Lock: %v", err)
	}
}

func mustOpen(t testing.TB, dir string, p []byte, o *Options) *Vault {
	t.Helper()
	v, err := Open(context.Background(), dir, p, o)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return v
}

func wantErr(t testing.TB, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("got error %v, want %v", err, target)
	}
}

// snapshotDir returns the contents of every regular file under dir.
func snapshotDir(t testing.TB, dir string) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	if _, err := os.Lstat(dir); errors.Is(err, os.ErrNotExist) {
		return out // nothing left, as after an erase
	}
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type().IsRegular() && d.Name() != lockFileName {
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			out[p] = b
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func sameSnapshot(a, b map[string][]byte, skip ...string) bool {
	skipped := func(p string) bool {
		for _, s := range skip {
			if filepath.Base(p) == s {
				return true
			}
		}
		return false
	}
	n := 0
	for p, x := range a {
		if skipped(p) {
			continue
		}
		n++
		if y, ok := b[p]; !ok || !bytes.Equal(x, y) {
			return false
		}
	}
	for p := range b {
		if !skipped(p) {
			n--
		}
	}
	return n == 0
}

// exists is present for tests: a name that cannot be read counts as missing.
func exists(name string) bool {
	ok, _ := present(name)
	return ok
}
