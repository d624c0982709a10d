package vault

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// TestShredTree checks that ShredTree overwrites every file under the
// directory in place, over its whole length, before it unlinks it: a
// descriptor held across the call reads noise where the contents were,
// for a file the size of an identity seed and for one larger than the
// pieces the noise is written in.
func TestShredTree(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "relay")
	files := map[string][]byte{
		"identity.key":               bytes.Repeat([]byte{0x5a}, 32),
		"store/journal/00000002.seg": bytes.Repeat([]byte("record "), (shredChunk*5/2)/7),
		"store/MANIFEST":             []byte("manifest"),
		"store/empty":                nil,
	}
	held := map[string]*os.File{}
	for name, b := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		f, err := os.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		held[name] = f
	}
	if err := ShredTree(dir); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(dir); !os.IsNotExist(err) {
		t.Fatalf("the directory is still there: %v", err)
	}
	for name, b := range files {
		got := make([]byte, len(b))
		if _, err := held[name].ReadAt(got, 0); err != nil && len(b) > 0 {
			t.Fatalf("%s: %v", name, err)
		}
		// Noise may match a byte here and there, never a run of 16.
		for off := 0; off+16 <= len(b); off += 16 {
			if bytes.Equal(got[off:off+16], b[off:off+16]) {
				t.Errorf("%s: bytes %d–%d are still the old contents", name, off, off+16)
				break
			}
		}
	}
	if err := ShredTree(dir); err != nil {
		t.Errorf("a missing directory: %v", err)
	}
}
