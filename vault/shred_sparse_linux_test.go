package vault

import (
	"bytes"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// TestShredTreeSparseFile checks that ShredTree overwrites a sparse
// file's data and leaves its holes holes: a value log left by a store
// that was not closed is 2 GiB long with a few blocks of data, and
// filling it would write 2 GiB during the duress unlock that shreds it.
// The file here is 1 GiB long with data in two places; a descriptor held
// across the call reads noise where the data was, and the blocks the
// file holds afterwards are a few MiB, not 1 GiB.
func TestShredTreeSparseFile(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "relay")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "000001.vlog")
	f, err := os.OpenFile(p, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	const size = 1 << 30
	if err := f.Truncate(size); err != nil {
		t.Fatal(err)
	}
	data := bytes.Repeat([]byte("secret block "), 4096/13+1)[:4096]
	at := []int64{0, 512 << 20}
	for _, off := range at {
		if _, err := f.WriteAt(data, off); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	if b := blocksOf(t, f); b >= size/2 {
		t.Skipf("the file system does not keep holes (%d bytes of blocks)", b)
	}
	if err := ShredTree(dir); err != nil {
		t.Fatal(err)
	}
	for _, off := range at {
		got := make([]byte, len(data))
		if _, err := f.ReadAt(got, off); err != nil {
			t.Fatal(err)
		}
		if bytes.Equal(got, data) || bytes.Contains(got, []byte("secret block")) {
			t.Errorf("the data at %d is still there", off)
		}
	}
	if b := blocksOf(t, f); b > 64<<20 {
		t.Errorf("the sparse file holds %d bytes of blocks after the shred: its holes were filled", b)
	}
}

// blocksOf is the bytes of storage f holds.
func blocksOf(t *testing.T, f *os.File) int64 {
	t.Helper()
	fi, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	return fi.Sys().(*syscall.Stat_t).Blocks * 512
}
